package drill

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Windows the measurements use (docs/drills.md defines each metric).
const (
	// moveWindow is the window of the failover and failback measures.
	moveWindow = 250 * time.Millisecond
	// seriesWindow is the window of the per-second series, the progress
	// lines and the p99 gate.
	seriesWindow = time.Second
	// minP99Samples: a window with fewer requests has no p99.
	minP99Samples = 10
	// movedShare is the share of a window's requests that must avoid the
	// scope for traffic to count as moved (time_to_failover).
	movedShare = 0.99
	// failbackShare of the baseline share the scope must get back.
	failbackShare = 0.9
)

// Record is one request of the drill's traffic.
type Record struct {
	// Client is the cluster whose forward proxy sent it.
	Client   string
	Protocol string
	// Sent is when the request started, from the start of the traffic.
	// The generator is open loop: a slow answer never delays the next
	// request.
	Sent time.Duration
	// Latency is from Sent to the response (or the error). Valid once
	// Done.
	Latency time.Duration
	Done    bool
	// Cluster that served it; "" when it failed.
	Cluster string
	// Err says why it failed: transport error, HTTP status or gRPC code.
	Err string
}

// Failed reports whether the request failed.
func (r *Record) Failed() bool { return r.Done && r.Err != "" }

// Phases are the drill's moments, as offsets from the start of traffic.
type Phases struct {
	// Injected: the runner issued the fault.
	Injected time.Duration
	// RolledBack: the runner started undoing it; Restored: the fault was
	// gone (a killed gateway ready again; for other faults the same as
	// RolledBack).
	RolledBack, Restored time.Duration
	// End: the traffic stopped.
	End time.Duration
}

// RouteSample is one reading of a client cluster's gateway routing table
// for the drill's service (/debug/routes).
type RouteSample struct {
	At     time.Duration
	Client string
	// ScopeShare is the share of traffic the table gives the scope.
	ScopeShare float64
	// ScopeUnhealthy: a scope row is unhealthy, drained or ejected.
	ScopeUnhealthy bool
}

// Analysis is what Analyze measures. Durations are nil when they do not
// apply or were not reached (docs/drills.md says when).
type Analysis struct {
	Total, Failed int
	ErrorRate     float64
	// BaselineShare is the scope's share of the warmup's successful
	// requests; BaselineP99 their 99th percentile latency.
	BaselineShare float64
	BaselineP99   time.Duration
	// SlowThreshold: a request served outside the scope but slower than
	// this was held up by the fault first (see docs/drills.md).
	SlowThreshold time.Duration
	Detect        *time.Duration
	FailoverFirst *time.Duration
	Failover      *time.Duration
	Failback      *time.Duration
	// FaultP99 is the 99th percentile latency of requests sent while the
	// fault was on (0 without any).
	FaultP99 time.Duration
	// MaxWindowP99 is the largest p99 of a one-second window (by send
	// time) over the whole drill, and the window's start.
	MaxWindowP99   time.Duration
	MaxWindowP99At time.Duration
	// During the fault: requests served by the scope, served elsewhere
	// promptly, served elsewhere after being held up, and failed.
	FaultScope, FaultMoved, FaultDelayed, FaultFailed int
	// Served counts successful requests by serving cluster.
	Served map[string]int
	// Clients breaks the counts down by client cluster and protocol.
	Clients []ClientCounts
	// Series has one entry per second of traffic.
	Series []SeriesPoint
}

// ClientCounts are one client cluster's requests of one protocol.
type ClientCounts struct {
	Client   string         `json:"client"`
	Protocol string         `json:"protocol"`
	Requests int            `json:"requests"`
	Failed   int            `json:"failed"`
	Served   map[string]int `json:"served"`
	// BaselineShare is the scope's share of this client's warmup.
	BaselineShare float64 `json:"baseline_share"`
}

// SeriesPoint is one second of traffic (requests by send time).
type SeriesPoint struct {
	// T is the window's start in seconds from the start of traffic.
	T        float64 `json:"t"`
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	// Share of the window's requests served by each cluster (failed
	// requests are the rest).
	Share map[string]float64 `json:"share"`
	// P99MS is the window's p99 latency in ms; null with fewer than 10
	// requests.
	P99MS *float64 `json:"p99_ms"`
}

// Analyze measures a drill from its request log (in any order), the
// scope's clusters, its phases and the routing-table samples. It is a
// pure function.
func Analyze(recs []Record, scope []string, ph Phases, routes []RouteSample) *Analysis {
	a := &Analysis{Served: map[string]int{}}
	inScope := func(c string) bool { return slices.Contains(scope, c) }
	done := make([]*Record, 0, len(recs))
	for i := range recs {
		if recs[i].Done {
			done = append(done, &recs[i])
		}
	}
	sort.SliceStable(done, func(i, j int) bool { return done[i].Sent < done[j].Sent })

	// Totals and the baseline.
	var baseLat []time.Duration
	baseOK, baseScope := 0, 0
	clients := map[[2]string]*ClientCounts{}
	clientBase := map[string][2]int{} // client -> {ok, to scope} during warmup
	for _, r := range done {
		a.Total++
		key := [2]string{r.Client, r.Protocol}
		cc := clients[key]
		if cc == nil {
			cc = &ClientCounts{Client: r.Client, Protocol: r.Protocol, Served: map[string]int{}}
			clients[key] = cc
		}
		cc.Requests++
		if r.Failed() {
			a.Failed++
			cc.Failed++
		} else {
			a.Served[r.Cluster]++
			cc.Served[r.Cluster]++
		}
		// The baseline is what was answered before the fault: a request
		// in flight at the injection may already be affected by it.
		if r.Sent+r.Latency < ph.Injected && !r.Failed() {
			baseOK++
			baseLat = append(baseLat, r.Latency)
			cb := clientBase[r.Client]
			cb[0]++
			if inScope(r.Cluster) {
				baseScope++
				cb[1]++
			}
			clientBase[r.Client] = cb
		}
	}
	if a.Total > 0 {
		a.ErrorRate = float64(a.Failed) / float64(a.Total)
	}
	if baseOK > 0 {
		a.BaselineShare = float64(baseScope) / float64(baseOK)
	}
	a.BaselineP99 = percentile(baseLat, 0.99)
	a.SlowThreshold = max(3*a.BaselineP99, a.BaselineP99+250*time.Millisecond)
	for _, cc := range clients {
		if cb := clientBase[cc.Client]; cb[0] > 0 {
			cc.BaselineShare = float64(cb[1]) / float64(cb[0])
		}
		a.Clients = append(a.Clients, *cc)
	}
	sort.Slice(a.Clients, func(i, j int) bool {
		if a.Clients[i].Client != a.Clients[j].Client {
			return a.Clients[i].Client < a.Clients[j].Client
		}
		return a.Clients[i].Protocol < a.Clients[j].Protocol
	})

	moved := func(r *Record) bool {
		return !r.Failed() && !inScope(r.Cluster) && r.Latency <= a.SlowThreshold
	}

	// During the fault.
	var faultLat []time.Duration
	for _, r := range done {
		if r.Sent < ph.Injected || r.Sent >= ph.RolledBack {
			continue
		}
		faultLat = append(faultLat, r.Latency)
		switch {
		case r.Failed():
			a.FaultFailed++
		case inScope(r.Cluster):
			a.FaultScope++
		case moved(r):
			a.FaultMoved++
		default:
			a.FaultDelayed++
		}
	}
	a.FaultP99 = percentile(faultLat, 0.99)

	if a.BaselineShare > 0 {
		a.FailoverFirst = failoverFirst(done, ph, clientBase, moved, a.BaselineShare)
		a.Failover = failover(done, ph, moved)
		// Windows start before their first request: never report 99%
		// moved before the first request did.
		if a.Failover != nil && a.FailoverFirst != nil && *a.Failover < *a.FailoverFirst {
			d := *a.FailoverFirst
			a.Failover = &d
		}
		a.Failback = failback(done, ph, inScope, a.BaselineShare)
	}
	a.Detect = detect(routes, ph)

	// Per-second series and the largest window p99.
	if n := int(math.Ceil(float64(ph.End) / float64(seriesWindow))); n > 0 {
		a.Series = make([]SeriesPoint, n)
		lats := make([][]time.Duration, n)
		counts := make([]map[string]int, n)
		for i := range a.Series {
			a.Series[i] = SeriesPoint{T: float64(i) * seriesWindow.Seconds(), Share: map[string]float64{}}
			counts[i] = map[string]int{}
		}
		for _, r := range done {
			i := int(r.Sent / seriesWindow)
			if i < 0 || i >= n {
				continue
			}
			a.Series[i].Requests++
			lats[i] = append(lats[i], r.Latency)
			if r.Failed() {
				a.Series[i].Failed++
			} else {
				counts[i][r.Cluster]++
			}
		}
		for i := range a.Series {
			p := &a.Series[i]
			for c, k := range counts[i] {
				p.Share[c] = float64(k) / float64(p.Requests)
			}
			if len(lats[i]) >= minP99Samples {
				v := percentile(lats[i], 0.99)
				v10 := math.Round(float64(v)/float64(time.Millisecond)*10) / 10
				p.P99MS = &v10
				if v > a.MaxWindowP99 {
					a.MaxWindowP99, a.MaxWindowP99At = v, time.Duration(i)*seriesWindow
				}
			}
		}
	}
	return a
}

// failoverFirst: see docs/drills.md, time_to_failover_first_ms.
func failoverFirst(done []*Record, ph Phases, clientBase map[string][2]int, moved func(*Record) bool, base float64) *time.Duration {
	allScope := map[string]bool{}
	for c, cb := range clientBase {
		allScope[c] = cb[0] > 0 && float64(cb[1]) >= movedShare*float64(cb[0])
	}
	anyAllScope := false
	for _, v := range allScope {
		anyAllScope = anyAllScope || v
	}
	if anyAllScope {
		var best *time.Duration
		for _, r := range done {
			if r.Sent < ph.Injected || r.Sent >= ph.RolledBack || !allScope[r.Client] || !moved(r) {
				continue
			}
			d := r.Sent + r.Latency - ph.Injected
			if best == nil || d < *best {
				best = &d
			}
		}
		return best
	}
	// Split baselines: the first window in which half the scope's
	// baseline share moved (promptly) elsewhere.
	for _, w := range windows(done, ph.Injected, ph.RolledBack) {
		if len(w.recs) == 0 {
			continue
		}
		n := 0
		for _, r := range w.recs {
			if moved(r) {
				n++
			}
		}
		if float64(n)/float64(len(w.recs)) >= 1-base/2 {
			d := w.start - ph.Injected
			return &d
		}
	}
	return nil
}

// failover: the start of the first window after which every window's
// requests moved (at least movedShare of them).
func failover(done []*Record, ph Phases, moved func(*Record) bool) *time.Duration {
	// Requests sent in the last window before the rollback may be
	// answered after it: they are not judged.
	end := ph.RolledBack
	if end-moveWindow > ph.Injected {
		end -= moveWindow
	}
	ws := windows(done, ph.Injected, end)
	var at *time.Duration
	for _, w := range ws {
		if len(w.recs) == 0 {
			continue
		}
		n := 0
		for _, r := range w.recs {
			if moved(r) {
				n++
			}
		}
		if float64(n)/float64(len(w.recs)) >= movedShare {
			if at == nil {
				d := w.start - ph.Injected
				at = &d
			}
		} else {
			at = nil
		}
	}
	return at
}

// failback: the start of the first window after the fault was removed in
// which the scope got failbackShare of its baseline share back.
func failback(done []*Record, ph Phases, inScope func(string) bool, base float64) *time.Duration {
	for _, w := range windows(done, ph.Restored, ph.End) {
		if len(w.recs) == 0 {
			continue
		}
		n := 0
		for _, r := range w.recs {
			if !r.Failed() && inScope(r.Cluster) {
				n++
			}
		}
		if float64(n)/float64(len(w.recs)) >= failbackShare*base {
			d := w.start - ph.Restored
			return &d
		}
	}
	return nil
}

// detect: the first routing-table sample after the injection in which a
// client cluster's gateway gave the scope less than before, or marked it
// unhealthy.
func detect(samples []RouteSample, ph Phases) *time.Duration {
	sorted := slices.Clone(samples)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At < sorted[j].At })
	before := map[string]RouteSample{}
	for _, s := range sorted {
		if s.At < ph.Injected {
			before[s.Client] = s
			continue
		}
		if s.At >= ph.RolledBack {
			break
		}
		b, ok := before[s.Client]
		if !ok {
			continue
		}
		if s.ScopeShare < b.ScopeShare-0.01 || (s.ScopeUnhealthy && !b.ScopeUnhealthy) {
			d := s.At - ph.Injected
			return &d
		}
	}
	return nil
}

type window struct {
	start time.Duration
	recs  []*Record
}

// windows splits the records sent in [from, to) into moveWindow windows
// aligned at from. done must be sorted by Sent.
func windows(done []*Record, from, to time.Duration) []window {
	if to <= from {
		return nil
	}
	n := int((to - from + moveWindow - 1) / moveWindow)
	ws := make([]window, n)
	for i := range ws {
		ws[i].start = from + time.Duration(i)*moveWindow
	}
	for _, r := range done {
		if r.Sent < from || r.Sent >= to {
			continue
		}
		i := int((r.Sent - from) / moveWindow)
		ws[i].recs = append(ws[i].recs, r)
	}
	return ws
}

// percentile is the nearest-rank q-quantile of ds (0 when empty).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
