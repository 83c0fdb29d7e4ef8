package etcdcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const (
	startAttempts = 3                // fresh ports per attempt, to survive port races
	healthTimeout = 30 * time.Second // generous for a loaded 2-core machine
	logTailLines  = 40
)

// errExited marks a health check that found a member process dead; waiting
// longer cannot help.
var errExited = errors.New("member process exited")

// Cluster is a running multi-member etcd cluster whose members are child
// processes listening on 127.0.0.1.
type Cluster struct {
	t       testing.TB
	bin     string
	token   string
	members []*member
	admin   *clientv3.Client // used for Status and health checks

	mu      sync.Mutex // guards member.proc and stopped
	stopped bool
}

type member struct {
	name, clientURL, peerURL, dataDir, logPath string
	proc                                       *process // nil when not running
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returns; err is then valid
	err  error
}

// Start builds (or reuses) the etcd binary, starts an n-member cluster and waits
// until every member is healthy and agrees on a leader. All processes are
// killed in t.Cleanup.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcdcluster: need at least one member, got %d", n)
	}
	bin := Binary(t)
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var c *Cluster
		if c, err = tryStart(t, bin, n); err == nil {
			return c
		}
		t.Logf("etcdcluster: start attempt %d/%d failed: %v", attempt, startAttempts, err)
	}
	t.Fatalf("etcdcluster: start %d-member cluster: %v", n, err)
	return nil
}

func tryStart(t testing.TB, bin string, n int) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	dir := t.TempDir() // registered before our cleanup, so removed after it
	c := &Cluster{t: t, bin: bin, token: fmt.Sprintf("meshfed-%d", ports[0])}
	initial := make([]string, n)
	for i := range n {
		m := &member{
			name:      "m" + strconv.Itoa(i),
			clientURL: "http://127.0.0.1:" + strconv.Itoa(ports[2*i]),
			peerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
			dataDir:   filepath.Join(dir, "m"+strconv.Itoa(i)),
			logPath:   filepath.Join(dir, "m"+strconv.Itoa(i)+".log"),
		}
		c.members = append(c.members, m)
		initial[i] = m.name + "=" + m.peerURL
	}
	t.Cleanup(c.stop)
	c.admin, err = clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcdcluster: create admin client: %w", err)
	}
	for i := range n {
		if err := c.launch(i, "new", strings.Join(initial, ",")); err != nil {
			c.stop()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		c.printLogs()
		c.stop()
		return nil, err
	}
	return c, nil
}

// freePorts reserves n distinct loopback ports by listening on them at once,
// then releases them. Another process may grab one before etcd binds it; Start
// retries with new ports in that case.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdcluster: reserve port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// launch starts member i's process with the given --initial-cluster-state.
func (c *Cluster) launch(i int, state, initialCluster string) error {
	m := c.members[i]
	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("etcdcluster: open log for %s: %w", m.name, err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(c.bin,
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-state", state,
		"--initial-cluster-token", c.token,
		"--heartbeat-interval", "100",
		"--election-timeout", "1000",
		// Only process kills are simulated, never kernel crashes, so the page
		// cache keeps acknowledged writes; skipping fsync saves a lot of I/O.
		"--unsafe-no-fsync",
		"--log-level", "error",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("etcdcluster: start %s: %w", m.name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	m.proc = p
	c.mu.Unlock()
	return nil
}

// WaitHealthy polls until every running member answers Status without alarms,
// all of them report the same leader, that leader is a running member, and a
// linearizable read succeeds. It fails fast if a member process exits.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		if last = c.checkHealth(ctx); last == nil || errors.Is(last, errExited) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcdcluster: cluster not healthy: %w (last error: %w)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) checkHealth(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ids := map[uint64]bool{}
	var leader uint64
	for i, m := range c.members {
		p := c.proc(i)
		if p == nil {
			continue
		}
		select {
		case <-p.done:
			return fmt.Errorf("etcdcluster: %s: %w: %w", m.name, errExited, p.err)
		default:
		}
		st, err := c.admin.Status(ctx, m.clientURL)
		if err != nil {
			return fmt.Errorf("etcdcluster: status of %s: %w", m.name, err)
		}
		switch {
		case len(st.Errors) > 0:
			return fmt.Errorf("etcdcluster: %s reports errors: %v", m.name, st.Errors)
		case st.Leader == 0 || (leader != 0 && st.Leader != leader):
			return fmt.Errorf("etcdcluster: %s sees leader %x, others %x", m.name, st.Leader, leader)
		}
		leader = st.Leader
		ids[st.Header.MemberId] = true
	}
	if !ids[leader] {
		return fmt.Errorf("etcdcluster: leader %x is not a running member", leader)
	}
	if _, err := c.admin.Get(ctx, "etcdcluster-health"); err != nil {
		return fmt.Errorf("etcdcluster: linearizable read: %w", err)
	}
	return nil
}

// Endpoints returns the client URLs of all members, running or not, indexed
// like the members.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	return eps
}

// Leader returns the index of the running member that reports itself leader.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	for i, m := range c.members {
		if c.proc(i) == nil {
			continue
		}
		st, err := c.admin.Status(ctx, m.clientURL)
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return i, nil
		}
	}
	return -1, errors.New("etcdcluster: no running member is leader")
}

// Kill sends SIGKILL to member i's process and waits for it to exit.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	p := c.members[i].proc
	c.members[i].proc = nil
	c.mu.Unlock()
	if p == nil {
		c.t.Fatalf("etcdcluster: kill %s: not running", c.members[i].name)
	}
	_ = p.cmd.Process.Kill() // fails only if it already exited
	<-p.done
}

// Restart starts the killed member i again on its data dir with
// --initial-cluster-state existing and waits until the cluster is healthy.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.proc(i) != nil {
		c.t.Fatalf("etcdcluster: restart %s: still running", c.members[i].name)
	}
	initial := make([]string, len(c.members))
	for j, m := range c.members {
		initial[j] = m.name + "=" + m.peerURL
	}
	if err := c.launch(i, "existing", strings.Join(initial, ",")); err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		c.t.Fatalf("etcdcluster: restart %s: %v", c.members[i].name, err)
	}
}

// Client returns a client connected to all members, closed in t.Cleanup.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdcluster: new client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func (c *Cluster) proc(i int) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].proc
}

// stop kills every running member by PID, waits for it and closes the admin
// client. On test failure it first prints each member's log tail.
func (c *Cluster) stop() {
	c.mu.Lock()
	stopped := c.stopped
	c.stopped = true
	c.mu.Unlock()
	if stopped {
		return
	}
	if c.t.Failed() {
		c.printLogs()
	}
	for i := range c.members {
		if c.proc(i) != nil {
			c.Kill(i)
		}
	}
	if c.admin != nil {
		_ = c.admin.Close()
		c.admin = nil
	}
}

func (c *Cluster) printLogs() {
	for i, m := range c.members {
		c.t.Logf("etcdcluster: log of %s (%s):\n%s", m.name, m.logPath, c.logTail(i))
	}
}

func (c *Cluster) logTail(i int) string {
	data, err := os.ReadFile(c.members[i].logPath)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
