package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestDrainCRUD: put, get, list and delete drains of a cluster and of a
// service; a drain needs its cluster; started_at is the store's clock.
func TestDrainCRUD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := etcdtest.Start(t).Client(t)
	s, err := store.New(store.Config{KV: c, Watcher: c, Lease: c, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// 1. A drain of a cluster that is not registered is refused.
	if _, _, err := s.PutDrain(ctx, &meshfedv1.Drain{Cluster: "east"}); !errors.Is(err, store.ErrNoCluster) {
		t.Fatalf("drain of unknown cluster: got %v, want ErrNoCluster", err)
	}
	for _, name := range []string{"east", "east-2"} {
		if _, _, err := s.PutCluster(ctx, cluster(name), true); err != nil {
			t.Fatal(err)
		}
	}
	// 2. Drains of the cluster, of services, and of another cluster;
	// started_at given by the caller is ignored.
	whole, _, err := s.PutDrain(ctx, &meshfedv1.Drain{Cluster: "east", PeriodSeconds: 30, StartedAt: timestamppb.New(now.Add(-time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if !whole.GetStartedAt().AsTime().Equal(now) {
		t.Fatalf("started_at %v, want the store's now %v", whole.GetStartedAt().AsTime(), now)
	}
	for _, d := range []*meshfedv1.Drain{
		{Cluster: "east", Namespace: "demo", Name: "echo"},
		{Cluster: "east", Namespace: "0ns", Name: "db"}, // sorts before "_" in etcd
		{Cluster: "east-2", Namespace: "demo", Name: "echo", PeriodSeconds: 60},
	} {
		if _, _, err := s.PutDrain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetDrain(ctx, "east", "", "")
	if err != nil || got.GetPeriodSeconds() != 30 || got.GetNamespace() != "" {
		t.Fatalf("get cluster-wide drain: %v %v", got, err)
	}
	if _, err := s.GetDrain(ctx, "east", "demo", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing drain: got %v, want ErrNotFound", err)
	}
	all, err := s.ListDrains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range all {
		keys = append(keys, d.GetCluster()+"/"+d.GetNamespace()+"/"+d.GetName())
	}
	want := []string{"east//", "east/0ns/db", "east/demo/echo", "east-2/demo/echo"}
	if len(keys) != len(want) {
		t.Fatalf("list: %q, want %q", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("list: %q, want %q", keys, want)
		}
	}
	// 3. Delete one; deleting it again is ErrNotFound.
	if _, err := s.DeleteDrain(ctx, "east", "demo", "echo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteDrain(ctx, "east", "demo", "echo"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
	// 4. Deleting a cluster deletes its drains, and only its own.
	if _, err := s.DeleteCluster(ctx, "east"); err != nil {
		t.Fatal(err)
	}
	all, err = s.ListDrains(ctx)
	if err != nil || len(all) != 1 || all[0].GetCluster() != "east-2" {
		t.Fatalf("after deleting east: %v %v; want only east-2's drain", all, err)
	}
}

// TestDrainRePutNeverGivesTrafficBack pins the re-put rule: the same
// period keeps started_at; another period keeps the fraction drained.
func TestDrainRePutNeverGivesTrafficBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	c := etcdtest.Start(t).Client(t)
	s, err := store.New(store.Config{KV: c, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutCluster(ctx, cluster("east"), true); err != nil {
		t.Fatal(err)
	}
	put := func(period int64) time.Time {
		t.Helper()
		d, _, err := s.PutDrain(ctx, &meshfedv1.Drain{Cluster: "east", Namespace: "demo", Name: "echo", PeriodSeconds: period})
		if err != nil {
			t.Fatal(err)
		}
		return d.GetStartedAt().AsTime()
	}
	steps := []struct {
		name   string
		after  time.Duration // since start
		period int64
		want   time.Time
	}{
		{"create", 0, 100, start},
		{"same period keeps started_at", 40 * time.Second, 100, start},
		// 40% drained: 40% of 200 s is 80 s before now.
		{"longer period keeps 40%", 40 * time.Second, 200, start.Add(40*time.Second - 80*time.Second)},
		// Still 40% (the clock did not move): 40% of 50 s.
		{"shorter period keeps 40%", 40 * time.Second, 50, start.Add(40*time.Second - 20*time.Second)},
		// Finished (more than 50 s since the moved start): stays finished.
		{"finished drain stays finished", 10 * time.Minute, 300, start.Add(10*time.Minute - 300*time.Second)},
		{"at once", 10 * time.Minute, 0, start.Add(10 * time.Minute)},
		// A finished at-once drain given a period stays finished.
		{"from at once to a period", 11 * time.Minute, 60, start.Add(11*time.Minute - 60*time.Second)},
	}
	for _, st := range steps {
		now = start.Add(st.after)
		if got := put(st.period); !got.Equal(st.want) {
			t.Fatalf("%s: started_at %v, want %v", st.name, got, st.want)
		}
	}
}
