package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// recorder keeps, for every watcher and export, when the watcher first
// held the export in its expected state. Times are nanoseconds since
// epoch plus one, so that zero means "not yet". It is safe for
// concurrent use: each watcher writes its own row.
type recorder struct {
	epoch    time.Time
	exports  int
	watchers int
	seen     []atomic.Int64 // watchers*exports
	counts   []atomic.Int64 // per watcher: exports seen
	synced   []atomic.Bool  // per watcher: initial snapshot (or watch created) received
	resyncs  atomic.Int64   // snapshots or re-created watches after the first
	failures atomic.Int64   // stream errors a watcher retried after

	mu  sync.Mutex
	err error // first fatal watcher error
}

func newRecorder(watchers, exports int) *recorder {
	return &recorder{
		epoch: time.Now(), exports: exports, watchers: watchers,
		seen:   make([]atomic.Int64, watchers*exports),
		counts: make([]atomic.Int64, watchers),
		synced: make([]atomic.Bool, watchers),
	}
}

// now is the current time in the recorder's units.
func (r *recorder) now() int64 { return int64(time.Since(r.epoch)) + 1 }

// saw records that watcher w holds export i since t; later calls for the
// same pair are ignored.
func (r *recorder) saw(w, i int, t int64) {
	if i < 0 || i >= r.exports {
		return
	}
	if r.seen[w*r.exports+i].CompareAndSwap(0, t) {
		r.counts[w].Add(1)
	}
}

// fail records a watcher's fatal error; wait returns the first one.
func (r *recorder) fail(w int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = fmt.Errorf("watcher %d: %w", w, err)
	}
}

// wait polls until cond holds, a watcher failed, ctx is done or the
// timeout passes; what describes the condition in the error.
func (r *recorder) wait(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err != nil {
			return err
		}
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %v (%s)", what, timeout, r.progress())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (r *recorder) allSynced() bool {
	for i := range r.synced {
		if !r.synced[i].Load() {
			return false
		}
	}
	return true
}

func (r *recorder) allSeen() bool {
	for i := range r.counts {
		if r.counts[i].Load() < int64(r.exports) {
			return false
		}
	}
	return true
}

// progress describes the slowest watcher, for timeout errors.
func (r *recorder) progress() string {
	synced, low, lowW := 0, int64(r.exports), 0
	for w := range r.counts {
		if r.synced[w].Load() {
			synced++
		}
		if c := r.counts[w].Load(); c < low {
			low, lowW = c, w
		}
	}
	return fmt.Sprintf("%d of %d watchers synced; slowest, watcher %d, has %d of %d exports", synced, r.watchers, lowW, low, r.exports)
}

// writeFunc writes exports [lo, hi) as burst b and returns once they are
// acknowledged.
type writeFunc func(ctx context.Context, b, lo, hi int) error

// writes is what the writer measured: per export, when its burst was sent
// and acknowledged (recorder units).
type writes struct {
	sent, ack []int64
	bursts    []time.Duration // how long each burst's call took
}

// writeBursts writes n exports in bursts, starting burst b at
// b*interval after the first unless the previous burst is still running
// (one writer, so bursts never overlap). Each call is bounded by
// callTimeout.
func writeBursts(ctx context.Context, r *recorder, n, burst int, interval, callTimeout time.Duration, write writeFunc) (writes, error) {
	w := writes{sent: make([]int64, n), ack: make([]int64, n)}
	start := time.Now()
	for b, lo := 0, 0; lo < n; b, lo = b+1, lo+burst {
		hi := min(lo+burst, n)
		if d := time.Until(start.Add(time.Duration(b) * interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return w, ctx.Err()
			case <-t.C:
			}
		}
		sent := r.now()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := write(cctx, b, lo, hi)
		cancel()
		if err != nil {
			return w, fmt.Errorf("burst %d (exports %d-%d): %w", b, lo, hi-1, err)
		}
		ack := r.now()
		for i := lo; i < hi; i++ {
			w.sent[i], w.ack[i] = sent, ack
		}
		w.bursts = append(w.bursts, time.Duration(ack-sent))
	}
	return w, nil
}

// result is what one system (meshfed or raw etcd) achieved in a scenario.
type result struct {
	watchers int
	bursts   int
	// writeTime is from the first burst sent to the last acknowledged.
	writeTime time.Duration
	rate      float64 // exports per second over writeTime
	burstTime dist    // duration of one burst's call
	// fromAck is acknowledged write -> last watcher, clamped at 0;
	// clamped counts exports the last watcher had before the ack.
	fromAck dist
	clamped int
	// fromSent is burst sent -> last watcher: an upper bound that includes
	// the write itself.
	fromSent dist
	// spread is first watcher -> last watcher: the cost of fan-out.
	spread dist
	// tail is last acknowledgement -> last receipt anywhere.
	tail time.Duration
	// laggards counts watchers that were ever more than lagLimit behind
	// the first watcher; worstLag is the most any watcher was behind.
	laggards int
	worstLag time.Duration
	resyncs  int64
	failures int64
	cpu      cpuUse
}

// lagLimit is how far behind the first watcher a watcher may be before it
// counts as a laggard.
const lagLimit = 100 * time.Millisecond

// dist is a latency distribution.
type dist struct{ p50, p90, p99, max time.Duration }

func distOf(d []time.Duration) dist {
	if len(d) == 0 {
		return dist{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return dist{p50: benchkit.Percentile(s, 50), p90: benchkit.Percentile(s, 90), p99: benchkit.Percentile(s, 99), max: s[len(s)-1]}
}

// summarize turns the recorder's receipts and the writer's times into a
// result. Every export must have been seen by every watcher.
func summarize(r *recorder, w writes) (result, error) {
	n := r.exports
	res := result{watchers: r.watchers, bursts: len(w.bursts), burstTime: distOf(w.bursts), resyncs: r.resyncs.Load(), failures: r.failures.Load()}
	fromAck := make([]time.Duration, n)
	fromSent := make([]time.Duration, n)
	spread := make([]time.Duration, n)
	var lastAck, lastSeen int64
	behind := make([]time.Duration, r.watchers) // per watcher: most behind the first
	for i := range n {
		first, last := int64(0), int64(0)
		for wi := range r.watchers {
			t := r.seen[wi*n+i].Load()
			if t == 0 {
				return res, fmt.Errorf("export %d was never seen by watcher %d", i, wi)
			}
			if first == 0 || t < first {
				first = t
			}
			last = max(last, t)
		}
		for wi := range r.watchers {
			behind[wi] = max(behind[wi], time.Duration(r.seen[wi*n+i].Load()-first))
		}
		d := time.Duration(last - w.ack[i])
		if d < 0 {
			d = 0
			res.clamped++
		}
		fromAck[i] = d
		fromSent[i] = time.Duration(last - w.sent[i])
		spread[i] = time.Duration(last - first)
		lastAck, lastSeen = max(lastAck, w.ack[i]), max(lastSeen, last)
	}
	res.fromAck, res.fromSent, res.spread = distOf(fromAck), distOf(fromSent), distOf(spread)
	res.writeTime = time.Duration(lastAck - w.sent[0])
	if res.writeTime > 0 {
		res.rate = float64(n) / res.writeTime.Seconds()
	}
	res.tail = max(time.Duration(lastSeen-lastAck), 0)
	for _, b := range behind {
		if b > lagLimit {
			res.laggards++
		}
		res.worstLag = max(res.worstLag, b)
	}
	return res, nil
}
