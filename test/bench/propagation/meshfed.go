package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/embedetcd"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// Metric samples scraped from the control plane.
const (
	metricHeapInuse = "go_memstats_heap_inuse_bytes"
	metricNextGC    = "go_memstats_next_gc_bytes"
	metricGOGC      = "go_gc_gogc_percent"
	metricTxnSum    = `meshfed_etcd_request_duration_seconds_sum{op="txn"}`
	metricTxnCount  = `meshfed_etcd_request_duration_seconds_count{op="txn"}`
)

// meshfedResult adds what only the control plane reports to a result.
type meshfedResult struct {
	result
	// txnMean is the control plane's mean export write (etcd get + txn)
	// during the write phase, from its own metrics.
	txnMean time.Duration
}

// runMeshfed runs one scenario against a control-plane child process:
//
//  1. start an etcd in this process and the control plane on it;
//  2. register the clusters and start one watcher per cluster;
//  3. read the baseline RSS, then write the exports in paced bursts;
//  4. wait until every watcher has every import, and summarize;
//  5. read the RSS again.
func runMeshfed(ctx context.Context, opts options, s scenario, dir string) (meshfedResult, memory, error) {
	var res meshfedResult
	mem := memory{exports: s.exports}

	// 1. Control plane, on an etcd of its own in this process, so that the
	// control plane's RSS is its own and not etcd's.
	etcd, err := embedetcd.Start(ctx, embedetcd.Config{Dir: filepath.Join(dir, "meshfed-etcd")})
	if err != nil {
		return res, mem, err
	}
	defer etcd.Close()
	cp, err := startControlPlane(ctx, opts.bin, dir, etcd.Endpoints())
	defer cp.stop()
	if err != nil {
		return res, mem, err
	}
	benchkit.Logf("  control plane pid %d ready", cp.pid())
	admin, err := client.Dial(cp.config)
	if err != nil {
		return res, mem, err
	}
	defer admin.Close()

	// 2. Clusters and watchers.
	for c := range s.clusters {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := admin.Admin.PutCluster(cctx, &meshfedv1.PutClusterRequest{Cluster: benchCluster(c)})
		cancel()
		if err != nil {
			return res, mem, fmt.Errorf("register cluster %s: %w", clusterName(c), err)
		}
	}
	rec := newRecorder(s.clusters, s.exports)
	watch := followWatch(rec, opts.burst)
	if opts.watchers == "skim" {
		watch = skimWatch(rec, opts.burst)
	}
	stopWatchers, err := startWatchers(ctx, cp.config, rec, watch)
	defer stopWatchers()
	if err != nil {
		return res, mem, err
	}
	if err := rec.wait(ctx, 60*time.Second, "initial snapshots", rec.allSynced); err != nil {
		return res, mem, err
	}
	benchkit.Logf("  %d watchers have their snapshot", s.clusters)

	// 3. Baseline, then writes.
	if err := benchkit.Pause(ctx, opts.settle); err != nil {
		return res, mem, err
	}
	if mem.rssBase, _, err = benchkit.ProcStatus(cp.pid()); err != nil {
		return res, mem, err
	}
	before, err := cp.scrape(ctx, metricHeapInuse, metricNextGC, metricGOGC, metricTxnSum, metricTxnCount)
	if err != nil {
		return res, mem, fmt.Errorf("scrape /metrics: %w", err)
	}
	mem.heapBase, mem.liveBase = before[metricHeapInuse], liveEstimate(before)
	meter, err := startCPUMeter(cp.pid())
	if err != nil {
		return res, mem, err
	}
	defer meter.close()
	w, err := writeBursts(ctx, rec, s.exports, opts.burst, opts.interval, 30*time.Second, func(ctx context.Context, b, lo, hi int) error {
		req := &meshfedv1.PublishExportsRequest{Cluster: clusterName(ownerOf(lo, opts.burst, s.clusters))}
		for i := lo; i < hi; i++ {
			req.Upserts = append(req.Upserts, benchExport(i))
		}
		resp, err := admin.Gateway.PublishExports(ctx, req)
		if err != nil {
			return err
		}
		if len(resp.GetResults()) != hi-lo {
			return fmt.Errorf("%d results for %d upserts", len(resp.GetResults()), hi-lo)
		}
		for _, r := range resp.GetResults() {
			if !r.GetOk() {
				return fmt.Errorf("export %s/%s: %s", r.GetNamespace(), r.GetName(), r.GetError())
			}
		}
		return nil
	})
	if err != nil {
		return res, mem, fmt.Errorf("write: %w (%v)", err, cp.alive())
	}
	benchkit.Logf("  %d exports written in %d bursts; waiting for watchers", s.exports, len(w.bursts))

	// 4. Convergence.
	if err := rec.wait(ctx, opts.timeout, "watchers converging", rec.allSeen); err != nil {
		return res, mem, fmt.Errorf("%w (%v)", err, cp.alive())
	}
	cpu, err := meter.stop()
	if err != nil {
		return res, mem, err
	}
	if res.result, err = summarize(rec, w); err != nil {
		return res, mem, err
	}
	res.cpu = cpu
	after, err := cp.scrape(ctx, metricTxnSum, metricTxnCount)
	if err != nil {
		return res, mem, fmt.Errorf("scrape /metrics: %w", err)
	}
	if n := after[metricTxnCount] - before[metricTxnCount]; n > 0 {
		res.txnMean = time.Duration((after[metricTxnSum] - before[metricTxnSum]) / n * float64(time.Second))
	}

	// 5. Memory with everything in, watchers still connected.
	if err := benchkit.Pause(ctx, opts.settle); err != nil {
		return res, mem, err
	}
	if mem.rssAfter, mem.hwm, err = benchkit.ProcStatus(cp.pid()); err != nil {
		return res, mem, err
	}
	if after, err = cp.scrape(ctx, metricHeapInuse, metricNextGC, metricGOGC); err != nil {
		return res, mem, fmt.Errorf("scrape /metrics: %w", err)
	}
	mem.heapAfter, mem.liveAfter = after[metricHeapInuse], liveEstimate(after)
	benchkit.Logf("  meshfed: p50 %v p99 %v, RSS %d -> %d MiB", res.fromAck.p50, res.fromAck.p99, mem.rssBase>>20, mem.rssAfter>>20)
	return res, mem, cp.alive()
}

// startWatchers starts one watcher per cluster, each on its own
// connection, running watch until ctx is done. The returned stop cancels
// them, waits for them and closes their connections; call it even on
// error.
func startWatchers(ctx context.Context, cfg *client.Config, rec *recorder, watch func(ctx context.Context, conn *client.Conn, w int) error) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var conns []*client.Conn
	stop = func() {
		cancel()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}
	for w := range rec.watchers {
		conn, err := client.Dial(cfg)
		if err != nil {
			return stop, fmt.Errorf("watcher %d: %w", w, err)
		}
		conns = append(conns, conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := watch(ctx, conn, w)
			if ctx.Err() == nil {
				rec.fail(w, fmt.Errorf("watch stopped: %w", err))
			}
		}()
	}
	return stop, nil
}

// followWatch is a full watcher: client.Follow decodes and applies
// everything, as a gateway does.
func followWatch(rec *recorder, burst int) func(ctx context.Context, conn *client.Conn, w int) error {
	return func(ctx context.Context, conn *client.Conn, w int) error {
		return client.Follow(ctx, client.FollowConfig{
			Cluster:    clusterName(w),
			Clients:    []meshfedv1.GatewayServiceClient{conn.Gateway},
			State:      client.NewState(),
			OnUpdate:   meshfedReceiver(rec, w, burst),
			OnError:    func(int, error) { rec.failures.Add(1) },
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		})
	}
}

// meshfedReceiver records, with one clock reading per response, every
// bench import that shows its exporting cluster with the expected ready
// endpoints.
func meshfedReceiver(rec *recorder, w, burst int) func(*meshfedv1.WatchResponse) {
	check := func(imp *meshfedv1.Import, t int64) {
		i, ok := exportIndex(imp.GetNamespace(), imp.GetName())
		if !ok || i >= rec.exports {
			return
		}
		owner := clusterName(ownerOf(i, burst, rec.watchers))
		for _, c := range imp.GetClusters() {
			if c.GetCluster() == owner && c.GetReady() == wantReady(i) {
				rec.saw(w, i, t)
				return
			}
		}
	}
	return func(resp *meshfedv1.WatchResponse) {
		t := rec.now()
		if snap := resp.GetSnapshot(); snap != nil {
			if rec.synced[w].Swap(true) {
				rec.resyncs.Add(1)
			}
			for _, imp := range snap.GetImports() {
				check(imp, t)
			}
		}
		for _, c := range resp.GetChanges() {
			if c.GetKind() == meshfedv1.Change_KIND_IMPORT && !c.GetDeleted() {
				check(c.GetImport(), t)
			}
		}
	}
}

// liveEstimate is the live heap at the last GC, from the heap goal the
// runtime set then: goal ≈ live × (1 + GOGC/100). It ignores the stacks
// and globals the goal also counts, so it errs high by those.
func liveEstimate(m map[string]float64) float64 {
	gogc := m[metricGOGC]
	if gogc <= 0 {
		return 0
	}
	return m[metricNextGC] / (1 + gogc/100)
}
