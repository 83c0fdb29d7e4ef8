package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// controlPlane is `meshfed controlplane` run as a child process.
type controlPlane struct {
	cmd      *exec.Cmd
	pid      int
	httpAddr string
	config   *client.Config // admin config it wrote
	stderr   *tailBuffer
	exited   chan struct{}
}

// startControlPlane starts the control plane with an embedded etcd in
// dataDir and waits until its admin config exists and the admin API
// answers. The caller must call stop, also when an error is returned
// with a non-nil controlPlane.
func startControlPlane(ctx context.Context, bin, dataDir string, etcdEndpoints []string) (*controlPlane, error) {
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{httpAddr: httpAddr, stderr: &tailBuffer{max: 64 << 10}, exited: make(chan struct{})}
	cp.cmd = exec.Command(bin, "controlplane", "--data-dir", dataDir,
		"--listen", grpcAddr, "--http-listen", httpAddr,
		"--write-user-config=false", "--log-level", "warn")
	if len(etcdEndpoints) > 0 {
		cp.cmd.Args = append(cp.cmd.Args, "--etcd-endpoints", strings.Join(etcdEndpoints, ","))
	}
	cp.cmd.Stderr = cp.stderr
	cp.cmd.Stdout = io.Discard
	cp.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cp.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	cp.pid = cp.cmd.Process.Pid
	go func() { cp.cmd.Wait(); close(cp.exited) }()

	cfgPath := filepath.Join(dataDir, "meshfed.yaml")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if cfg, err := client.Load(cfgPath); err == nil {
			if err := ping(ctx, cfg); err == nil {
				cp.config = cfg
				return cp, nil
			}
		}
		select {
		case <-cp.exited:
			return cp, fmt.Errorf("control plane (pid %d) exited before it was ready: %s", cp.pid, cp.stderr)
		case <-ctx.Done():
			return cp, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return cp, fmt.Errorf("control plane (pid %d) not ready after 60s (no %s or the admin API does not answer): %s", cp.pid, cfgPath, cp.stderr)
		}
	}
}

func ping(ctx context.Context, cfg *client.Config) error {
	c, err := client.Dial(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = c.Admin.ListClusters(ctx, &meshfedv1.ListClustersRequest{})
	return err
}

// stop kills the child by PID and waits for it (bounded).
func (cp *controlPlane) stop() {
	if cp == nil || cp.cmd.Process == nil {
		return
	}
	cp.cmd.Process.Kill() // this child only
	select {
	case <-cp.exited:
	case <-time.After(10 * time.Second):
		logf("control plane pid %d did not exit 10s after SIGKILL", cp.pid)
	}
}

// alive returns an error if the child has exited.
func (cp *controlPlane) alive() error {
	select {
	case <-cp.exited:
		return fmt.Errorf("control plane (pid %d) exited: %s", cp.pid, cp.stderr)
	default:
		return nil
	}
}

// memory is the control plane's memory, from /proc/PID/status (bytes).
type memory struct {
	rssBase, rssAfter, hwm int64
	// heapBase, heapAfter are go_memstats_heap_inuse_bytes from /metrics:
	// live objects plus garbage not yet collected.
	heapBase, heapAfter float64
	// liveBase, liveAfter estimate the live heap at the last GC.
	liveBase, liveAfter float64
	exports             int
}

// perExport is (RSS after - RSS before) / exports.
func (m memory) perExport() float64 {
	return float64(m.rssAfter-m.rssBase) / float64(m.exports)
}

// procStatus returns VmRSS and VmHWM of pid in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: unexpected %q", pid, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS/VmHWM", pid)
	}
	return rss, hwm, nil
}

// scrape reads the named samples (exact "name{labels}" or "name") from
// the control plane's /metrics.
func (cp *controlPlane) scrape(ctx context.Context, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cp.httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") || !want[line[:i]] {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) == 0 {
		return "(no stderr output)"
	}
	return "stderr:\n" + string(t.b)
}
