package drill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshfed/meshfed/internal/up"
)

// readyTimeout bounds the wait for a restarted gateway's /readyz.
const readyTimeout = 30 * time.Second

// killInjector SIGKILLs a gateway process that `meshfed up` started and
// starts it again with the same command line on rollback.
type killInjector struct {
	gw    *Gateway
	upDir string
	hc    *http.Client
	// killed is set once the process was signalled.
	killed bool
	// newPID is the restarted process.
	newPID int
}

func (i *killInjector) String() string {
	return fmt.Sprintf("kill the gateway of cluster %s (pid %d, SIGKILL); rollback: start it again (%s) and wait for %s/readyz",
		i.gw.Cluster, i.gw.Process.PID, strings.Join(i.gw.Process.Args, " "), i.gw.Admin)
}

// check verifies that the recorded PID is still that gateway.
func (i *killInjector) check(context.Context) error {
	p := i.gw.Process
	if !up.Owned(p.PID, i.upDir) {
		return fmt.Errorf("drill: the gateway of cluster %s (pid %d in %s) is not running: `meshfed up --dir %s` again",
			i.gw.Cluster, p.PID, filepath.Join(i.upDir, up.StateFile), i.upDir)
	}
	if args, ok := processArgs(p.PID); ok && !slices.Equal(args, p.Args) {
		return fmt.Errorf("drill: pid %d runs %q, not the gateway of cluster %s (%q): %s is stale",
			p.PID, strings.Join(args, " "), i.gw.Cluster, strings.Join(p.Args, " "), filepath.Join(i.upDir, up.StateFile))
	}
	return nil
}

func (i *killInjector) inject(ctx context.Context) (time.Time, error) {
	if err := i.check(ctx); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	if err := killProcess(i.gw.Process.PID); err != nil {
		return at, fmt.Errorf("drill: killing the gateway of cluster %s (pid %d): %w", i.gw.Cluster, i.gw.Process.PID, err)
	}
	i.killed = true
	return at, nil
}

func (i *killInjector) rollback(ctx context.Context) error {
	if !i.killed {
		return nil
	}
	p := i.gw.Process
	// The old process must be gone before the new one binds its ports.
	deadline := time.Now().Add(5 * time.Second)
	for up.Owned(p.PID, i.upDir) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	pid, exited, err := startDetached(p.Args, i.upDir, p.Log)
	if err != nil {
		return fmt.Errorf("drill: restarting the gateway of cluster %s: %w", i.gw.Cluster, err)
	}
	i.killed, i.newPID = false, pid
	// Record the new PID at once, so `meshfed down` stops it even if the
	// wait below fails.
	if err := recordPID(i.upDir, i.gw.Cluster, pid); err != nil {
		return err
	}
	p.PID = pid
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		code, _, err := adminDo(ctx, i.hc, http.MethodGet, i.gw.Admin+"/readyz", nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("drill: the restarted gateway of cluster %s (pid %d) exited; see %s", i.gw.Cluster, pid, p.Log)
		case <-ctx.Done():
			return fmt.Errorf("drill: the restarted gateway of cluster %s (pid %d) was not ready within %s (last: %v); see %s", i.gw.Cluster, pid, readyTimeout, err, p.Log)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// startDetached starts args in its own session, with stdout and stderr
// appended to logPath, so it outlives the drill as the gateway `meshfed
// up --detach` started did. exited is closed if it ends while this
// process runs.
func startDetached(args []string, dir, logPath string) (pid int, exited <-chan struct{}, err error) {
	if len(args) == 0 {
		return 0, nil, errors.New("no command line recorded")
	}
	var out *os.File
	if logPath != "" {
		if out, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return 0, nil, err
		}
		defer out.Close()
		fmt.Fprintf(out, "=== %s meshfed drill: restarting %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	cmd.SysProcAttr = detachedAttr()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() // reap it, should it die while the drill runs
		close(done)
	}()
	return cmd.Process.Pid, done, nil
}

// recordPID writes a cluster's new gateway PID into DIR/up.json.
func recordPID(dir, cluster string, pid int) error {
	st, err := up.Load(dir)
	if err != nil {
		return fmt.Errorf("drill: recording the restarted gateway's pid %d: %w", pid, err)
	}
	c := st.Cluster(cluster)
	if c == nil {
		return fmt.Errorf("drill: %s no longer lists cluster %s (restarted gateway: pid %d)", filepath.Join(dir, up.StateFile), cluster, pid)
	}
	c.GatewayPID = pid
	if err := st.Save(dir); err != nil {
		return fmt.Errorf("drill: recording the restarted gateway's pid %d in %s: %w", pid, filepath.Join(dir, up.StateFile), err)
	}
	return nil
}

// processArgs reads a live process's command line from /proc (Linux);
// ok is false where that is not available.
func processArgs(pid int) ([]string, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return nil, false
	}
	return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00"), true
}
