package store

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newCluster() *meshfedv1.Cluster   { return new(meshfedv1.Cluster) }
func newPresence() *meshfedv1.Presence { return new(meshfedv1.Presence) }
func newExport() *meshfedv1.Export     { return new(meshfedv1.Export) }
func newBundle() *meshfedv1.Bundle     { return new(meshfedv1.Bundle) }
func newPolicy() *meshfedv1.Policy     { return new(meshfedv1.Policy) }

// PutCluster creates or updates a cluster and returns what was stored and
// the revision of the write. The creation time of an existing cluster is
// kept. With createOnly an existing cluster is ErrAlreadyExists.
func (s *Store) PutCluster(ctx context.Context, c *meshfedv1.Cluster, createOnly bool) (*meshfedv1.Cluster, int64, error) {
	return cas(ctx, s, clusterKey(c.GetName()), newCluster, func(cur *meshfedv1.Cluster, exists bool) (*meshfedv1.Cluster, []clientv3.Cmp, error) {
		if exists && createOnly {
			return nil, nil, fmt.Errorf("cluster %q: %w", c.GetName(), ErrAlreadyExists)
		}
		next := proto.Clone(c).(*meshfedv1.Cluster)
		next.CreatedAt = s.timestamp()
		if exists {
			next.CreatedAt = cur.GetCreatedAt()
		}
		return next, nil, nil
	})
}

// GetCluster returns the named cluster or ErrNotFound.
func (s *Store) GetCluster(ctx context.Context, name string) (*meshfedv1.Cluster, error) {
	c := new(meshfedv1.Cluster)
	if _, err := s.get(ctx, clusterKey(name), c); err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	return c, nil
}

// ListClusters returns every cluster, sorted by name.
func (s *Store) ListClusters(ctx context.Context) ([]*meshfedv1.Cluster, error) {
	out, _, err := list(ctx, s, clustersPrefix, newCluster)
	return out, err
}

// DeleteCluster removes a cluster with its exports, presence keys and
// drains in one transaction.
func (s *Store) DeleteCluster(ctx context.Context, name string) (int64, error) {
	defer s.timed("txn")()
	key := clusterKey(name)
	resp, err := s.kv.Txn(ctx).If(clusterExists(name)).Then(
		clientv3.OpDelete(key),
		clientv3.OpDelete(exportsPrefix+name+"/", clientv3.WithPrefix()),
		clientv3.OpDelete(presencePrefix+name+"/", clientv3.WithPrefix()),
		clientv3.OpDelete(drainsPrefix+name+"/", clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, fmt.Errorf("store: delete cluster %q: %w", name, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("cluster %q: %w", name, ErrNotFound)
	}
	return resp.Header.Revision, nil
}

// Register records a gateway's presence under a new lease of ttlSeconds.
// The cluster must exist.
func (s *Store) Register(ctx context.Context, p *meshfedv1.Presence, ttlSeconds int64) (clientv3.LeaseID, error) {
	if s.lease == nil {
		return 0, fmt.Errorf("store: register needs Config.Lease")
	}
	defer s.timed("register")()
	lease, err := s.lease.Grant(ctx, ttlSeconds)
	if err != nil {
		return 0, fmt.Errorf("store: grant lease: %w", err)
	}
	next := proto.Clone(p).(*meshfedv1.Presence)
	next.RegisteredAt = s.timestamp()
	value, err := proto.Marshal(next)
	if err != nil {
		return 0, fmt.Errorf("store: encode presence: %w", err)
	}
	resp, err := s.kv.Txn(ctx).If(clusterExists(p.GetCluster())).
		Then(clientv3.OpPut(presenceKey(p.GetCluster(), schema.PresenceName(p.GetGateway(), p.GetInstance())), string(value), clientv3.WithLease(lease.ID))).Commit()
	if err == nil && !resp.Succeeded {
		err = fmt.Errorf("cluster %q: %w", p.GetCluster(), ErrNoCluster)
	}
	if err != nil {
		// Do not leave the lease behind; it would expire anyway.
		_, _ = s.lease.Revoke(context.WithoutCancel(ctx), lease.ID)
		return 0, err
	}
	return lease.ID, nil
}

// Heartbeat renews the lease of a registered gateway (gateway is its
// schema.PresenceName). ErrNotFound means the presence key or its lease
// is gone: the gateway must register again.
func (s *Store) Heartbeat(ctx context.Context, cluster, gateway string) (ttl int64, err error) {
	defer s.timed("heartbeat")()
	resp, err := s.kv.Get(ctx, presenceKey(cluster, gateway))
	if err != nil {
		return 0, fmt.Errorf("store: heartbeat: %w", err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].Lease == 0 {
		return 0, fmt.Errorf("gateway %s/%s: %w", cluster, gateway, ErrNotFound)
	}
	ka, err := s.lease.KeepAliveOnce(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil {
		if strings.Contains(err.Error(), "requested lease not found") {
			return 0, fmt.Errorf("gateway %s/%s: lease expired: %w", cluster, gateway, ErrNotFound)
		}
		return 0, fmt.Errorf("store: heartbeat: %w", err)
	}
	return ka.TTL, nil
}

// ListPresence returns the live gateways of every cluster.
func (s *Store) ListPresence(ctx context.Context) ([]*meshfedv1.Presence, error) {
	out, _, err := list(ctx, s, presencePrefix, newPresence)
	return out, err
}

// ListExports returns exports, of one cluster when cluster is not empty.
func (s *Store) ListExports(ctx context.Context, cluster string) ([]*meshfedv1.Export, error) {
	prefix := exportsPrefix
	if cluster != "" {
		prefix += cluster + "/"
	}
	out, _, err := list(ctx, s, prefix, newExport)
	return out, err
}

// PutBundle stores a trust bundle. A sequence lower than the stored one is
// ErrRollback.
func (s *Store) PutBundle(ctx context.Context, b *meshfedv1.Bundle) (*meshfedv1.Bundle, int64, error) {
	return s.putBundle(ctx, b)
}

// PutBundleNext stores the bundle that encode returns for the stored
// sequence + 1 (1 when none is stored), for documents that carry no
// sequence of their own (Workload API bundles). When same reports that the
// stored bundle already has the document's content, nothing is written
// and the stored bundle is returned. Both decisions are made inside the
// compare-and-swap, so concurrent pushes cannot both take one sequence.
func (s *Store) PutBundleNext(ctx context.Context, trustDomain string, same func(cur *meshfedv1.Bundle) bool,
	encode func(sequence uint64) (*meshfedv1.Bundle, error)) (*meshfedv1.Bundle, int64, error) {
	return cas(ctx, s, bundleKey(trustDomain), newBundle, func(cur *meshfedv1.Bundle, exists bool) (*meshfedv1.Bundle, []clientv3.Cmp, error) {
		if exists && same(cur) {
			return nil, nil, errKeep
		}
		next, err := encode(cur.GetSequence() + 1)
		if err != nil {
			return nil, nil, err
		}
		next = proto.Clone(next).(*meshfedv1.Bundle)
		next.UpdatedAt = s.timestamp()
		return next, nil, nil
	})
}

func (s *Store) putBundle(ctx context.Context, b *meshfedv1.Bundle, conds ...clientv3.Cmp) (*meshfedv1.Bundle, int64, error) {
	return cas(ctx, s, bundleKey(b.GetTrustDomain()), newBundle, func(cur *meshfedv1.Bundle, exists bool) (*meshfedv1.Bundle, []clientv3.Cmp, error) {
		if exists && b.GetSequence() < cur.GetSequence() {
			return nil, nil, fmt.Errorf("bundle %q: sequence %d < stored %d: %w", b.GetTrustDomain(), b.GetSequence(), cur.GetSequence(), ErrRollback)
		}
		next := proto.Clone(b).(*meshfedv1.Bundle)
		next.UpdatedAt = s.timestamp()
		return next, conds, nil
	})
}

// GetBundle returns the bundle of a trust domain or ErrNotFound.
func (s *Store) GetBundle(ctx context.Context, trustDomain string) (*meshfedv1.Bundle, error) {
	b := new(meshfedv1.Bundle)
	if _, err := s.get(ctx, bundleKey(trustDomain), b); err != nil {
		return nil, fmt.Errorf("bundle %q: %w", trustDomain, err)
	}
	return b, nil
}

// ListBundles returns every stored bundle.
func (s *Store) ListBundles(ctx context.Context) ([]*meshfedv1.Bundle, error) {
	out, _, err := list(ctx, s, bundlesPrefix, newBundle)
	return out, err
}

// DeleteBundle removes the bundle of a trust domain.
func (s *Store) DeleteBundle(ctx context.Context, trustDomain string) (int64, error) {
	rev, err := s.delete(ctx, bundleKey(trustDomain))
	if err != nil {
		return 0, fmt.Errorf("bundle %q: %w", trustDomain, err)
	}
	return rev, nil
}

// PutPolicy stores a policy document.
func (s *Store) PutPolicy(ctx context.Context, p *meshfedv1.Policy) (*meshfedv1.Policy, int64, error) {
	return cas(ctx, s, policyKey(p.GetNamespace(), p.GetName(), p.GetKind()), newPolicy, func(*meshfedv1.Policy, bool) (*meshfedv1.Policy, []clientv3.Cmp, error) {
		next := proto.Clone(p).(*meshfedv1.Policy)
		next.UpdatedAt = s.timestamp()
		return next, nil, nil
	})
}

// GetPolicy returns one policy or ErrNotFound.
func (s *Store) GetPolicy(ctx context.Context, namespace, name, kind string) (*meshfedv1.Policy, error) {
	p := new(meshfedv1.Policy)
	if _, err := s.get(ctx, policyKey(namespace, name, kind), p); err != nil {
		return nil, fmt.Errorf("policy %s/%s (%s): %w", namespace, name, kind, err)
	}
	return p, nil
}

// ListPolicies returns every policy.
func (s *Store) ListPolicies(ctx context.Context) ([]*meshfedv1.Policy, error) {
	out, _, err := list(ctx, s, policiesPrefix, newPolicy)
	return out, err
}

// DeletePolicy removes one policy.
func (s *Store) DeletePolicy(ctx context.Context, namespace, name, kind string) (int64, error) {
	rev, err := s.delete(ctx, policyKey(namespace, name, kind))
	if err != nil {
		return 0, fmt.Errorf("policy %s/%s (%s): %w", namespace, name, kind, err)
	}
	return rev, nil
}
