package globallb

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
)

// WeightedPicker picks clusters in proportion to a Table's shares. It is
// immutable; Pick is safe for concurrent use, never blocks, and does not
// allocate.
type WeightedPicker struct {
	clusters []string
	// cum[i] is the cumulative share up to and including clusters[i],
	// scaled to 1<<32; the last is 1<<32.
	cum []uint64
	// fallback are the healthy targets without a share, nearest priority
	// first: where a retry goes once it skipped every cluster with one.
	fallback []string
	rand     func() uint64
}

const scale = 1 << 32

// NewWeightedPicker returns a picker over t's targets with a share; rnd
// supplies uniform random numbers (nil: math/rand/v2).
func NewWeightedPicker(t *Table, rnd func() uint64) *WeightedPicker {
	if rnd == nil {
		rnd = rand.Uint64
	}
	p := &WeightedPicker{rand: rnd}
	var sum float64
	for _, r := range t.Rows {
		if r.Share > 0 {
			sum += r.Share
		} else if r.Healthy && !r.Excluded {
			p.fallback = append(p.fallback, r.Cluster)
		}
	}
	if sum == 0 {
		return p
	}
	var acc float64
	for _, r := range t.Rows {
		if r.Share <= 0 {
			continue
		}
		acc += r.Share
		p.clusters = append(p.clusters, r.Cluster)
		p.cum = append(p.cum, uint64(math.Round(acc/sum*scale)))
	}
	p.cum[len(p.cum)-1] = scale
	return p
}

// Pick implements Picker. With skip, the skipped clusters' shares are
// spread over the others in proportion; when every cluster with a share
// is skipped, the nearest healthy one without a share is picked, so a
// retry fails over to the next priority.
func (p *WeightedPicker) Pick(skip func(cluster string) bool) (string, bool) {
	n := len(p.clusters)
	if n == 0 {
		return "", false
	}
	r := p.rand() >> 32
	if skip == nil {
		lo, hi := 0, n-1
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if r < p.cum[mid] {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return p.clusters[lo], true
	}
	var total uint64
	for i := range n {
		if !skip(p.clusters[i]) {
			total += p.width(i)
		}
	}
	if total == 0 {
		for _, c := range p.fallback {
			if !skip(c) {
				return c, true
			}
		}
		return "", false
	}
	target := r * total / scale
	var acc uint64
	for i := range n {
		if skip(p.clusters[i]) {
			continue
		}
		acc += p.width(i)
		if target < acc {
			return p.clusters[i], true
		}
	}
	return "", false // not reached
}

func (p *WeightedPicker) width(i int) uint64 {
	if i == 0 {
		return p.cum[0]
	}
	return p.cum[i] - p.cum[i-1]
}

// Balancer is one service's load balancer. Update recomputes its table
// from new inputs (snapshot changes, health changes, the passing of time
// during a drain or a capped shift) on one goroutine at a time, and
// publishes an immutable picker that any number of goroutines use
// through Pick.
type Balancer struct {
	cfg  Config
	rand func() uint64
	cur  atomic.Pointer[published]

	// Owned by the updating goroutine.
	prev   map[string]float64
	prevAt int64 // unix nanoseconds of prev
}

type published struct {
	table  *Table
	picker *WeightedPicker
}

// NewBalancer returns a balancer that picks nothing until its first
// Update. rnd supplies uniform random numbers (nil: math/rand/v2); tests
// pass a deterministic source.
func NewBalancer(cfg Config, rnd func() uint64) *Balancer {
	b := &Balancer{cfg: cfg, rand: rnd}
	empty := &Table{}
	b.cur.Store(&published{table: empty, picker: NewWeightedPicker(empty, rnd)})
	return b
}

// Pick implements Picker.
func (b *Balancer) Pick(skip func(cluster string) bool) (string, bool) {
	return b.cur.Load().picker.Pick(skip)
}

// Table returns the current routing table (read only).
func (b *Balancer) Table() *Table { return b.cur.Load().table }

// Update computes the table for in and publishes it. It reports whether
// the table is in transition (a drain or slow start in progress, or a
// shift held back by the policy's max_shift_per_second), in which case
// the caller should call Update again soon (every 100 ms is plenty).
// Calls must not overlap.
func (b *Balancer) Update(in Input) (transitioning bool) {
	t := Compute(b.cfg, in)
	now := in.Now.UnixNano()
	if in.Policy != nil && in.Policy.MaxShiftPerSecond > 0 && b.prev != nil && now > b.prevAt {
		dt := float64(now-b.prevAt) / 1e9
		if capShift(t, b.prev, in.Policy.MaxShiftPerSecond*dt) {
			transitioning = true
		}
	}
	b.prev = make(map[string]float64, len(t.Rows))
	for _, r := range t.Rows {
		b.prev[r.Cluster] = r.Share
	}
	b.prevAt = now
	b.cur.Store(&published{table: t, picker: NewWeightedPicker(t, b.rand)})
	for _, tg := range in.Targets {
		if d, ok := in.Drains[tg.Cluster]; ok && in.Now.Before(d.StartedAt.Add(d.Period)) {
			transitioning = true
		}
		if h, ok := in.Health[tg.Cluster]; ok && h.Ramp > 0 && h.Ramp < 1 {
			transitioning = true
		}
	}
	return transitioning
}

// capShift limits every target's share increase over prev to limit (a
// share of traffic). What a capped target may not take yet goes first to
// targets still under their own limit, in proportion to their desired
// shares, and otherwise stays where it was: on the targets that are
// losing share, in proportion to what they lose. It reports whether any
// share was capped.
func capShift(t *Table, prev map[string]float64, limit float64) bool {
	var leftover float64
	capped := make([]bool, len(t.Rows))
	for i := range t.Rows {
		r := &t.Rows[i]
		if allowed := prev[r.Cluster] + limit; r.Share > allowed+1e-12 {
			leftover += r.Share - allowed
			r.Share = allowed
			capped[i] = true
		}
	}
	if leftover == 0 {
		return false
	}
	// Targets under their limit that get traffic anyway take what fits.
	var room float64
	for i, r := range t.Rows {
		if !capped[i] && r.Share > 0 {
			room += math.Max(0, prev[r.Cluster]+limit-r.Share)
		}
	}
	if room > 0 {
		give := math.Min(leftover, room)
		for i := range t.Rows {
			r := &t.Rows[i]
			if !capped[i] && r.Share > 0 {
				r.Share += give * math.Max(0, prev[r.Cluster]+limit-r.Share) / room
			}
		}
		leftover -= give
	}
	// The rest stays on the targets losing share, unless they are
	// excluded (drained, never); failing that, the cap gives way.
	var losing float64
	for _, r := range t.Rows {
		if !r.Excluded {
			losing += math.Max(0, prev[r.Cluster]-r.Share)
		}
	}
	if leftover > 0 && losing > 0 {
		for i := range t.Rows {
			r := &t.Rows[i]
			if lost := prev[r.Cluster] - r.Share; lost > 0 && !r.Excluded {
				r.Share += leftover * lost / losing
			}
		}
		leftover = 0
	}
	if leftover > 0 {
		var c float64
		for i, r := range t.Rows {
			if capped[i] {
				c += r.Share
			}
		}
		for i := range t.Rows {
			if capped[i] && c > 0 {
				t.Rows[i].Share += leftover * t.Rows[i].Share / c
			}
		}
	}
	for i := range t.Load {
		t.Load[i] = 0
	}
	for _, r := range t.Rows {
		t.Load[r.Priority] += r.Share
	}
	return true
}
