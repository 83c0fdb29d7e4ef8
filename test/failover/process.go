package failover

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// Addrs are a gateway process's bound addresses, as it prints them.
type Addrs struct {
	Inbound, Outbound, Admin string
}

// Process is a `meshfed` child process: a cluster's gateway or the
// control plane. It is signalled and killed by its PID only, and dies
// with this process (Pdeathsig).
type Process struct {
	// Cluster is the gateway's cluster ("controlplane" for that).
	Cluster string
	PID     int
	// Addrs of a gateway.
	Addrs Addrs
	// LogPath has the process's stdout and stderr (every start of the
	// cluster's gateway, appended).
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

// The banner lines `meshfed gateway` prints its bound addresses on.
const (
	bannerInbound  = "inbound (mTLS):"
	bannerOutbound = "forward proxy:"
	bannerAdmin    = "admin:"
)

// startGateway writes cluster's config (listen: nil for free ports) and
// runs the gateway until it prints its addresses.
func (e *Env) startGateway(ctx context.Context, cluster string, listen *Addrs) (*Process, error) {
	cfg := e.gatewayConfig(cluster, listen)
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.opts.Dir, cluster)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return nil, err
	}
	p, found, err := startProcess(ctx, cluster, filepath.Join(dir, "gateway.log"), []string{bannerInbound, bannerOutbound, bannerAdmin},
		e.opts.Bin, "gateway", "--config", cfgPath, "--log-level", "debug")
	if err != nil {
		return nil, err
	}
	p.Addrs = Addrs{Inbound: found[bannerInbound], Outbound: found[bannerOutbound], Admin: found[bannerAdmin]}
	e.opts.Logf("gateway %s: pid %d, inbound %s, forward proxy %s, admin %s", cluster, p.PID, p.Addrs.Inbound, p.Addrs.Outbound, p.Addrs.Admin)
	return p, nil
}

// startProcess runs bin with args, its output appended to logPath, until
// it has printed a line starting with each of keys (after spaces); it
// returns the first word after each key (without http:// and a path).
func startProcess(ctx context.Context, name, logPath string, keys []string, bin string, args ...string) (*Process, map[string]string, error) {
	p := &Process{Cluster: name, LogPath: logPath, exited: make(chan struct{})}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	out := &outputWriter{f: f, keys: keys, found: map[string]string{}, ready: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	// One writer for both: exec then calls Write from one goroutine at a time.
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(f, "=== %s: starting %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.cmd.Args, " "))
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("failover: start %s: %w", name, err)
	}
	p.PID = p.cmd.Process.Pid
	go func() {
		p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	select {
	case <-out.ready:
		return p, out.result(), nil
	case <-p.exited:
		return nil, nil, fmt.Errorf("failover: %s (pid %d) exited at start; log %s:\n%s", name, p.PID, logPath, tail(logPath, 30))
	case <-time.After(30 * time.Second):
		p.Kill()
		return nil, nil, fmt.Errorf("failover: %s (pid %d) did not print %q in 30s; log %s:\n%s", name, p.PID, keys, logPath, tail(logPath, 30))
	case <-ctx.Done():
		p.Kill()
		return nil, nil, ctx.Err()
	}
}

// Restart starts cluster's gateway again, on the addresses it had, after
// it was killed; it returns when the new process has bound them.
func (e *Env) Restart(ctx context.Context, cluster string) (*Process, error) {
	old := e.gateways[cluster]
	old.Kill()
	p, err := e.startGateway(ctx, cluster, &old.Addrs)
	if err != nil {
		return nil, err
	}
	e.gateways[cluster] = p
	return p, nil
}

// Signal sends sig to the process (by PID).
func (p *Process) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL (also to a stopped process) and waits up to 10 s for
// it to be reaped; safe to repeat.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill() // this child only
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// outputWriter appends a process's output to its log file and picks
// values out of the banner it prints at start.
type outputWriter struct {
	mu    sync.Mutex
	f     *os.File
	keys  []string
	buf   []byte
	found map[string]string
	ready chan struct{}
	done  bool
}

func (w *outputWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.f.Write(p)
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for !w.done {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		for _, k := range w.keys {
			if v, ok := strings.CutPrefix(line, k); ok {
				if f := strings.Fields(v); len(f) > 0 {
					value := strings.TrimPrefix(f[0], "http://")
					if strings.HasPrefix(f[0], "http://") {
						value, _, _ = strings.Cut(value, "/")
					}
					w.found[k] = value
				}
			}
		}
		if len(w.found) == len(w.keys) {
			w.done = true
			w.buf = nil
			close(w.ready)
		}
	}
	return len(p), nil
}

func (w *outputWriter) result() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.found))
	for k, v := range w.found {
		out[k] = v
	}
	return out
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
