package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// MaxDrillReports is how many drill reports the store keeps. Putting one
// more deletes the oldest stored ones in the same transaction.
const MaxDrillReports = 1000

// drillPageSize bounds one etcd range response of ListDrillReports: a
// report may be 1 MiB, so a page holds at most 16 MiB.
const drillPageSize = 16

func newDrillReport() *meshfedv1.DrillReport { return new(meshfedv1.DrillReport) }

// PutDrillReport stores a new drill report under drills/<id> and returns
// it with the revision of the write. An id already stored is
// ErrAlreadyExists: reports are never replaced.
//
// The store keeps at most MaxDrillReports. When a put would exceed it, the
// same transaction deletes the reports stored first (lowest etcd create
// revision, then lowest id), whatever their started_at: finding them needs
// only the keys, not the documents. The transaction also requires that no report was
// added since the keys were read, so concurrent puts cannot overshoot the
// cap; the loser retries (ErrContention after maxCASAttempts).
func (s *Store) PutDrillReport(ctx context.Context, r *meshfedv1.DrillReport) (*meshfedv1.DrillReport, int64, error) {
	defer s.timed("txn")()
	key := drillKey(r.GetId())
	value, err := proto.Marshal(r)
	if err != nil {
		return nil, 0, fmt.Errorf("store: encode %s: %w", key, err)
	}
	for range maxCASAttempts {
		resp, err := s.kv.Get(ctx, drillsPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return nil, 0, fmt.Errorf("store: list %s: %w", drillsPrefix, err)
		}
		if slices.ContainsFunc(resp.Kvs, func(kv *mvccpb.KeyValue) bool { return string(kv.Key) == key }) {
			return nil, 0, fmt.Errorf("%s: %w", schema.DescribeDrillReport(r.GetId()), ErrAlreadyExists)
		}
		ops := []clientv3.Op{clientv3.OpPut(key, string(value))}
		if over := len(resp.Kvs) + 1 - MaxDrillReports; over > 0 {
			old := slices.Clone(resp.Kvs)
			slices.SortFunc(old, func(a, b *mvccpb.KeyValue) int {
				return cmp.Or(cmp.Compare(a.CreateRevision, b.CreateRevision), strings.Compare(string(a.Key), string(b.Key)))
			})
			for _, kv := range old[:over] {
				ops = append(ops, clientv3.OpDelete(string(kv.Key)))
			}
		}
		txn, err := s.kv.Txn(ctx).If(
			clientv3.Compare(clientv3.Version(key), "=", 0),
			// Nothing under drills/ was created or changed since the read.
			clientv3.Compare(clientv3.ModRevision(drillsPrefix), "<", resp.Header.Revision+1).WithPrefix(),
		).Then(ops...).Commit()
		if err != nil {
			return nil, 0, fmt.Errorf("store: write %s: %w", key, err)
		}
		if txn.Succeeded {
			return proto.Clone(r).(*meshfedv1.DrillReport), txn.Header.Revision, nil
		}
	}
	return nil, 0, fmt.Errorf("store: write %s: %w", key, ErrContention)
}

// GetDrillReport returns one report with its document, or ErrNotFound.
func (s *Store) GetDrillReport(ctx context.Context, id string) (*meshfedv1.DrillReport, error) {
	r := newDrillReport()
	if _, err := s.get(ctx, drillKey(id), r); err != nil {
		return nil, fmt.Errorf("%s: %w", schema.DescribeDrillReport(id), err)
	}
	return r, nil
}

// ListDrillReports returns the newest limit reports (all when limit <= 0)
// without their documents: newest started_at first, and on equal
// started_at the greater id first. The reports are read drillPageSize at a
// time, each dropping its document as it is decoded.
func (s *Store) ListDrillReports(ctx context.Context, limit int) ([]*meshfedv1.DrillReport, error) {
	var out []*meshfedv1.DrillReport
	_, err := s.listRange(ctx, drillsPrefix, clientv3.GetPrefixRangeEnd(drillsPrefix), 0, drillPageSize, func(key string, value []byte) error {
		r := newDrillReport()
		if err := proto.Unmarshal(value, r); err != nil {
			return fmt.Errorf("store: decode %s: %w", key, err)
		}
		r.Report = nil
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *meshfedv1.DrillReport) int {
		return cmp.Or(b.GetStartedAt().AsTime().Compare(a.GetStartedAt().AsTime()), strings.Compare(b.GetId(), a.GetId()))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
