package view_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/federation/view"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/test/etcdcluster"
)

// BenchmarkViewMemoryPerExport measures the live heap the view keeps per
// export (exports, derived imports, encoded history), the part of the
// control plane's memory that grows with the clusterset. Each iteration
// loads 10,000 exports of 100 clusters in bursts of 100, as the
// propagation benchmark does.
//
// "history=default" keeps the watch history (10,000 versions);
// "history=1" keeps one version, so the difference is what the history
// costs.
//
//	go test -run '^$' -bench ViewMemory -benchtime 1x ./federation/view
func BenchmarkViewMemoryPerExport(b *testing.B) {
	for _, h := range []struct {
		name string
		size int
	}{{"history=default", 0}, {"history=1", 1}} {
		b.Run(h.name, func(b *testing.B) { benchViewMemory(b, h.size) })
	}
}

func benchViewMemory(b *testing.B, historySize int) {
	const clusters, exports, burst = 100, 10000, 100
	for range b.N {
		// etcd runs as its own process, so its memory is not counted.
		c := etcdcluster.Start(b, 1).Client(b)
		st, err := store.New(store.Config{KV: c, Watcher: c, Lease: c})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for i := range clusters {
			if _, _, err := st.PutCluster(ctx, &meshfedv1.Cluster{Name: fmt.Sprintf("c%03d", i), TrustDomain: fmt.Sprintf("c%03d.test", i),
				Locality: &meshfedv1.Locality{Provider: "aws", Region: "r1"}}, true); err != nil {
				b.Fatal(err)
			}
		}
		v, err := view.New(view.Config{Source: st, HistorySize: historySize})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- v.Run(runCtx) }()
		<-v.Loaded()
		before := liveHeap()
		var last int64
		for start := 0; start < exports; start += burst {
			batch := make([]*meshfedv1.Export, 0, burst)
			for i := start; i < start+burst; i++ {
				batch = append(batch, &meshfedv1.Export{Cluster: fmt.Sprintf("c%03d", (start/burst)%clusters), Namespace: "bench", Name: fmt.Sprintf("svc-%06d", i),
					Ports:     []*meshfedv1.ServicePort{{Name: "http", Port: 80, AppProtocol: "http"}, {Name: "grpc", Port: 9090, AppProtocol: "grpc"}},
					Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "z1", Ready: 2}, {Zone: "z2", Ready: 1}}})
			}
			revs, err := st.PutExports(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			last = revs[len(revs)-1]
		}
		deadline := time.Now().Add(time.Minute)
		for v.Version() < last {
			if time.Now().After(deadline) {
				b.Fatal("view did not catch up")
			}
			time.Sleep(10 * time.Millisecond)
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/exports, "live-B/export")
		cancel()
		<-done
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
