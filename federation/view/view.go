package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meshfed/meshfed/federation/imports"
	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/backoff"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Source is what a View reads: a store.Store satisfies it.
type Source interface {
	Load(ctx context.Context, bad func(key string, err error)) (int64, []store.Object, error)
	Watch(ctx context.Context, after int64, bad func(key string, err error), fn func(store.Batch) error) error
}

// Config configures a View. Source is required.
type Config struct {
	Source Source
	Logger *slog.Logger
	// HistorySize is how many versions are kept for resumption; zero
	// means 10000.
	HistorySize int
	// MaxChangesPerResponse caps how many changes Next merges into one
	// response; zero means 1000.
	MaxChangesPerResponse int
	// RetryInterval is the pause before re-watching after an etcd error;
	// zero means 500 ms.
	RetryInterval time.Duration
	// OnVersion, if set, is called with each version applied (for metrics).
	OnVersion func(int64)
}

// View is the versioned in-memory state. Create it with New, start it with
// Run; it is safe for concurrent use.
type View struct {
	cfg    Config
	log    *slog.Logger
	loaded chan struct{}

	mu       sync.RWMutex
	version  int64 // last applied etcd revision
	floor    int64 // resumption is possible from any version >= floor
	clusters map[string]*meshfedv1.Cluster
	presence map[string]*meshfedv1.Presence
	exports  map[string][]*meshfedv1.Export // service key -> exports, one per cluster (few: a slice costs less than a map)
	imports  map[string]*meshfedv1.Import
	bundles  map[string]*meshfedv1.Bundle
	policies map[string]*meshfedv1.Policy
	drains   map[string]*meshfedv1.Drain
	history  []entry       // versions in (floor, version], ascending
	changed  chan struct{} // closed and replaced on every change

	// The encoding of the last snapshot handed out, shared by the
	// subscribers that start at the same version.
	snapMu      sync.Mutex
	snapVersion int64
	snapEnc     []byte
}

// entry is one version's changes, encoded once as a WatchResponse and
// sent as is to every subscriber.
type entry struct {
	version int64
	changes int
	enc     []byte
}

// Message is what a subscriber receives: the wire encoding of one
// meshfedv1.WatchResponse, in parts that are shared between subscribers
// and must not be modified. Protobuf merges concatenated encodings, so the
// parts together encode one response whose changes are those of every
// part and whose version is the last part's.
type Message struct {
	Version  int64
	Snapshot bool
	Parts    [][]byte
}

// Decode returns the response the message encodes.
func (m Message) Decode() (*meshfedv1.WatchResponse, error) {
	var buf []byte
	for _, p := range m.Parts {
		buf = append(buf, p...)
	}
	resp := new(meshfedv1.WatchResponse)
	if err := proto.Unmarshal(buf, resp); err != nil {
		return nil, fmt.Errorf("view: decode message at version %d: %w", m.Version, err)
	}
	return resp, nil
}

// New returns a View; call Run to fill it.
func New(cfg Config) (*View, error) {
	if cfg.Source == nil {
		return nil, errors.New("view: Config.Source is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = 10000
	}
	if cfg.MaxChangesPerResponse <= 0 {
		cfg.MaxChangesPerResponse = 1000
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 500 * time.Millisecond
	}
	if cfg.OnVersion == nil {
		cfg.OnVersion = func(int64) {}
	}
	v := &View{cfg: cfg, log: cfg.Logger, loaded: make(chan struct{}), changed: make(chan struct{})}
	v.resetLocked()
	return v, nil
}

func (v *View) resetLocked() {
	v.clusters = map[string]*meshfedv1.Cluster{}
	v.presence = map[string]*meshfedv1.Presence{}
	v.exports = map[string][]*meshfedv1.Export{}
	v.imports = map[string]*meshfedv1.Import{}
	v.bundles = map[string]*meshfedv1.Bundle{}
	v.policies = map[string]*meshfedv1.Policy{}
	v.drains = map[string]*meshfedv1.Drain{}
	v.history = nil
}

// Loaded is closed once the first load has been applied.
func (v *View) Loaded() <-chan struct{} { return v.loaded }

// Version returns the last applied version.
func (v *View) Version() int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.version
}

// Run loads the state and follows etcd until ctx is done, re-loading after
// a compaction and retrying after errors. It returns ctx.Err().
func (v *View) Run(ctx context.Context) error {
	bad := func(key string, err error) { v.log.Warn("skipping undecodable key", "key", key, "error", err) }
	for {
		rev, objs, err := v.cfg.Source.Load(ctx, bad)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			v.log.Warn("load failed, retrying", "error", err)
			if !backoff.Sleep(ctx, v.cfg.RetryInterval) {
				return ctx.Err()
			}
			continue
		}
		v.replace(rev, objs)
		for {
			err = v.cfg.Source.Watch(ctx, v.Version(), bad, v.apply)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, store.ErrCompacted) {
				v.log.Info("watch compacted, re-loading", "version", v.Version())
				break
			}
			v.log.Warn("watch failed, resuming", "version", v.Version(), "error", err)
			if !backoff.Sleep(ctx, v.cfg.RetryInterval) {
				return ctx.Err()
			}
		}
	}
}

// replace installs a full load. The history is dropped, so every
// subscriber behind rev gets a snapshot.
func (v *View) replace(rev int64, objs []store.Object) {
	v.mu.Lock()
	v.resetLocked()
	touched := map[string]bool{}
	for _, o := range objs {
		v.setLocked(o, touched)
	}
	for k := range touched {
		v.deriveLocked(k)
	}
	v.version, v.floor = rev, rev
	v.notifyLocked()
	v.mu.Unlock()
	select {
	case <-v.loaded:
	default:
		close(v.loaded)
	}
	v.cfg.OnVersion(rev)
}

// apply applies one etcd revision.
func (v *View) apply(b store.Batch) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if b.Revision <= v.version {
		return nil // already applied (a resumed watch)
	}
	resp := &meshfedv1.WatchResponse{Version: b.Revision}
	touched := map[string]bool{}
	for _, o := range b.Objects {
		if c := v.setLocked(o, touched); c != nil {
			c.Version = b.Revision
			resp.Changes = append(resp.Changes, c)
		}
	}
	keys := make([]string, 0, len(touched))
	for k := range touched {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := &meshfedv1.Change{Kind: meshfedv1.Change_KIND_IMPORT, Key: k, Version: b.Revision}
		if imp := v.deriveLocked(k); imp != nil {
			c.Import = imp
		} else {
			c.Deleted = true
		}
		resp.Changes = append(resp.Changes, c)
	}
	v.version = b.Revision
	if len(resp.Changes) > 0 {
		enc, err := proto.Marshal(resp)
		if err != nil {
			return fmt.Errorf("view: encode version %d: %w", b.Revision, err)
		}
		v.history = append(v.history, entry{version: b.Revision, changes: len(resp.Changes), enc: enc})
		if over := len(v.history) - v.cfg.HistorySize; over > 0 {
			v.floor = v.history[over-1].version
			v.history = append([]entry(nil), v.history[over:]...)
		}
	}
	v.notifyLocked()
	v.cfg.OnVersion(b.Revision)
	return nil
}

func (v *View) notifyLocked() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// setLocked applies one object and returns the change to publish, or nil
// for exports (which publish as imports, via touched).
func (v *View) setLocked(o store.Object, touched map[string]bool) *meshfedv1.Change {
	c := &meshfedv1.Change{Key: o.Name, Deleted: o.Deleted}
	switch o.Kind {
	case store.KindCluster:
		c.Kind = meshfedv1.Change_KIND_CLUSTER
		setOrDelete(v.clusters, o, func(m proto.Message) { c.Cluster = m.(*meshfedv1.Cluster) })
	case store.KindPresence:
		c.Kind = meshfedv1.Change_KIND_PRESENCE
		setOrDelete(v.presence, o, func(m proto.Message) { c.Presence = m.(*meshfedv1.Presence) })
	case store.KindBundle:
		c.Kind = meshfedv1.Change_KIND_BUNDLE
		setOrDelete(v.bundles, o, func(m proto.Message) { c.Bundle = m.(*meshfedv1.Bundle) })
	case store.KindPolicy:
		c.Kind = meshfedv1.Change_KIND_POLICY
		setOrDelete(v.policies, o, func(m proto.Message) { c.Policy = m.(*meshfedv1.Policy) })
	case store.KindDrain:
		c.Kind = meshfedv1.Change_KIND_DRAIN
		setOrDelete(v.drains, o, func(m proto.Message) { c.Drain = m.(*meshfedv1.Drain) })
	case store.KindExport:
		cluster, svc, ok := splitExportName(o.Name)
		if !ok {
			return nil
		}
		list := v.exports[svc]
		at := slices.IndexFunc(list, func(e *meshfedv1.Export) bool { return e.GetCluster() == cluster })
		switch {
		case o.Deleted && at >= 0:
			list = slices.Delete(list, at, at+1)
		case o.Deleted:
		case at >= 0:
			list[at] = o.Msg.(*meshfedv1.Export)
		default:
			list = append(list, o.Msg.(*meshfedv1.Export))
		}
		if len(list) == 0 {
			delete(v.exports, svc)
		} else {
			v.exports[svc] = list
		}
		touched[svc] = true
		return nil
	default:
		return nil
	}
	return c
}

func setOrDelete[T proto.Message](m map[string]T, o store.Object, set func(proto.Message)) {
	if o.Deleted {
		delete(m, o.Name)
		return
	}
	m[o.Name] = o.Msg.(T)
	set(o.Msg)
}

// splitExportName splits "cluster/namespace/name".
func splitExportName(s string) (cluster, svc string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func (v *View) deriveLocked(svc string) *meshfedv1.Import {
	list := v.exports[svc]
	if len(list) == 0 {
		delete(v.imports, svc)
		return nil
	}
	imp := imports.Derive(list)
	v.imports[svc] = imp
	return imp
}

// snapshotLocked returns the encoded snapshot at the current version.
func (v *View) snapshotLocked() ([]byte, error) {
	v.snapMu.Lock()
	defer v.snapMu.Unlock()
	if v.snapEnc != nil && v.snapVersion == v.version {
		return v.snapEnc, nil
	}
	resp := &meshfedv1.WatchResponse{Version: v.version, Snapshot: &meshfedv1.Snapshot{
		Clusters: sortedValues(v.clusters),
		Presence: sortedValues(v.presence),
		Imports:  sortedValues(v.imports),
		Bundles:  sortedValues(v.bundles),
		Policies: sortedValues(v.policies),
		Drains:   sortedValues(v.drains),
	}}
	enc, err := proto.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("view: encode snapshot at %d: %w", v.version, err)
	}
	v.snapVersion, v.snapEnc = v.version, enc
	return enc, nil
}

func sortedValues[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// Bundle returns the stored bundle of a trust domain, if any. The result
// is shared and must not be modified.
func (v *View) Bundle(trustDomain string) (*meshfedv1.Bundle, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b, ok := v.bundles[trustDomain]
	return b, ok
}

// Bundles returns every stored bundle, sorted by trust domain. The
// records are shared and must not be modified.
func (v *View) Bundles() []*meshfedv1.Bundle {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return sortedValues(v.bundles)
}

// Cluster returns a cluster record, if any. The result is shared and must
// not be modified.
func (v *View) Cluster(name string) (*meshfedv1.Cluster, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c, ok := v.clusters[name]
	return c, ok
}

// Subscribe starts a subscription that resumes after version resume (0 for
// a fresh snapshot). Close it when done.
func (v *View) Subscribe(resume int64) *Subscription {
	return &Subscription{v: v, cursor: resume, needSnapshot: resume <= 0}
}

// Subscription is one watcher's position in the view. It is not safe for
// concurrent use.
type Subscription struct {
	v            *View
	cursor       int64
	needSnapshot bool
}

// ErrResumeAhead is returned when a subscriber resumes from a version
// this replica has not reached within the wait.
var ErrResumeAhead = errors.New("view: resume version is ahead of this replica")

// Next blocks until there is something after the subscription's cursor and
// returns it: a snapshot when the cursor cannot be resumed, otherwise the
// changes after the cursor (several versions may be merged, up to
// MaxChangesPerResponse changes). It returns ctx.Err() when ctx is done.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	select {
	case <-s.v.loaded:
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
	for {
		s.v.mu.RLock()
		changed := s.v.changed
		msg, ok, err := s.nextLocked()
		s.v.mu.RUnlock()
		if err != nil || ok {
			return msg, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

func (s *Subscription) nextLocked() (Message, bool, error) {
	v := s.v
	if !s.needSnapshot && s.cursor < v.floor {
		s.needSnapshot = true
	}
	if s.needSnapshot {
		enc, err := v.snapshotLocked()
		if err != nil {
			return Message{}, false, err
		}
		s.cursor, s.needSnapshot = v.version, false
		return Message{Version: v.version, Snapshot: true, Parts: [][]byte{enc}}, true, nil
	}
	if s.cursor >= v.version {
		return Message{}, false, nil // nothing new (or the client is ahead: wait for it)
	}
	i := sort.Search(len(v.history), func(i int) bool { return v.history[i].version > s.cursor })
	if i == len(v.history) {
		// Versions after the cursor produced no changes.
		s.cursor = v.version
		return Message{}, false, nil
	}
	var msg Message
	changes := 0
	for ; i < len(v.history); i++ {
		h := v.history[i]
		if changes > 0 && changes+h.changes > v.cfg.MaxChangesPerResponse {
			break
		}
		changes += h.changes
		msg.Parts = append(msg.Parts, h.enc)
		msg.Version = h.version
	}
	s.cursor = msg.Version
	if i == len(v.history) {
		// Versions after the last change produced no changes.
		s.cursor = v.version
	}
	return msg, true, nil
}

// String describes the view for logs.
func (v *View) String() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return fmt.Sprintf("view{version=%d floor=%d clusters=%d imports=%d}", v.version, v.floor, len(v.clusters), len(v.imports))
}
