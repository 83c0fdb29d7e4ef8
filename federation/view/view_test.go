package view_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/federation/view"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

type fixture struct {
	store *store.Store
	view  *view.View
}

func start(t *testing.T, historySize int) *fixture {
	t.Helper()
	c := etcdtest.Start(t).Client(t)
	s, err := store.New(store.Config{KV: c, Watcher: c, Lease: c})
	if err != nil {
		t.Fatal(err)
	}
	v, err := view.New(view.Config{Source: s, HistorySize: historySize, RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	// Writes made after this point reach the view through its watch, so
	// the history holds them (tests rely on it).
	select {
	case <-v.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("view did not load")
	}
	return &fixture{store: s, view: v}
}

func (f *fixture) addCluster(t *testing.T, name string) int64 {
	t.Helper()
	_, rev, err := f.store.PutCluster(context.Background(), &meshfedv1.Cluster{Name: name, TrustDomain: name + ".test",
		Locality: &meshfedv1.Locality{Provider: "aws", Region: "r1"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func (f *fixture) export(t *testing.T, cluster, name string, ready uint32) int64 {
	t.Helper()
	revs, err := f.store.PutExports(context.Background(), []*meshfedv1.Export{{Cluster: cluster, Namespace: "demo", Name: name,
		Ports: []*meshfedv1.ServicePort{{Port: 80}}, Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "z", Ready: ready}}}})
	if err != nil {
		t.Fatal(err)
	}
	return revs[0]
}

func next(t *testing.T, sub *view.Subscription) *meshfedv1.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	resp, err := msg.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersion() != msg.Version || (resp.GetSnapshot() != nil) != msg.Snapshot {
		t.Fatalf("message says version %d snapshot %v, decodes to %d %v", msg.Version, msg.Snapshot, resp.GetVersion(), resp.GetSnapshot() != nil)
	}
	return resp
}

// waitVersion waits until the view has applied rev.
func waitVersion(t *testing.T, v *view.View, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for v.Version() < rev {
		if time.Now().After(deadline) {
			t.Fatalf("view at %d, want %d", v.Version(), rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSnapshotThenOrderedChanges(t *testing.T) {
	t.Parallel()
	f := start(t, 0)
	f.addCluster(t, "a")
	f.addCluster(t, "b")
	rev := f.export(t, "a", "echo", 2)
	waitVersion(t, f.view, rev)

	sub := f.view.Subscribe(0)
	first := next(t, sub)
	if first.GetSnapshot() == nil || first.GetVersion() != rev {
		t.Fatalf("first response: snapshot=%v version=%d, want a snapshot at %d", first.GetSnapshot() != nil, first.GetVersion(), rev)
	}
	if n := len(first.GetSnapshot().GetClusters()); n != 2 {
		t.Fatalf("snapshot has %d clusters, want 2", n)
	}
	imps := first.GetSnapshot().GetImports()
	if len(imps) != 1 || imps[0].GetClusters()[0].GetReady() != 2 {
		t.Fatalf("snapshot imports %v", imps)
	}

	r1 := f.export(t, "b", "echo", 5)
	r2 := f.export(t, "a", "echo", 0)
	waitVersion(t, f.view, r2)
	resp := next(t, sub) // both merged, or r1 first
	var versions []int64
	for len(versions) < 2 {
		for _, c := range resp.GetChanges() {
			if c.GetKind() != meshfedv1.Change_KIND_IMPORT || c.GetKey() != "demo/echo" {
				t.Fatalf("unexpected change %v", c)
			}
			versions = append(versions, c.GetVersion())
		}
		if len(versions) < 2 {
			resp = next(t, sub)
		}
	}
	if versions[0] != r1 || versions[1] != r2 {
		t.Fatalf("change versions %v, want [%d %d]", versions, r1, r2)
	}
	last := resp.GetChanges()[len(resp.GetChanges())-1].GetImport()
	if len(last.GetClusters()) != 2 || last.GetClusters()[0].GetReady() != 0 || last.GetClusters()[1].GetReady() != 5 {
		t.Fatalf("final import %v", last)
	}
}

func TestResumeGetsOnlyMissedChanges(t *testing.T) {
	t.Parallel()
	f := start(t, 0)
	f.addCluster(t, "a")
	var revs []int64
	for i := range 5 {
		revs = append(revs, f.export(t, "a", fmt.Sprintf("svc%d", i), 1))
	}
	waitVersion(t, f.view, revs[4])
	sub := f.view.Subscribe(revs[1])
	resp := next(t, sub)
	if resp.GetSnapshot() != nil {
		t.Fatal("resume inside history got a snapshot")
	}
	var got []string
	for _, c := range resp.GetChanges() {
		got = append(got, c.GetKey())
	}
	if fmt.Sprint(got) != "[demo/svc2 demo/svc3 demo/svc4]" {
		t.Fatalf("resumed changes %v, want svc2..svc4", got)
	}
}

func TestResumeBeyondHistoryGetsSnapshot(t *testing.T) {
	t.Parallel()
	f := start(t, 2)
	f.addCluster(t, "a")
	var revs []int64
	for i := range 5 {
		revs = append(revs, f.export(t, "a", fmt.Sprintf("svc%d", i), 1))
	}
	waitVersion(t, f.view, revs[4])
	resp := next(t, f.view.Subscribe(revs[0]))
	if resp.GetSnapshot() == nil || len(resp.GetSnapshot().GetImports()) != 5 {
		t.Fatalf("resume before the history: got %v, want a full snapshot of 5 imports", resp)
	}
	resp = next(t, f.view.Subscribe(revs[2]))
	if resp.GetSnapshot() != nil || len(resp.GetChanges()) != 2 {
		t.Fatalf("resume at the history's floor: got %v, want 2 changes", resp)
	}
}

func TestWatchResumingIntoCompactionReloadsAndSubscriberGetsSnapshot(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t).Client(t)
	s, err := store.New(store.Config{KV: c, Watcher: c, Lease: c})
	if err != nil {
		t.Fatal(err)
	}
	v, err := view.New(view.Config{Source: s, RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, view: v}
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		return func() { cancel(); <-done }
	}

	// 1. The view follows etcd; a gateway has seen version r.
	stop := run()
	f.addCluster(t, "a")
	r := f.export(t, "a", "one", 1)
	waitVersion(t, v, r)
	sub := v.Subscribe(0)
	if resp := next(t, sub); resp.GetSnapshot() == nil {
		t.Fatal("first response is not a snapshot")
	}
	// 2. The view's watch goes away (as on an etcd outage) while writes
	// continue and etcd compacts past the view's version.
	stop()
	f.export(t, "a", "two", 1)
	r3 := f.export(t, "a", "three", 1)
	if err := s.Compact(context.Background(), r3); err != nil {
		t.Fatal(err)
	}
	// 3. The view resumes into a compacted revision: it must re-load, and
	// the subscriber must get a full snapshot with everything, not a gap.
	stop = run()
	defer stop()
	waitVersion(t, v, r3)
	resp := next(t, sub)
	if resp.GetSnapshot() == nil || resp.GetVersion() != r3 || len(resp.GetSnapshot().GetImports()) != 3 {
		t.Fatalf("after compaction: got %v, want a snapshot of 3 imports at %d", resp, r3)
	}
}

func TestNextHonoursContext(t *testing.T) {
	t.Parallel()
	f := start(t, 0)
	sub := f.view.Subscribe(0)
	next(t, sub)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing new: %v", err)
	}
}

// TestDrainsInSnapshotsAndChanges: drains reach subscribers in snapshots
// and as KIND_DRAIN changes keyed "cluster/namespace/name" ("cluster//"
// for the whole cluster), and go with their cluster.
func TestDrainsInSnapshotsAndChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := start(t, 0)
	f.addCluster(t, "a")
	_, rev, err := f.store.PutDrain(ctx, &meshfedv1.Drain{Cluster: "a", PeriodSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	waitVersion(t, f.view, rev)
	sub := f.view.Subscribe(0)
	snap := next(t, sub).GetSnapshot()
	if ds := snap.GetDrains(); len(ds) != 1 || ds[0].GetCluster() != "a" || ds[0].GetPeriodSeconds() != 30 || ds[0].GetStartedAt() == nil {
		t.Fatalf("snapshot drains %v, want a's cluster-wide drain", ds)
	}

	// 1. A service drain is one change.
	_, rev, err = f.store.PutDrain(ctx, &meshfedv1.Drain{Cluster: "a", Namespace: "demo", Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	resp := next(t, sub)
	if cs := resp.GetChanges(); len(cs) != 1 || cs[0].GetKind() != meshfedv1.Change_KIND_DRAIN || cs[0].GetKey() != "a/demo/echo" ||
		cs[0].GetVersion() != rev || cs[0].GetDrain().GetName() != "echo" {
		t.Fatalf("changes %v, want one KIND_DRAIN a/demo/echo at %d", cs, rev)
	}
	// 2. Removing the cluster deletes both drains in the same version.
	rev, err = f.store.DeleteCluster(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	waitVersion(t, f.view, rev)
	deleted := map[string]bool{}
	for _, c := range next(t, sub).GetChanges() {
		if c.GetKind() == meshfedv1.Change_KIND_DRAIN && c.GetDeleted() && c.GetVersion() == rev && c.GetDrain() == nil {
			deleted[c.GetKey()] = true
		}
	}
	if len(deleted) != 2 || !deleted["a//"] || !deleted["a/demo/echo"] {
		t.Fatalf("drain deletes %v, want a// and a/demo/echo", deleted)
	}
	if snap := next(t, f.view.Subscribe(0)).GetSnapshot(); len(snap.GetDrains()) != 0 {
		t.Fatalf("snapshot after removing the cluster still has drains %v", snap.GetDrains())
	}
}
