package kubetest

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
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshfed/meshfed/test/etcdcluster"
)

const (
	startAttempts = 3                // fresh ports per attempt, to survive port races
	readyTimeout  = 90 * time.Second // per attempt; generous for a loaded 2-core machine
	stopTimeout   = 30 * time.Second // graceful shutdown before SIGKILL
	logTailLines  = 40
)

// errExited marks an API server process that died while we waited for it;
// waiting longer cannot help.
var errExited = errors.New("kube-apiserver process exited")

// Cluster is one running Kubernetes API server with its own single-member
// etcd, listening on 127.0.0.1.
type Cluster struct {
	t       testing.TB
	name    string
	bin     string
	etcd    *etcdcluster.Cluster
	dir     string // certificates, token file, kubeconfig and log
	port    int    // kept across restarts
	caPEM   []byte // trusted by clients for the serving certificate
	token   string // bearer token of the admin user
	logPath string

	mu      sync.Mutex // guards proc and cleaned
	proc    *process   // nil when not running
	cleaned bool
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returns; err is then valid
	err  error
}

// Start builds (or reuses) the kube-apiserver and etcd binaries, starts n
// independent API servers side by side, each with its own etcd, waits until
// every one is ready and serves the MCS CRDs, and returns them named
// "kube-0" ... "kube-<n-1>". All processes are killed in t.Cleanup. It skips
// the test if the kube-apiserver binary cannot be built.
func Start(t testing.TB, n int) []*Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("kubetest: need at least one cluster, got %d", n)
	}
	bin := Binary(t)
	clusters := make([]*Cluster, n)
	for i := range n {
		clusters[i] = newCluster(t, bin, "kube-"+strconv.Itoa(i))
	}
	// API servers take seconds to start: overlap them.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range clusters {
		wg.Go(func() { errs[i] = c.firstStart() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err) // the cleanups print the logs
	}
	return clusters
}

// newCluster starts the etcd of one cluster and writes its certificate, keys
// and token file; the API server is not started yet.
func newCluster(t testing.TB, bin, name string) *Cluster {
	t.Helper()
	etcd := etcdcluster.Start(t, 1)
	dir := t.TempDir() // registered before our cleanup, so removed after it
	c := &Cluster{t: t, name: name, bin: bin, etcd: etcd, dir: dir, logPath: filepath.Join(dir, "kube-apiserver.log")}
	if err := c.writeFiles(); err != nil {
		t.Fatalf("kubetest: %s: %v", name, err)
	}
	t.Cleanup(c.cleanup)
	return c
}

// firstStart launches the API server on a fresh port, retrying with another
// port if the process dies (another process may take the port between our
// probe and its bind), then installs the CRDs. It may run on any goroutine.
func (c *Cluster) firstStart() error {
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		if c.port, err = freePort(); err != nil {
			return err
		}
		if err = c.writeKubeconfig(); err != nil {
			return err
		}
		if err = c.launch(); err != nil {
			return err
		}
		if err = c.waitReady(); err == nil {
			break
		}
		c.kill()
		if !errors.Is(err, errExited) {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("kubetest: %s: start after %d attempts: %w", c.name, startAttempts, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := installCRDs(ctx, c.Config(), mcsCRDs()); err != nil {
		return fmt.Errorf("kubetest: %s: %w", c.name, err)
	}
	return nil
}

// freePort reserves a loopback port by listening on it, then releases it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("kubetest: reserve port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// args are the kube-apiserver flags; they depend only on the port and files
// fixed at creation, so a restart serves the same identity on the same port.
func (c *Cluster) args() []string {
	return []string{
		"--etcd-servers=" + c.etcd.Endpoints()[0],
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.port),
		"--tls-cert-file=" + filepath.Join(c.dir, servingCertFile),
		"--tls-private-key-file=" + filepath.Join(c.dir, servingKeyFile),
		"--token-auth-file=" + filepath.Join(c.dir, tokenFile),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(c.dir, serviceAccountKeyFile),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, serviceAccountKeyFile),
		"--service-cluster-ip-range=10.96.0.0/16",
		// No controller-manager runs to mint service account tokens.
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
	}
}

// launch starts the API server process, appending its output to the log.
func (c *Cluster) launch() error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kubetest: %s: open log: %w", c.name, err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	fmt.Fprintf(logFile, "=== kubetest: starting %s on 127.0.0.1:%d at %s\n", c.name, c.port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, c.args()...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kubetest: %s: start kube-apiserver: %w", c.name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	c.proc = p
	c.mu.Unlock()
	return nil
}

// Name returns the cluster's name, "kube-<i>".
func (c *Cluster) Name() string { return c.name }

// Host returns the API server's URL, https://127.0.0.1:<port>.
func (c *Cluster) Host() string { return "https://127.0.0.1:" + strconv.Itoa(c.port) }

// Config returns a new client configuration for the admin user (group
// system:masters), trusting the API server's certificate, with client-side
// rate limits raised for tests. The caller may modify it.
func (c *Cluster) Config() *rest.Config {
	return &rest.Config{
		Host:            c.Host(),
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: bytes.Clone(c.caPEM)},
		QPS:             1000,
		Burst:           2000,
	}
}

// Kubeconfig returns the path of a kubeconfig file for the admin user, with
// one context named after the cluster, for programs that take --kubeconfig.
// The file is removed when the test ends.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.dir, kubeconfigFile) }

// Etcd returns the API server's etcd, for scenarios that kill or restart it.
func (c *Cluster) Etcd() *etcdcluster.Cluster { return c.etcd }

// LogPath returns the path of the API server's log; restarts append to it.
func (c *Cluster) LogPath() string { return c.logPath }

// Stop shuts the API server down gracefully (SIGTERM, then SIGKILL after
// 30 s) and waits for the process to exit. Its etcd keeps running.
func (c *Cluster) Stop() {
	c.t.Helper()
	p := c.take()
	if p == nil {
		c.t.Fatalf("kubetest: stop %s: not running", c.name)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		c.t.Errorf("kubetest: stop %s: no exit %s after SIGTERM; killing it", c.name, stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL to the API server and waits for the process to exit.
// Its etcd keeps running.
func (c *Cluster) Kill() {
	c.t.Helper()
	if !c.kill() {
		c.t.Fatalf("kubetest: kill %s: not running", c.name)
	}
}

// kill kills the process if it runs and reports whether it did.
func (c *Cluster) kill() bool {
	p := c.take()
	if p == nil {
		return false
	}
	_ = p.cmd.Process.Kill() // fails only if it already exited
	<-p.done
	return true
}

// Restart starts the stopped API server again on the same port, with the
// same certificate, token and etcd, and waits until it is ready. Clients made
// from [Cluster.Config] or [Cluster.Kubeconfig] before the restart keep
// working. It fails the test if the port was taken in the meantime.
func (c *Cluster) Restart() {
	c.t.Helper()
	if c.running() != nil {
		c.t.Fatalf("kubetest: restart %s: still running", c.name)
	}
	err := c.launch()
	if err == nil {
		err = c.waitReady()
	}
	if err != nil {
		c.kill()
		c.t.Fatalf("kubetest: restart %s on port %d: %v", c.name, c.port, err)
	}
}

// Running reports whether the API server process is running (it may not be
// ready yet).
func (c *Cluster) Running() bool {
	p := c.running()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (c *Cluster) running() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// take detaches the process from c, so exactly one caller stops it.
func (c *Cluster) take() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.proc
	c.proc = nil
	return p
}

// cleanup kills the API server; on test failure it first prints its log
// tail. It runs before the etcd's cleanup, registered earlier.
func (c *Cluster) cleanup() {
	c.mu.Lock()
	cleaned := c.cleaned
	c.cleaned = true
	c.mu.Unlock()
	if cleaned {
		return
	}
	if c.t.Failed() {
		c.printLog()
	}
	c.kill()
}

func (c *Cluster) printLog() {
	c.t.Logf("kubetest: log of %s (%s):\n%s", c.name, c.logPath, logTail(c.logPath))
}

func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
