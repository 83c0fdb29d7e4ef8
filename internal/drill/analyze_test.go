package drill_test

import (
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/drill"
)

const ms = time.Millisecond

// synth builds a request log: one request every 10 ms from client "c"
// for the span [0, end), served as serve says.
func synth(end time.Duration, serve func(sent time.Duration) (cluster string, latency time.Duration, err string)) []drill.Record {
	var recs []drill.Record
	for t := time.Duration(0); t < end; t += 10 * ms {
		c, lat, err := serve(t)
		recs = append(recs, drill.Record{Client: "c", Protocol: "http", Sent: t, Latency: lat, Done: true, Cluster: c, Err: err})
	}
	return recs
}

func dur(d *time.Duration) string {
	if d == nil {
		return "nil"
	}
	return d.String()
}

func TestAnalyze(t *testing.T) {
	ph := drill.Phases{Injected: 2 * time.Second, RolledBack: 6 * time.Second, Restored: 6 * time.Second, End: 9 * time.Second}
	for _, c := range []struct {
		name  string
		recs  []drill.Record
		ph    drill.Phases
		check func(t *testing.T, a *drill.Analysis)
	}{
		{
			name: "kill: requests retried elsewhere at once",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				if s >= 2*time.Second && s < 7*time.Second {
					return "west", 12 * ms, "" // fails over at once, back 1 s after the rollback
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "total", a.Total, 900)
				want(t, "failed", a.Failed, 0)
				want(t, "baseline share", a.BaselineShare, 1.0)
				want(t, "first", dur(a.FailoverFirst), "12ms")
				want(t, "99%", dur(a.Failover), "12ms") // the first window, but not before the first request

				want(t, "failback", dur(a.Failback), "1s")
				want(t, "moved", a.FaultMoved, 400)
				want(t, "fault p99", a.FaultP99, 12*ms)
				want(t, "served", a.Served["west"], 500)
			},
		},
		{
			name: "blackhole: held up until 1.3 s, then moved",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				switch {
				case s >= 2*time.Second && s < 3300*ms:
					return "west", 3300*ms - s + 5*time.Second, "" // stuck until the per-try timeout
				case s >= 3300*ms && s < 6*time.Second:
					return "west", 8 * ms, ""
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "slow threshold", a.SlowThreshold, 255*ms)
				want(t, "first", dur(a.FailoverFirst), "1.308s")
				want(t, "99%", dur(a.Failover), "1.5s") // the window [1.25 s, 1.5 s) still had stuck requests
				want(t, "delayed", a.FaultDelayed, 130)
				want(t, "failback", dur(a.Failback), "0s")
			},
		},
		{
			name: "drain over 2 s: share falls linearly",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				if s >= 2*time.Second && s < 6*time.Second {
					left := 1 - float64(s-2*time.Second)/float64(2*time.Second)
					// Every 10th request goes to b while 10*left >= its index.
					if float64((s/(10*ms))%10) < 10*left {
						return "b", 5 * ms, ""
					}
					return "west", 5 * ms, ""
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "first", dur(a.FailoverFirst), "295ms") // request 29 after the drain is the first to move
				want(t, "99%", dur(a.Failover), "2s")
			},
		},
		{
			name: "latency: nothing moves, p99 grows",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				if s >= 2*time.Second && s < 6*time.Second {
					return "b", 305 * ms, ""
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "first", dur(a.FailoverFirst), "nil")
				want(t, "99%", dur(a.Failover), "nil")
				want(t, "fault p99", a.FaultP99, 305*ms)
				want(t, "max window p99", a.MaxWindowP99, 305*ms)
				want(t, "max window p99 at", a.MaxWindowP99At, 2*time.Second)
				want(t, "scope", a.FaultScope, 400)
			},
		},
		{
			name: "failures count against the move and the error rate",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				switch {
				case s >= 2*time.Second && s < 2500*ms:
					return "", 1 * ms, "HTTP 503"
				case s >= 2500*ms && s < 6*time.Second:
					return "west", 5 * ms, ""
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "failed", a.Failed, 50)
				want(t, "error rate", a.ErrorRate, 50.0/900)
				want(t, "99%", dur(a.Failover), "505ms")
				want(t, "fault failed", a.FaultFailed, 50)
			},
		},
		{
			name: "the scope had no traffic: nothing to fail over",
			recs: synth(9*time.Second, func(time.Duration) (string, time.Duration, string) { return "a", 5 * ms, "" }),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "baseline", a.BaselineShare, 0.0)
				want(t, "first", dur(a.FailoverFirst), "nil")
				want(t, "99%", dur(a.Failover), "nil")
				want(t, "failback", dur(a.Failback), "nil")
			},
		},
		{
			name: "split baseline: first is the window at half the baseline share",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				if (s/(10*ms))%2 == 0 && (s < 2700*ms || s >= 6*time.Second) {
					return "b", 5 * ms, ""
				}
				return "west", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "baseline", a.BaselineShare, 0.5)
				want(t, "first", dur(a.FailoverFirst), "750ms")
				want(t, "99%", dur(a.Failover), "750ms")
			},
		},
		{
			name: "split baseline, blackhole: held-up requests have not moved",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				alt := (s/(10*ms))%2 == 0
				switch {
				case s >= 2*time.Second && s < 3300*ms && alt:
					return "west", 3300*ms - s + 5*time.Second, ""
				case s >= 2*time.Second && s < 6*time.Second:
					return "west", 8 * ms, ""
				case alt:
					return "b", 5 * ms, ""
				}
				return "west", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "baseline", a.BaselineShare, 0.5)
				// [1.25 s, 1.5 s): 3 of 25 held up, 88% moved >= 75%.
				want(t, "first", dur(a.FailoverFirst), "1.25s")
				want(t, "99%", dur(a.Failover), "1.5s")
			},
		},
		{
			name: "a request in flight at the injection is not baseline",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				if s >= 1900*ms && s < 6*time.Second {
					return "west", 200 * ms, "" // from 1.9 s answered after the fault
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "baseline", a.BaselineShare, 1.0)
				want(t, "first", dur(a.FailoverFirst), "200ms")
			},
		},
		{
			name: "never fully moved",
			recs: synth(9*time.Second, func(s time.Duration) (string, time.Duration, string) {
				if s >= 2*time.Second && s < 6*time.Second && (s/(10*ms))%10 != 0 {
					return "west", 5 * ms, ""
				}
				return "b", 5 * ms, ""
			}),
			check: func(t *testing.T, a *drill.Analysis) {
				want(t, "99%", dur(a.Failover), "nil")
				want(t, "first", dur(a.FailoverFirst), "15ms")
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := ph
			if c.ph != (drill.Phases{}) {
				p = c.ph
			}
			c.check(t, drill.Analyze(c.recs, []string{"b"}, p, nil))
		})
	}
}

func TestAnalyzeSeries(t *testing.T) {
	recs := synth(3*time.Second, func(s time.Duration) (string, time.Duration, string) {
		switch {
		case s < time.Second:
			return "b", time.Duration(1+s/(10*ms)) * ms, "" // 1..100 ms
		case s < 2*time.Second:
			return "west", 5 * ms, ""
		}
		if (s/(10*ms))%4 == 0 {
			return "", 5 * ms, "timed out"
		}
		return "b", 5 * ms, ""
	})
	a := drill.Analyze(recs, []string{"b"}, drill.Phases{Injected: time.Second, RolledBack: 2 * time.Second, Restored: 2 * time.Second, End: 3 * time.Second}, nil)
	if len(a.Series) != 3 {
		t.Fatalf("%d points, want 3", len(a.Series))
	}
	p0, p1, p2 := a.Series[0], a.Series[1], a.Series[2]
	want(t, "p0 share", p0.Share["b"], 1.0)
	want(t, "p0 p99", *p0.P99MS, 99.0)
	want(t, "p1 share", p1.Share["west"], 1.0)
	want(t, "p2 failed", p2.Failed, 25)
	want(t, "p2 share", p2.Share["b"], 0.75)
	// The baseline counts requests answered before the fault: up to 91 ms.
	want(t, "baseline p99", a.BaselineP99, 91*ms)
	want(t, "max window p99", a.MaxWindowP99, 99*ms)
	// A quarter failing keeps the scope under 90% of its baseline share.
	want(t, "failback", dur(a.Failback), "nil")
}

func TestAnalyzeDetect(t *testing.T) {
	ph := drill.Phases{Injected: time.Second, RolledBack: 3 * time.Second, Restored: 3 * time.Second, End: 4 * time.Second}
	samples := []drill.RouteSample{
		{At: 900 * ms, Client: "c", ScopeShare: 1},
		{At: 900 * ms, Client: "d", ScopeShare: 0},
		{At: 1000 * ms, Client: "c", ScopeShare: 1},
		{At: 1100 * ms, Client: "d", ScopeShare: 0},
		{At: 1200 * ms, Client: "c", ScopeShare: 0.995}, // noise
		{At: 1300 * ms, Client: "d", ScopeShare: 0, ScopeUnhealthy: true},
		{At: 1400 * ms, Client: "c", ScopeShare: 0},
	}
	a := drill.Analyze(nil, []string{"b"}, ph, samples)
	want(t, "detect", dur(a.Detect), "300ms")
	a = drill.Analyze(nil, []string{"b"}, ph, samples[:5])
	want(t, "detect without a change", dur(a.Detect), "nil")
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
