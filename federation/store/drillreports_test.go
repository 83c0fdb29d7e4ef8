package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

var drillEpoch = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)

// drill is a report started minute minutes after drillEpoch.
func drill(id string, minute int) *meshfedv1.DrillReport {
	return &meshfedv1.DrillReport{Id: id, Fault: "kill", Scope: "cluster=east", Verdict: "pass",
		StartedAt: timestamppb.New(drillEpoch.Add(time.Duration(minute) * time.Minute)), DurationMs: 1500,
		Report: []byte(`{"id":"` + id + `"}`)}
}

func ids(rs []*meshfedv1.DrillReport) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.GetId())
	}
	return out
}

// TestDrillReportCRUD: put, get and list reports; an id is stored once;
// lists are newest first without the documents, and honour the limit.
func TestDrillReportCRUD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))

	// 1. Put and get back the whole report.
	put, _, err := s.PutDrillReport(ctx, drill("b", 10))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDrillReport(ctx, "b")
	if err != nil || !proto.Equal(got, drill("b", 10)) || !proto.Equal(put, got) {
		t.Fatalf("get: %v %v, want %v", got, err, drill("b", 10))
	}
	// 2. The same id again is refused, and the first report stays.
	again := drill("b", 20)
	again.Verdict = "fail"
	if _, _, err := s.PutDrillReport(ctx, again); !errors.Is(err, store.ErrAlreadyExists) || err.Error() != `drill report "b": store: already exists` {
		t.Fatalf("second put: got %v, want ErrAlreadyExists naming the report", err)
	}
	if got, _ := s.GetDrillReport(ctx, "b"); got.GetVerdict() != "pass" {
		t.Fatalf("the second put replaced the report: %v", got)
	}
	if _, err := s.GetDrillReport(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: got %v, want ErrNotFound", err)
	}
	// 3. Newest started_at first; equal started_at, greater id first.
	for _, r := range []*meshfedv1.DrillReport{drill("a", 30), drill("c", 5), drill("d", 10), drill("e", 10)} {
		if _, _, err := s.PutDrillReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListDrillReports(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "e", "d", "b", "c"}; !slices.Equal(ids(all), want) {
		t.Fatalf("list: %q, want %q", ids(all), want)
	}
	for _, r := range all {
		if r.GetReport() != nil || r.GetFault() != "kill" || r.GetStartedAt() == nil || r.GetDurationMs() != 1500 {
			t.Fatalf("summary %v: want every field but report", r)
		}
	}
	// 4. A limit keeps the newest.
	if two, err := s.ListDrillReports(ctx, 2); err != nil || !slices.Equal(ids(two), []string{"a", "e"}) {
		t.Fatalf("list limit 2: %q %v", ids(two), err)
	}
}

// TestDrillReportsAreCapped: the store keeps MaxDrillReports; a put
// beyond deletes the reports stored first in the same revision, and
// concurrent puts do not overshoot.
func TestDrillReportsAreCapped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := etcdtest.Start(t)
	c := e.Client(t)
	s := newStore(t, e)

	// 1. Fill to one below the cap, straight into etcd (100 keys per
	// transaction, so keys share a create revision and the id decides), in
	// store order old-000, old-001, ... Their started_at runs backwards, so
	// the first stored is the newest drill: the cap goes by store order,
	// not by started_at.
	for first := 0; first < store.MaxDrillReports-1; first += 100 {
		var ops []clientv3.Op
		for i := first; i < min(first+100, store.MaxDrillReports-1); i++ {
			b, err := proto.Marshal(drill(fmt.Sprintf("old-%03d", i), -i))
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, clientv3.OpPut(store.Prefix+"drills/"+fmt.Sprintf("old-%03d", i), string(b)))
		}
		if _, err := c.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int64 {
		t.Helper()
		resp, err := c.Get(ctx, store.Prefix+"drills/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	// 2. The 1000th report deletes nothing.
	if _, _, err := s.PutDrillReport(ctx, drill("new-0", 100)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != store.MaxDrillReports {
		t.Fatalf("%d reports, want %d", n, store.MaxDrillReports)
	}
	// 3. The 1001st deletes old-000 (stored first, started last) in its
	// own revision.
	_, rev, err := s.PutDrillReport(ctx, drill("new-1", 101))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDrillReport(ctx, "old-000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old-000 after the 1001st put: got %v, want ErrNotFound", err)
	}
	if resp, err := c.Get(ctx, store.Prefix+"drills/old-000", clientv3.WithRev(rev-1)); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("old-000 before the put's revision: %v %v; want it deleted by the put itself", resp, err)
	}
	if n := count(); n != store.MaxDrillReports {
		t.Fatalf("%d reports, want %d", n, store.MaxDrillReports)
	}
	// 4. Concurrent puts retry and never overshoot.
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Go(func() {
			_, _, err := s.PutDrillReport(ctx, drill(fmt.Sprintf("new-%d", i+2), 102+i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != store.MaxDrillReports {
		t.Fatalf("%d reports after concurrent puts, want %d", n, store.MaxDrillReports)
	}
	for i := range 6 {
		if _, err := s.GetDrillReport(ctx, fmt.Sprintf("old-%03d", i)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old-%03d: got %v, want it deleted", i, err)
		}
	}
	if _, err := s.GetDrillReport(ctx, "old-006"); err != nil {
		t.Fatalf("old-006: %v, want it kept", err)
	}
	// 5. The list is all of them, by started_at.
	all, err := s.ListDrillReports(ctx, 0)
	if err != nil || len(all) != store.MaxDrillReports || all[0].GetId() != "new-6" || all[len(all)-1].GetId() != "old-998" {
		t.Fatalf("list: %d reports from %q to %q, %v", len(all), all[0].GetId(), all[len(all)-1].GetId(), err)
	}
}

// TestDrillReportsAreNotViewObjects: Load skips drill reports and Watch
// yields no batch for them, so they never reach gateways.
func TestDrillReportsAreNotViewObjects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newStore(t, etcdtest.Start(t))
	bad := func(key string, err error) { t.Errorf("bad key %q: %v", key, err) }

	if _, _, err := s.PutCluster(ctx, cluster("a"), true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutDrillReport(ctx, drill("before", 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutCluster(ctx, cluster("z"), true); err != nil { // a key after drills/
		t.Fatal(err)
	}
	rev, objs, err := s.Load(ctx, bad)
	if err != nil || len(objs) != 2 || objs[0].Name != "a" || objs[1].Name != "z" {
		t.Fatalf("load: %v %v; want clusters a and z only", objs, err)
	}
	if _, _, err := s.PutDrillReport(ctx, drill("after", 1)); err != nil {
		t.Fatal(err)
	}
	_, want, err := s.PutCluster(ctx, cluster("b"), true)
	if err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	err = s.Watch(ctx, rev, bad, func(b store.Batch) error {
		if b.Revision != want || len(b.Objects) != 1 || b.Objects[0].Kind != store.KindCluster {
			t.Errorf("first batch after the load: revision %d %v; want only cluster b at %d", b.Revision, b.Objects, want)
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
}
