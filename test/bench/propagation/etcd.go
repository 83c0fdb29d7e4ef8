package main

import (
	"context"
	"fmt"
	"path"
	"runtime"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/embedetcd"
	"github.com/meshfed/meshfed/test/bench/benchkit"
)

const etcdPrefix = "/bench/exports/"

// etcdResult adds what only the baseline measures to a result.
type etcdResult struct {
	result
	// heapBase and heapAfter are this process's live Go heap after a
	// forced GC, before the writes and after convergence: the growth is
	// what etcd itself keeps per export (the watchers keep nothing).
	heapBase, heapAfter uint64
}

// runEtcd is the baseline: the same exports, bursts and pacing written to
// a plain embedded etcd (in this process) as one transaction per burst,
// and M raw clientv3 prefix watchers, each on its own client:
//
//  1. start etcd in dir and the watchers; wait until every watch is created;
//  2. write the exports in paced bursts;
//  3. wait until every watcher has seen every key, and summarize.
func runEtcd(ctx context.Context, opts options, s scenario, dir string) (etcdResult, error) {
	var res etcdResult
	// 1. etcd and watchers.
	srv, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir})
	if err != nil {
		return res, err
	}
	defer srv.Close()
	newClient := func() (*clientv3.Client, error) {
		return clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	}
	writer, err := newClient()
	if err != nil {
		return res, err
	}
	defer writer.Close()
	rec := newRecorder(s.clusters, s.exports)
	stopWatchers, err := startEtcdWatchers(ctx, newClient, rec)
	defer stopWatchers()
	if err != nil {
		return res, err
	}
	if err := rec.wait(ctx, 60*time.Second, "watches created", rec.allSynced); err != nil {
		return res, err
	}

	// 2. Writes. Values are what the control plane would store.
	values := make([]string, s.exports)
	now := timestamppb.Now()
	for i := range values {
		e := benchExport(i)
		e.Cluster = clusterName(ownerOf(i, opts.burst, s.clusters))
		e.CreatedAt, e.UpdatedAt = now, now
		b, err := proto.Marshal(e)
		if err != nil {
			return res, err
		}
		values[i] = string(b)
	}
	res.heapBase = liveHeap()
	meter, err := startCPUMeter(0)
	if err != nil {
		return res, err
	}
	defer meter.close()
	w, err := writeBursts(ctx, rec, s.exports, opts.burst, opts.interval, 30*time.Second, func(ctx context.Context, b, lo, hi int) error {
		ops := make([]clientv3.Op, 0, hi-lo)
		for i := lo; i < hi; i++ {
			ops = append(ops, clientv3.OpPut(etcdKey(i, opts.burst, s.clusters), values[i]))
		}
		_, err := writer.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return res, fmt.Errorf("write: %w", err)
	}

	// 3. Convergence.
	if err := rec.wait(ctx, opts.timeout, "watchers converging", rec.allSeen); err != nil {
		return res, err
	}
	cpu, err := meter.stop()
	if err != nil {
		return res, err
	}
	if res.result, err = summarize(rec, w); err != nil {
		return res, err
	}
	res.cpu = cpu
	res.heapAfter = liveHeap()
	benchkit.Logf("  raw etcd: p50 %v p99 %v", res.fromAck.p50, res.fromAck.p99)
	return res, nil
}

// liveHeap is the live Go heap of this process after a forced GC.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func etcdKey(i, burst, clusters int) string {
	return etcdPrefix + clusterName(ownerOf(i, burst, clusters)) + "/" + benchNamespace + "/" + exportName(i)
}

// startEtcdWatchers starts one prefix watch per watcher, each on its own
// client. The returned stop cancels the watches, waits for their
// goroutines and closes the clients; call it even on error.
func startEtcdWatchers(ctx context.Context, newClient func() (*clientv3.Client, error), rec *recorder) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clients []*clientv3.Client
	stop = func() {
		cancel()
		wg.Wait()
		for _, c := range clients {
			c.Close()
		}
	}
	for w := range rec.watchers {
		c, err := newClient()
		if err != nil {
			return stop, fmt.Errorf("watcher %d: %w", w, err)
		}
		clients = append(clients, c)
		wch := c.Watch(clientv3.WithRequireLeader(ctx), etcdPrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for resp := range wch {
				t := rec.now()
				if err := resp.Err(); err != nil {
					rec.fail(w, err)
					return
				}
				if resp.Created {
					rec.synced[w].Store(true)
				}
				for _, ev := range resp.Events {
					if ev.Type != clientv3.EventTypePut {
						continue
					}
					if i, ok := exportIndex(benchNamespace, path.Base(string(ev.Kv.Key))); ok {
						rec.saw(w, i, t)
					}
				}
			}
			if ctx.Err() == nil {
				rec.fail(w, fmt.Errorf("etcd watch channel closed"))
			}
		}()
	}
	return stop, nil
}
