package client

import (
	"errors"
	"fmt"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// ErrOutOfOrder means a watch response would move the state backwards or
// repeat a change: a protocol violation, never expected from a server.
var ErrOutOfOrder = errors.New("client: watch response out of order")

// State is a gateway's copy of the control plane's state, built by
// applying Watch responses. It is not safe for concurrent use.
type State struct {
	// Version is the last version applied; resume watching from it.
	Version  int64
	Clusters map[string]*meshfedv1.Cluster
	Presence map[string]*meshfedv1.Presence
	Imports  map[string]*meshfedv1.Import
	Bundles  map[string]*meshfedv1.Bundle
	Policies map[string]*meshfedv1.Policy
	// Drains are keyed by schema.DrainKey: "cluster/namespace/name", or
	// "cluster//" for a cluster-wide drain.
	Drains map[string]*meshfedv1.Drain
	// Snapshots counts full snapshots applied (the first one included).
	Snapshots int
}

// NewState returns an empty state.
func NewState() *State {
	s := &State{}
	s.reset()
	return s
}

func (s *State) reset() {
	s.Clusters = map[string]*meshfedv1.Cluster{}
	s.Presence = map[string]*meshfedv1.Presence{}
	s.Imports = map[string]*meshfedv1.Import{}
	s.Bundles = map[string]*meshfedv1.Bundle{}
	s.Policies = map[string]*meshfedv1.Policy{}
	s.Drains = map[string]*meshfedv1.Drain{}
}

// Apply applies one watch response. A snapshot replaces everything and
// may not be older than the state; every change must be newer than the
// state's version (so nothing is applied twice or out of order).
func (s *State) Apply(resp *meshfedv1.WatchResponse) error {
	if snap := resp.GetSnapshot(); snap != nil {
		if resp.GetVersion() < s.Version {
			return fmt.Errorf("%w: snapshot at %d after version %d", ErrOutOfOrder, resp.GetVersion(), s.Version)
		}
		s.reset()
		for _, c := range snap.GetClusters() {
			s.Clusters[c.GetName()] = c
		}
		for _, p := range snap.GetPresence() {
			s.Presence[p.GetCluster()+"/"+schema.PresenceName(p.GetGateway(), p.GetInstance())] = p
		}
		for _, i := range snap.GetImports() {
			s.Imports[i.GetNamespace()+"/"+i.GetName()] = i
		}
		for _, b := range snap.GetBundles() {
			s.Bundles[b.GetTrustDomain()] = b
		}
		for _, p := range snap.GetPolicies() {
			s.Policies[p.GetNamespace()+"/"+p.GetName()+"/"+p.GetKind()] = p
		}
		for _, d := range snap.GetDrains() {
			s.Drains[schema.DrainKey(d.GetCluster(), d.GetNamespace(), d.GetName())] = d
		}
		s.Version = resp.GetVersion()
		s.Snapshots++
	}
	for _, c := range resp.GetChanges() {
		if c.GetVersion() <= s.Version && !(c.GetVersion() == s.Version && resp.GetSnapshot() == nil && sameVersionBatch(resp, c)) {
			return fmt.Errorf("%w: change %s %q at version %d, state at %d", ErrOutOfOrder, c.GetKind(), c.GetKey(), c.GetVersion(), s.Version)
		}
		if err := s.applyChange(c); err != nil {
			return err
		}
		s.Version = c.GetVersion()
	}
	if resp.GetVersion() > s.Version {
		s.Version = resp.GetVersion()
	}
	return nil
}

// sameVersionBatch reports whether c shares its version with the change
// before it in resp: one etcd revision can change several objects.
func sameVersionBatch(resp *meshfedv1.WatchResponse, c *meshfedv1.Change) bool {
	changes := resp.GetChanges()
	for i := 1; i < len(changes); i++ {
		if changes[i] == c {
			return changes[i-1].GetVersion() == c.GetVersion()
		}
	}
	return false
}

func (s *State) applyChange(c *meshfedv1.Change) error {
	k := c.GetKey()
	switch c.GetKind() {
	case meshfedv1.Change_KIND_CLUSTER:
		put(s.Clusters, k, c.GetCluster(), c.GetDeleted())
	case meshfedv1.Change_KIND_PRESENCE:
		put(s.Presence, k, c.GetPresence(), c.GetDeleted())
	case meshfedv1.Change_KIND_IMPORT:
		put(s.Imports, k, c.GetImport(), c.GetDeleted())
	case meshfedv1.Change_KIND_BUNDLE:
		put(s.Bundles, k, c.GetBundle(), c.GetDeleted())
	case meshfedv1.Change_KIND_POLICY:
		put(s.Policies, k, c.GetPolicy(), c.GetDeleted())
	case meshfedv1.Change_KIND_DRAIN:
		put(s.Drains, k, c.GetDrain(), c.GetDeleted())
	default:
		return fmt.Errorf("client: change of unknown kind %v for %q", c.GetKind(), k)
	}
	return nil
}

func put[T any](m map[string]T, k string, v T, deleted bool) {
	if deleted {
		delete(m, k)
		return
	}
	m[k] = v
}
