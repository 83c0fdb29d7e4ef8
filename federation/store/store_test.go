package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// putExport writes one export and returns the revision.
func putExport(ctx context.Context, s *store.Store, e *meshfedv1.Export) (int64, error) {
	revs, err := s.PutExports(ctx, []*meshfedv1.Export{e})
	if err != nil {
		return 0, err
	}
	return revs[0], nil
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

func newStore(t *testing.T, e *etcdtest.Etcd) *store.Store {
	t.Helper()
	c := e.Client(t)
	s, err := store.New(store.Config{KV: c, Watcher: c, Lease: c})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cluster(name string) *meshfedv1.Cluster {
	return &meshfedv1.Cluster{Name: name, TrustDomain: name + ".example.org", Locality: &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"}}
}

func export(cluster, ns, name string, port uint32) *meshfedv1.Export {
	return &meshfedv1.Export{Cluster: cluster, Namespace: ns, Name: name, Ports: []*meshfedv1.ServicePort{{Port: port}}}
}

func TestClusterCRUD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))

	first, _, err := s.PutCluster(ctx, cluster("eu-1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetCreatedAt() == nil {
		t.Fatal("created_at not set")
	}
	if _, _, err := s.PutCluster(ctx, cluster("eu-1"), true); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create: got %v, want ErrAlreadyExists", err)
	}
	upd := cluster("eu-1")
	upd.Labels = map[string]string{"tier": "gold"}
	got, _, err := s.PutCluster(ctx, upd, false)
	if err != nil {
		t.Fatal(err)
	}
	if !got.GetCreatedAt().AsTime().Equal(first.GetCreatedAt().AsTime()) {
		t.Fatalf("update changed created_at: %v -> %v", first.GetCreatedAt().AsTime(), got.GetCreatedAt().AsTime())
	}
	read, err := s.GetCluster(ctx, "eu-1")
	if err != nil || read.GetLabels()["tier"] != "gold" {
		t.Fatalf("get: %v %v", read, err)
	}
	if _, err := s.GetCluster(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, _, err := s.PutCluster(ctx, cluster("us-1"), true); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListClusters(ctx)
	if err != nil || len(all) != 2 || all[0].GetName() != "eu-1" || all[1].GetName() != "us-1" {
		t.Fatalf("list: %v %v", all, err)
	}
}

func TestExportNeedsClusterAndKeepsCreatedAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := etcdtest.Start(t).Client(t)
	s, err := store.New(store.Config{KV: c, Watcher: c, Lease: c, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putExport(ctx, s, export("ghost", "demo", "echo", 80)); !errors.Is(err, store.ErrNoCluster) {
		t.Fatalf("export of unknown cluster: got %v, want ErrNoCluster", err)
	}
	if _, _, err := s.PutCluster(ctx, cluster("eu-1"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := putExport(ctx, s, export("eu-1", "demo", "echo", 80)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := putExport(ctx, s, export("eu-1", "demo", "echo", 8080)); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListExports(ctx, "eu-1")
	if err != nil || len(all) != 1 {
		t.Fatalf("list: %v %v", all, err)
	}
	got := all[0]
	if got.GetCreatedAt().AsTime().Equal(now) || !got.GetUpdatedAt().AsTime().Equal(now) {
		t.Fatalf("created_at %v updated_at %v; want created kept, updated now", got.GetCreatedAt().AsTime(), got.GetUpdatedAt().AsTime())
	}
}

func TestDeleteClusterRemovesItsExportsAndPresence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	for _, name := range []string{"a", "ab"} {
		if _, _, err := s.PutCluster(ctx, cluster(name), true); err != nil {
			t.Fatal(err)
		}
		if _, err := putExport(ctx, s, export(name, "demo", "echo", 80)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Register(ctx, &meshfedv1.Presence{Cluster: name, Gateway: "gw"}, 30); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeleteCluster(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCluster(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	exports, _ := s.ListExports(ctx, "")
	presence, _ := s.ListPresence(ctx)
	if len(exports) != 1 || exports[0].GetCluster() != "ab" || len(presence) != 1 || presence[0].GetCluster() != "ab" {
		t.Fatalf("after delete of a: exports %v presence %v; want only ab's", exports, presence)
	}
}

func TestBundleRollbackRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	b := &meshfedv1.Bundle{TrustDomain: "td.example", Jwks: []byte(`{}`), Sequence: 5}
	if _, _, err := s.PutBundle(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Sequence = 4
	if _, _, err := s.PutBundle(ctx, b); !errors.Is(err, store.ErrRollback) {
		t.Fatalf("lower sequence: got %v, want ErrRollback", err)
	}
	b.Sequence = 6
	if _, _, err := s.PutBundle(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBundle(ctx, "td.example")
	if err != nil || got.GetSequence() != 6 {
		t.Fatalf("get: %v %v", got, err)
	}
}

func TestPresenceExpiresWithoutHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	if _, err := s.Register(ctx, &meshfedv1.Presence{Cluster: "nope", Gateway: "gw"}, 1); !errors.Is(err, store.ErrNoCluster) {
		t.Fatalf("register for unknown cluster: %v", err)
	}
	if _, _, err := s.PutCluster(ctx, cluster("eu-1"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, &meshfedv1.Presence{Cluster: "eu-1", Gateway: "gw"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Heartbeat(ctx, "eu-1", "gw"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := s.ListPresence(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("presence did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := s.Heartbeat(ctx, "eu-1", "gw"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("heartbeat after expiry: got %v, want ErrNotFound", err)
	}
}

func TestLoadAndWatchAreOrderedAndCompactionIsReported(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newStore(t, etcdtest.Start(t))
	if _, _, err := s.PutCluster(ctx, cluster("eu-1"), true); err != nil {
		t.Fatal(err)
	}
	rev, objs, err := s.Load(ctx, nil)
	if err != nil || len(objs) != 1 || objs[0].Kind != store.KindCluster || objs[0].Name != "eu-1" {
		t.Fatalf("load: %v %v", objs, err)
	}
	var want []int64
	for i := range 5 {
		r, err := putExport(ctx, s, export("eu-1", "demo", "svc"+string(rune('a'+i)), 80))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	r, err := s.DeleteCluster(ctx, "eu-1") // one revision, six deletes
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, r)

	var got []int64
	errStop := errors.New("stop")
	err = s.Watch(ctx, rev, nil, func(b store.Batch) error {
		got = append(got, b.Revision)
		if b.Revision == r && len(b.Objects) != 6 {
			t.Errorf("delete batch has %d objects, want 6 (the cluster and its 5 exports)", len(b.Objects))
		}
		if len(got) == len(want) {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("revisions %v, want %v", got, want)
		}
	}
	if err := s.Compact(ctx, r); err != nil {
		t.Fatal(err)
	}
	err = s.Watch(ctx, rev, nil, func(store.Batch) error { return nil })
	if !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from compacted revision: got %v, want ErrCompacted", err)
	}
}

func TestDataSurvivesEtcdRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	e := etcdtest.StartIn(t, dir)
	s := newStore(t, e)
	if _, _, err := s.PutCluster(ctx, cluster("eu-1"), true); err != nil {
		t.Fatal(err)
	}
	e.Server.Close()
	s2 := newStore(t, etcdtest.StartIn(t, dir))
	if _, err := s2.GetCluster(ctx, "eu-1"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestPutExportsIsOneRevisionPerBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	if _, _, err := s.PutCluster(ctx, cluster("eu-1"), true); err != nil {
		t.Fatal(err)
	}
	var batch []*meshfedv1.Export
	for i := range store.MaxBatch + 5 {
		batch = append(batch, export("eu-1", "demo", fmt.Sprintf("svc-%d", i), 80))
	}
	revs, err := s.PutExports(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != len(batch) || revs[0] != revs[store.MaxBatch-1] || revs[store.MaxBatch] == revs[0] {
		t.Fatalf("revisions %v: want one per chunk of %d", revs, store.MaxBatch)
	}
	if _, err := s.PutExports(ctx, []*meshfedv1.Export{export("eu-1", "a", "x", 80), export("us-1", "a", "y", 80)}); err == nil {
		t.Fatal("a batch mixing clusters was accepted")
	}
	dels, err := s.DeleteExports(ctx, "eu-1", [][2]string{{"demo", "svc-0"}, {"demo", "missing"}})
	if err != nil || dels[0] == 0 || dels[1] != 0 {
		t.Fatalf("delete: %v %v; want a revision for svc-0 and 0 for the missing one", dels, err)
	}
	left, _ := s.ListExports(ctx, "eu-1")
	if len(left) != len(batch)-1 {
		t.Fatalf("%d exports left, want %d", len(left), len(batch)-1)
	}
}

// TestPutBundleNextTakesEachSequenceOnce: concurrent unsequenced pushes
// with different content each get their own sequence; identical content
// writes nothing.
func TestPutBundleNextTakesEachSequenceOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	const pushes = 8
	errs := make(chan error, pushes)
	for i := range pushes {
		go func() {
			_, _, err := s.PutBundleNext(ctx, "td.example", func(cur *meshfedv1.Bundle) bool { return string(cur.GetJwks()) == fmt.Sprint(i) },
				func(seq uint64) (*meshfedv1.Bundle, error) {
					return &meshfedv1.Bundle{TrustDomain: "td.example", Jwks: []byte(fmt.Sprint(i)), Sequence: seq}, nil
				})
			errs <- err
		}()
	}
	for range pushes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetBundle(ctx, "td.example")
	if err != nil || got.GetSequence() != pushes {
		t.Fatalf("after %d concurrent pushes: %v %v, want sequence %d", pushes, got, err, pushes)
	}
	same, _, err := s.PutBundleNext(ctx, "td.example", func(*meshfedv1.Bundle) bool { return true },
		func(uint64) (*meshfedv1.Bundle, error) {
			t.Fatal("encode called for unchanged content")
			return nil, nil
		})
	if err != nil || same.GetSequence() != pushes {
		t.Fatalf("unchanged push: %v %v", same, err)
	}
}
