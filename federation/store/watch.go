package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// ErrCompacted means the revision a watch asked to start from is gone from
// etcd's history. The caller must Load again.
var ErrCompacted = errors.New("store: revision compacted, re-list required")

// Object is one decoded key: what kind it is, its name within the kind and
// its value (nil when Deleted).
type Object struct {
	Kind    Kind
	Name    string
	Deleted bool
	Msg     proto.Message
}

// Batch is every change of one etcd revision, in key order of the write.
type Batch struct {
	Revision int64
	Objects  []Object
}

func decode(kind Kind, value []byte) (proto.Message, error) {
	var m proto.Message
	switch kind {
	case KindCluster:
		m = newCluster()
	case KindPresence:
		m = newPresence()
	case KindExport:
		m = newExport()
	case KindBundle:
		m = newBundle()
	case KindPolicy:
		m = newPolicy()
	case KindBundleEndpoint:
		m = newBundleEndpoint()
	case KindDrain:
		m = newDrain()
	default:
		return nil, fmt.Errorf("store: no decoder for kind %v", kind)
	}
	if err := proto.Unmarshal(value, m); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeKV turns one etcd key-value into an Object; ok is false for keys
// that are not objects of the view (election keys, drill reports).
func decodeKV(key string, value []byte, deleted bool) (Object, bool, error) {
	if strings.HasPrefix(key, ElectionPrefix) || strings.HasPrefix(key, drillsPrefix) {
		return Object{}, false, nil
	}
	kind, name, err := ParseKey(key)
	if err != nil {
		return Object{}, false, err
	}
	obj := Object{Kind: kind, Name: name, Deleted: deleted}
	if !deleted {
		if obj.Msg, err = decode(kind, value); err != nil {
			return Object{}, false, fmt.Errorf("store: decode %s: %w", key, err)
		}
	}
	return obj, true, nil
}

// Load reads every object at one revision. Keys that do not decode are
// passed to bad (which may be nil) and skipped: one corrupt value must not
// hide the rest. The drill reports' range is not read at all (up to 1,000
// documents of up to 1 MiB that the view does not hold).
func (s *Store) Load(ctx context.Context, bad func(key string, err error)) (int64, []Object, error) {
	var objs []Object
	each := func(key string, value []byte) error {
		obj, ok, err := decodeKV(key, value, false)
		switch {
		case err != nil && bad != nil:
			bad(key, err)
		case ok:
			objs = append(objs, obj)
		}
		return nil
	}
	// Two ranges around drills/, the second at the first's revision.
	rev, err := s.listRange(ctx, "", drillsPrefix, 0, listPageSize, each)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.listRange(ctx, clientv3.GetPrefixRangeEnd(drillsPrefix), "", rev, listPageSize, each); err != nil {
		return 0, nil, err
	}
	return rev, objs, nil
}

// Watch calls fn with every change after revision after, one Batch per
// etcd revision, in order. It blocks until ctx is done (returning
// ctx.Err()), fn returns an error (returned as is), or the watch fails:
// ErrCompacted when after is older than etcd's history.
func (s *Store) Watch(ctx context.Context, after int64, bad func(key string, err error), fn func(Batch) error) error {
	if s.watcher == nil {
		return errors.New("store: watch needs Config.Watcher")
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.watcher.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(after+1))
	next := after + 1
	for resp := range wch {
		if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			return fmt.Errorf("store: watch from %d (compacted at %d): %w", next, resp.CompactRevision, ErrCompacted)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("store: watch: %w", err)
		}
		var batch Batch
		flush := func() error {
			if len(batch.Objects) == 0 {
				return nil
			}
			err := fn(batch)
			batch = Batch{}
			return err
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision != batch.Revision {
				if err := flush(); err != nil {
					return err
				}
				batch.Revision = ev.Kv.ModRevision
			}
			obj, ok, err := decodeKV(string(ev.Kv.Key), ev.Kv.Value, ev.Type == clientv3.EventTypeDelete)
			if err != nil {
				if bad != nil {
					bad(string(ev.Kv.Key), err)
				}
				continue
			}
			if ok {
				batch.Objects = append(batch.Objects, obj)
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("store: watch channel closed")
}
