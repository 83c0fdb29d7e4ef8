package up

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of stopping a process: SIGTERM, then SIGKILL after
// StopTimeout.
const (
	StopTimeout = 5 * time.Second
	killTimeout = 3 * time.Second
)

// child is a process this `meshfed up` started.
type child struct {
	// what names it in messages: "control plane", "gateway east", ...
	what string
	pid  int
	log  string
	done chan struct{}
	// err is how it ended; read after done is closed.
	err error
}

// startChild starts args with stdout and stderr appended to logPath
// (after a header line with the command) and stdin from /dev/null.
func startChild(what string, args []string, dir, logPath string, detach bool) (*child, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("up: %s log: %w", what, err)
	}
	defer f.Close() // the child has its own descriptor
	fmt.Fprintf(f, "=== %s meshfed up: starting %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr(detach)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("up: starting %s: %w", what, err)
	}
	c := &child{what: what, pid: cmd.Process.Pid, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitError describes how the child ended, with the end of its log.
func (c *child) exitError() error {
	how := "exited"
	if c.err != nil {
		how = c.err.Error()
	}
	return fmt.Errorf("%s (pid %d) %s; last lines of %s:\n%s", c.what, c.pid, how, c.log, tail(c.log, 15))
}

// tail returns the last n lines of a file (at most 64 KiB are read).
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		f.Seek(fi.Size()-64<<10, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// subcommands are the meshfed verbs `meshfed up` runs.
var subcommands = []string{"controlplane", "gateway", "demo-backend"}

// Owned reports whether pid is a live process that a `meshfed up` on dir
// started: a meshfed binary running one of the verbs up runs, with dir in
// its arguments. It is how `meshfed down` avoids signalling a process
// that merely reused a recorded PID.
func Owned(pid int, dir string) bool {
	if pid <= 0 || dir == "" {
		return false
	}
	args, ok := procArgs(pid)
	if !ok || len(args) < 2 || !strings.Contains(filepath.Base(args[0]), "meshfed") {
		return false
	}
	verb := false
	for _, s := range subcommands {
		verb = verb || args[1] == s
	}
	if !verb {
		return false
	}
	for _, a := range args[2:] {
		if a == dir || strings.HasPrefix(a, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// Stopped is one process that Stop or Down dealt with.
type Stopped struct {
	// What it was: "control plane", "demo backends", "gateway east".
	What string `json:"what"`
	PID  int    `json:"pid"`
	// Result is "stopped" (exited on SIGTERM), "killed" (needed
	// SIGKILL), "not running" (gone already, or the PID is no longer a
	// process of this federation) or "still running" (survived SIGKILL).
	Result string `json:"result"`
}

// proc is a recorded process of a State.
type proc struct {
	what string
	pid  int
}

// processes lists st's processes in stop order: gateways and demo
// backends first, the control plane last.
func processes(st *State) (first, last []proc) {
	for _, c := range st.Clusters {
		if c.GatewayPID > 0 {
			first = append(first, proc{"gateway " + c.Name, c.GatewayPID})
		}
	}
	for key, pid := range st.PIDs {
		if pid <= 0 {
			continue
		}
		p := proc{processName(key), pid}
		if key == "controlplane" {
			last = append(last, p)
		} else {
			first = append(first, p)
		}
	}
	return first, last
}

func processName(key string) string {
	switch key {
	case "controlplane":
		return "control plane"
	case "demo":
		return "demo backends"
	}
	return key
}

// running returns the recorded processes of st that are still running
// and owned by st.Dir.
func running(st *State) []proc {
	first, last := processes(st)
	var out []proc
	for _, p := range append(first, last...) {
		if Owned(p.pid, st.Dir) {
			out = append(out, p)
		}
	}
	return out
}

// stopState stops st's processes that are still ours: SIGTERM, then
// SIGKILL after StopTimeout; gateways and demo backends together first,
// the control plane after them. report is called once per process, in
// the order they end.
func stopState(st *State, report func(Stopped)) {
	var mu sync.Mutex
	rep := func(s Stopped) {
		mu.Lock()
		defer mu.Unlock()
		report(s)
	}
	first, last := processes(st)
	for _, group := range [][]proc{first, last} {
		var wg sync.WaitGroup
		for _, p := range group {
			wg.Go(func() { rep(stopOne(p, st.Dir)) })
		}
		wg.Wait()
	}
}

// stopOne stops one process by PID, only if it is still ours.
func stopOne(p proc, dir string) Stopped {
	s := Stopped{What: p.what, PID: p.pid, Result: "not running"}
	if !Owned(p.pid, dir) {
		return s
	}
	if err := signal(p.pid, syscall.SIGTERM); err != nil {
		return s
	}
	if waitGone(p.pid, dir, StopTimeout) {
		s.Result = "stopped"
		return s
	}
	if Owned(p.pid, dir) {
		signal(p.pid, syscall.SIGKILL)
	}
	s.Result = "killed"
	if !waitGone(p.pid, dir, killTimeout) {
		s.Result = "still running"
	}
	return s
}

func signal(pid int, sig os.Signal) error {
	pr, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return pr.Signal(sig)
}

// waitGone polls until pid is no longer a process of dir, for up to d.
func waitGone(pid int, dir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for Owned(pid, dir) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// copyExecutable copies the binary at src to dst (atomically; mode 0755)
// unless dst already holds the same bytes.
func copyExecutable(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".meshfed-*")
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("up: copying %s: %w", src, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("up: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	return nil
}

// errNotRunning is wrapped by Down when nothing was running.
var errNoState = errors.New("no meshfed up state")
