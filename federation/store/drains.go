package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newDrain() *meshfedv1.Drain { return new(meshfedv1.Drain) }

// PutDrain starts or updates the drain of a cluster (namespace and name
// empty) or of one service of it, and returns what was stored and the
// revision of the write. The cluster must exist (ErrNoCluster), compared
// in the same transaction.
//
// started_at is set by the store, never taken from d. A new drain starts
// now. Re-putting a drain never gives traffic back: with the same period
// started_at is kept; with a different period the fraction already
// drained (schema.DrainProgress) is kept and the rest leaves at the new
// rate, so started_at moves to now - progress × new period. A drain that
// has finished stays finished whatever the new period.
func (s *Store) PutDrain(ctx context.Context, d *meshfedv1.Drain) (*meshfedv1.Drain, int64, error) {
	key := drainKey(d.GetCluster(), d.GetNamespace(), d.GetName())
	out, rev, err := cas(ctx, s, key, newDrain, func(cur *meshfedv1.Drain, exists bool) (*meshfedv1.Drain, []clientv3.Cmp, error) {
		next := proto.Clone(d).(*meshfedv1.Drain)
		now := s.now()
		next.StartedAt = timestamppb.New(now)
		if exists {
			next.StartedAt = restartedAt(cur, next.GetPeriodSeconds(), now)
		}
		return next, []clientv3.Cmp{clusterExists(d.GetCluster())}, nil
	})
	if errors.Is(err, ErrConditionFailed) {
		return nil, 0, fmt.Errorf("%s: %w", schema.DescribeDrain(d.GetCluster(), d.GetNamespace(), d.GetName()), ErrNoCluster)
	}
	return out, rev, err
}

// restartedAt is the started_at of an existing drain cur re-put with
// period seconds at now (see PutDrain).
func restartedAt(cur *meshfedv1.Drain, period int64, now time.Time) *timestamppb.Timestamp {
	if cur.GetPeriodSeconds() == period && cur.GetStartedAt() != nil {
		return cur.GetStartedAt()
	}
	done := schema.DrainProgress(cur, now)
	return timestamppb.New(now.Add(-time.Duration(done * float64(period) * float64(time.Second))))
}

// GetDrain returns one drain or ErrNotFound; namespace and name empty
// name the cluster-wide drain.
func (s *Store) GetDrain(ctx context.Context, cluster, namespace, name string) (*meshfedv1.Drain, error) {
	d := newDrain()
	if _, err := s.get(ctx, drainKey(cluster, namespace, name), d); err != nil {
		return nil, fmt.Errorf("%s: %w", schema.DescribeDrain(cluster, namespace, name), err)
	}
	return d, nil
}

// ListDrains returns every drain, sorted by cluster, namespace and name
// (a cluster's cluster-wide drain first).
func (s *Store) ListDrains(ctx context.Context) ([]*meshfedv1.Drain, error) {
	out, _, err := list(ctx, s, drainsPrefix, newDrain)
	if err != nil {
		return nil, err
	}
	// Key order is not name order: "_" sorts after digits, and "east/"
	// after "east-2/".
	slices.SortFunc(out, func(a, b *meshfedv1.Drain) int {
		return cmp.Or(strings.Compare(a.GetCluster(), b.GetCluster()),
			strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
	})
	return out, nil
}

// DeleteDrain ends one drain; ErrNotFound when there is none.
func (s *Store) DeleteDrain(ctx context.Context, cluster, namespace, name string) (int64, error) {
	rev, err := s.delete(ctx, drainKey(cluster, namespace, name))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", schema.DescribeDrain(cluster, namespace, name), err)
	}
	return rev, nil
}
