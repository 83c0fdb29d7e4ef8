package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Errors callers can test with errors.Is.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrNoCluster means the object names a cluster that is not registered.
	ErrNoCluster = errors.New("store: cluster is not registered")
	// ErrRollback means a bundle's sequence is lower than the stored one.
	ErrRollback = errors.New("store: bundle sequence is lower than the stored one")
	// ErrContention means a compare-and-swap kept losing to other writers.
	ErrContention = errors.New("store: too many concurrent writers, try again")
	// ErrConditionFailed means a write's extra condition (another key's
	// revision) no longer held, so nothing was written.
	ErrConditionFailed = errors.New("store: a condition of the write no longer holds")
)

// maxCASAttempts bounds the read-compare-write loop of one write.
const maxCASAttempts = 16

// listPageSize bounds one etcd range response.
const listPageSize = 2000

// Config configures a Store. KV is required.
type Config struct {
	// KV, Watcher and Lease are usually one *clientv3.Client. The store
	// prefixes every key with Prefix itself.
	KV      clientv3.KV
	Watcher clientv3.Watcher
	Lease   clientv3.Lease
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Observe, if set, is called after each etcd request with the operation
	// name and how long it took (for metrics).
	Observe func(op string, d time.Duration)
	// PageTimeout bounds each page of a list or load; zero means 10 s.
	// Without it an unreachable etcd (refused TLS, no quorum) blocks a
	// load forever and nobody hears of it.
	PageTimeout time.Duration
}

// Store reads and writes meshfed objects in etcd.
type Store struct {
	kv      clientv3.KV
	watcher clientv3.Watcher
	lease   clientv3.Lease
	now     func() time.Time
	observe func(string, time.Duration)
	pageTO  time.Duration
}

// New returns a Store over the given etcd clients.
func New(cfg Config) (*Store, error) {
	if cfg.KV == nil {
		return nil, errors.New("store: Config.KV is required")
	}
	s := &Store{
		kv:      namespace.NewKV(cfg.KV, Prefix),
		now:     cfg.Now,
		observe: cfg.Observe,
		pageTO:  cfg.PageTimeout,
	}
	if s.pageTO <= 0 {
		s.pageTO = 10 * time.Second
	}
	if cfg.Watcher != nil {
		s.watcher = namespace.NewWatcher(cfg.Watcher, Prefix)
	}
	if cfg.Lease != nil {
		s.lease = namespace.NewLease(cfg.Lease, Prefix)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.observe == nil {
		s.observe = func(string, time.Duration) {}
	}
	return s, nil
}

func (s *Store) timed(op string) func() {
	start := time.Now()
	return func() { s.observe(op, time.Since(start)) }
}

func (s *Store) get(ctx context.Context, key string, into proto.Message) (modRev int64, err error) {
	defer s.timed("get")()
	resp, err := s.kv.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("store: get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrNotFound
	}
	if err := proto.Unmarshal(resp.Kvs[0].Value, into); err != nil {
		return 0, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// listRaw returns every key-value under prefix at one revision, paging
// through etcd so no single response is huge. rev 0 means the latest.
func (s *Store) listRaw(ctx context.Context, prefix string, rev int64, each func(key string, value []byte) error) (int64, error) {
	return s.listRange(ctx, prefix, clientv3.GetPrefixRangeEnd(prefix), rev, listPageSize, each)
}

// listRange calls each with every key-value in [start, end) at one
// revision, reading pageSize keys per etcd request, and returns that
// revision. An empty start is the first key; an empty end (or
// GetPrefixRangeEnd("")) the end of the key space. rev 0 means the
// latest.
func (s *Store) listRange(ctx context.Context, start, end string, rev, pageSize int64, each func(key string, value []byte) error) (int64, error) {
	defer s.timed("list")()
	what := start
	if start == "" {
		start = "\x00" // the namespace KV refuses an empty key
	}
	if end == "" {
		end = "\x00"
	}
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		pctx, cancel := context.WithTimeout(ctx, s.pageTO)
		resp, err := s.kv.Get(pctx, start, opts...)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("store: list %s: %w", what, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := each(string(kv.Key), kv.Value); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func list[T proto.Message](ctx context.Context, s *Store, prefix string, newT func() T) ([]T, int64, error) {
	var out []T
	rev, err := s.listRaw(ctx, prefix, 0, func(key string, value []byte) error {
		m := newT()
		if err := proto.Unmarshal(value, m); err != nil {
			return fmt.Errorf("store: decode %s: %w", key, err)
		}
		out = append(out, m)
		return nil
	})
	return out, rev, err
}

// errKeep, returned by a cas build function, leaves the key as it is and
// makes cas return the current value.
var errKeep = errors.New("store: keep the current value")

// cas runs read-modify-write on key until the compare succeeds. build gets
// the current value (empty if absent) and returns the value to write plus
// extra conditions, or errKeep to write nothing.
func cas[T proto.Message](ctx context.Context, s *Store, key string, newT func() T, build func(cur T, exists bool) (T, []clientv3.Cmp, error)) (T, int64, error) {
	defer s.timed("txn")()
	var zero T
	for range maxCASAttempts {
		cur := newT()
		modRev, err := s.get(ctx, key, cur)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return zero, 0, err
		}
		next, conds, err := build(cur, exists)
		if errors.Is(err, errKeep) {
			return cur, modRev, nil
		}
		if err != nil {
			return zero, 0, err
		}
		value, err := proto.Marshal(next)
		if err != nil {
			return zero, 0, fmt.Errorf("store: encode %s: %w", key, err)
		}
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", modRev)}, conds...)
		resp, err := s.kv.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(value))).Commit()
		if err != nil {
			return zero, 0, fmt.Errorf("store: write %s: %w", key, err)
		}
		if resp.Succeeded {
			return next, resp.Header.Revision, nil
		}
		if len(conds) > 0 {
			// Tell a changed key from a failed extra condition.
			if ok, err := s.condsHold(ctx, conds); err != nil {
				return zero, 0, err
			} else if !ok {
				return zero, 0, fmt.Errorf("store: write %s: %w", key, ErrConditionFailed)
			}
		}
	}
	return zero, 0, fmt.Errorf("store: write %s: %w", key, ErrContention)
}

func (s *Store) condsHold(ctx context.Context, conds []clientv3.Cmp) (bool, error) {
	resp, err := s.kv.Txn(ctx).If(conds...).Commit()
	if err != nil {
		return false, fmt.Errorf("store: check conditions: %w", err)
	}
	return resp.Succeeded, nil
}

func clusterExists(name string) clientv3.Cmp {
	return clientv3.Compare(clientv3.Version(clusterKey(name)), ">", 0)
}

func (s *Store) delete(ctx context.Context, key string) (int64, error) {
	defer s.timed("delete")()
	resp, err := s.kv.Delete(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("store: delete %s: %w", key, err)
	}
	if resp.Deleted == 0 {
		return 0, ErrNotFound
	}
	return resp.Header.Revision, nil
}

// Revision returns etcd's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.kv.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("store: revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Compact compacts etcd's history up to rev. Watches older than rev then
// fail with ErrCompacted and clients re-list.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	defer s.timed("compact")()
	if _, err := s.kv.Compact(ctx, rev); err != nil && !strings.Contains(err.Error(), "required revision has been compacted") {
		return fmt.Errorf("store: compact to %d: %w", rev, err)
	}
	return nil
}

func (s *Store) timestamp() *timestamppb.Timestamp { return timestamppb.New(s.now()) }
