package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// MaxBatch is the most exports PutExports and DeleteExports write in one
// etcd transaction; it stays under etcd's default --max-txn-ops (128).
const MaxBatch = 100

// PutExports creates or updates exports of one cluster in one
// transaction per MaxBatch items, keeping each existing export's creation
// time, and returns the revision of each item's write (items of one
// transaction share it). All exports must name the same cluster, which
// must exist (ErrNoCluster).
func (s *Store) PutExports(ctx context.Context, exports []*meshfedv1.Export) ([]int64, error) {
	revs := make([]int64, 0, len(exports))
	for start := 0; start < len(exports); start += MaxBatch {
		chunk := exports[start:min(start+MaxBatch, len(exports))]
		rev, err := s.putExportBatch(ctx, chunk)
		if err != nil {
			return revs, err
		}
		for range chunk {
			revs = append(revs, rev)
		}
	}
	return revs, nil
}

func (s *Store) putExportBatch(ctx context.Context, exports []*meshfedv1.Export) (int64, error) {
	defer s.timed("txn")()
	if len(exports) == 0 {
		return 0, nil
	}
	cluster := exports[0].GetCluster()
	keys := make([]string, len(exports))
	gets := make([]clientv3.Op, len(exports))
	for i, e := range exports {
		if e.GetCluster() != cluster {
			return 0, fmt.Errorf("store: one batch holds exports of clusters %q and %q", cluster, e.GetCluster())
		}
		keys[i] = exportKey(cluster, e.GetNamespace(), e.GetName())
		gets[i] = clientv3.OpGet(keys[i])
	}
	for range maxCASAttempts {
		read, err := s.kv.Txn(ctx).Then(gets...).Commit()
		if err != nil {
			return 0, fmt.Errorf("store: read exports of %q: %w", cluster, err)
		}
		now := s.timestamp()
		cmps := []clientv3.Cmp{clusterExists(cluster)}
		puts := make([]clientv3.Op, len(exports))
		for i, e := range exports {
			var modRev int64
			next := proto.Clone(e).(*meshfedv1.Export)
			next.CreatedAt, next.UpdatedAt = now, now
			if kvs := read.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
				cur := new(meshfedv1.Export)
				if err := proto.Unmarshal(kvs[0].Value, cur); err == nil {
					next.CreatedAt = cur.GetCreatedAt()
				}
				modRev = kvs[0].ModRevision
			}
			value, err := proto.Marshal(next)
			if err != nil {
				return 0, fmt.Errorf("store: encode %s: %w", keys[i], err)
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(keys[i]), "=", modRev))
			puts[i] = clientv3.OpPut(keys[i], string(value))
		}
		resp, err := s.kv.Txn(ctx).If(cmps...).Then(puts...).Commit()
		if err != nil {
			return 0, fmt.Errorf("store: write exports of %q: %w", cluster, err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, nil
		}
		if ok, err := s.condsHold(ctx, cmps[:1]); err != nil {
			return 0, err
		} else if !ok {
			return 0, fmt.Errorf("cluster %q: %w", cluster, ErrNoCluster)
		}
	}
	return 0, fmt.Errorf("store: write exports of %q: %w", cluster, ErrContention)
}

// DeleteExports withdraws exports of one cluster ("namespace/name" refs)
// in one transaction per MaxBatch items. It returns, per item, the
// revision of the delete, or 0 when there was nothing to delete.
func (s *Store) DeleteExports(ctx context.Context, cluster string, refs [][2]string) ([]int64, error) {
	defer s.timed("txn")()
	revs := make([]int64, 0, len(refs))
	for start := 0; start < len(refs); start += MaxBatch {
		chunk := refs[start:min(start+MaxBatch, len(refs))]
		ops := make([]clientv3.Op, len(chunk))
		for i, r := range chunk {
			ops[i] = clientv3.OpDelete(exportKey(cluster, r[0], r[1]))
		}
		resp, err := s.kv.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return revs, fmt.Errorf("store: withdraw exports of %q: %w", cluster, err)
		}
		for i := range chunk {
			if resp.Responses[i].GetResponseDeleteRange().GetDeleted() > 0 {
				revs = append(revs, resp.Header.Revision)
			} else {
				revs = append(revs, 0)
			}
		}
	}
	return revs, nil
}
