package client_test

import (
	"errors"
	"testing"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func importChange(key string, version int64, deleted bool) *meshfedv1.Change {
	c := &meshfedv1.Change{Kind: meshfedv1.Change_KIND_IMPORT, Key: key, Version: version, Deleted: deleted}
	if !deleted {
		c.Import = &meshfedv1.Import{Namespace: "demo", Name: key}
	}
	return c
}

func TestStateAppliesInOrderAndRefusesTheRest(t *testing.T) {
	t.Parallel()
	s := client.NewState()
	snap := &meshfedv1.WatchResponse{Version: 10, Snapshot: &meshfedv1.Snapshot{
		Clusters: []*meshfedv1.Cluster{{Name: "eu-1"}},
		Imports:  []*meshfedv1.Import{{Namespace: "demo", Name: "a"}},
	}}
	if err := s.Apply(snap); err != nil {
		t.Fatal(err)
	}
	// Two changes of one etcd revision, then a later one.
	if err := s.Apply(&meshfedv1.WatchResponse{Version: 12, Changes: []*meshfedv1.Change{
		importChange("demo/b", 11, false), importChange("demo/c", 11, false), importChange("demo/a", 12, true)}}); err != nil {
		t.Fatal(err)
	}
	if s.Version != 12 || len(s.Imports) != 2 || s.Imports["demo/a"] != nil || s.Clusters["eu-1"] == nil {
		t.Fatalf("state after changes: version %d imports %v", s.Version, s.Imports)
	}
	for name, resp := range map[string]*meshfedv1.WatchResponse{
		"duplicate change": {Version: 12, Changes: []*meshfedv1.Change{importChange("demo/a", 12, false)}},
		"older change":     {Version: 11, Changes: []*meshfedv1.Change{importChange("demo/x", 11, false)}},
		"older snapshot":   {Version: 5, Snapshot: &meshfedv1.Snapshot{}},
	} {
		if err := s.Apply(resp); !errors.Is(err, client.ErrOutOfOrder) {
			t.Errorf("%s: got %v, want ErrOutOfOrder", name, err)
		}
	}
	if err := s.Apply(&meshfedv1.WatchResponse{Version: 20, Snapshot: &meshfedv1.Snapshot{}}); err != nil || len(s.Imports) != 0 || s.Snapshots != 2 {
		t.Fatalf("newer snapshot: %v, imports %v", err, s.Imports)
	}
}

func TestStateAppliesDrains(t *testing.T) {
	t.Parallel()
	s := client.NewState()
	whole := &meshfedv1.Drain{Cluster: "east", PeriodSeconds: 30}
	if err := s.Apply(&meshfedv1.WatchResponse{Version: 5, Snapshot: &meshfedv1.Snapshot{Drains: []*meshfedv1.Drain{
		whole, {Cluster: "east", Namespace: "demo", Name: "echo"}}}}); err != nil {
		t.Fatal(err)
	}
	if len(s.Drains) != 2 || s.Drains["east//"] != whole || s.Drains["east/demo/echo"] == nil {
		t.Fatalf("drains after snapshot: %v", s.Drains)
	}
	svc := &meshfedv1.Drain{Cluster: "west", Namespace: "demo", Name: "echo", PeriodSeconds: 60}
	if err := s.Apply(&meshfedv1.WatchResponse{Version: 7, Changes: []*meshfedv1.Change{
		{Kind: meshfedv1.Change_KIND_DRAIN, Key: "west/demo/echo", Version: 6, Drain: svc},
		{Kind: meshfedv1.Change_KIND_DRAIN, Key: "east//", Version: 7, Deleted: true},
	}}); err != nil {
		t.Fatal(err)
	}
	if len(s.Drains) != 2 || s.Drains["west/demo/echo"] != svc || s.Drains["east//"] != nil {
		t.Fatalf("drains after changes: %v", s.Drains)
	}
	if err := s.Apply(&meshfedv1.WatchResponse{Version: 9, Snapshot: &meshfedv1.Snapshot{}}); err != nil || len(s.Drains) != 0 {
		t.Fatalf("a snapshot without drains left %v (%v)", s.Drains, err)
	}
}
