package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// controlPlane is `meshfed controlplane` run as a child process.
type controlPlane struct {
	child    *benchkit.Child
	httpAddr string
	config   *client.Config // admin config it wrote
}

// startControlPlane starts the control plane with an embedded etcd in
// dataDir and waits until its admin config exists and the admin API
// answers. The caller must call stop, also when an error is returned
// with a non-nil controlPlane.
func startControlPlane(ctx context.Context, bin, dataDir string, etcdEndpoints []string) (*controlPlane, error) {
	grpcAddr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"controlplane", "--data-dir", dataDir,
		"--listen", grpcAddr, "--http-listen", httpAddr,
		"--write-user-config=false", "--log-level", "warn"}
	if len(etcdEndpoints) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(etcdEndpoints, ","))
	}
	c, err := benchkit.StartChild("control plane", bin, args, nil, 64<<10)
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{child: c, httpAddr: httpAddr}

	cfgPath := filepath.Join(dataDir, "meshfed.yaml")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if cfg, err := client.Load(cfgPath); err == nil {
			if err := benchkit.PingControlPlane(ctx, cfg); err == nil {
				cp.config = cfg
				return cp, nil
			}
		}
		select {
		case <-c.Exited():
			return cp, fmt.Errorf("control plane (pid %d) exited before it was ready: %s", c.PID, c.Stderr)
		case <-ctx.Done():
			return cp, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return cp, fmt.Errorf("control plane (pid %d) not ready after 60s (no %s or the admin API does not answer): %s", c.PID, cfgPath, c.Stderr)
		}
	}
}

// pid is the control plane's process ID.
func (cp *controlPlane) pid() int { return cp.child.PID }

// stop kills the control plane by PID and waits for it (bounded); safe
// on nil.
func (cp *controlPlane) stop() {
	if cp != nil {
		cp.child.Stop()
	}
}

// alive returns an error if the control plane has exited.
func (cp *controlPlane) alive() error { return cp.child.Alive() }

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

// scrape reads the named samples (exact "name{labels}" or "name") from
// the control plane's /metrics.
func (cp *controlPlane) scrape(ctx context.Context, names ...string) (map[string]float64, error) {
	return benchkit.Scrape(ctx, cp.httpAddr, names...)
}
