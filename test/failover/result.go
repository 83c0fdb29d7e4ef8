package failover

import (
	"fmt"
	"strings"
	"time"
)

// Never is a Result duration for a change that did not happen in the
// scenario's window.
const Never time.Duration = -1

// Stuck is the latency from which a request counts as caught on a
// stopped gateway: it waited for the gateway's per-try timeout (5 s by
// default) before it was retried elsewhere. No other cause makes a
// request on loopback that slow, even on a busy machine.
const Stuck = 4 * time.Second

// Result is what one scenario (one fault or one recovery) measured.
// Durations are from the fault (Fault), Never if the change was not seen
// before the end of the window.
type Result struct {
	Scenario string
	// Away is the cluster traffic should leave, Target the one it should
	// settle on.
	Away, Target string
	Run          *Run
	// From, Fault and To delimit the scenario in Run: requests sent in
	// [From, To) count, the fault happened at Fault.
	From, Fault, To time.Duration

	Sent, Failed int
	// FailedExamples are the first few failures.
	FailedExamples []string
	// Settled: from then on, every request sent until To was served by
	// Target, none of them Stuck (seen by the client).
	Settled time.Duration
	// FirstOnTarget is when the first request served by Target was sent.
	FirstOnTarget time.Duration
	// TableSettled: from then on, c0's table gave Target all of the
	// traffic; TableFirst is when it first did.
	TableSettled, TableFirst time.Duration
	// AwayAfter is the largest share c0's table gave Away after
	// TableFirst: a returning cluster's slow start shows here, before its
	// health is known again.
	AwayAfter float64
	// Mixed is the total length of 500 ms windows after Fault in which
	// both Away and Target served (between 5% and 95% each): the change
	// was gradual for that long.
	Mixed time.Duration
	// Windows are the 500 ms windows of [From, To).
	Windows []Window
}

// FailedRatio is Failed / Sent.
func (r Result) FailedRatio() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Failed) / float64(r.Sent)
}

// Window counts the requests sent in [From, To).
type Window struct {
	From, To     time.Duration
	Sent, Failed int
	// Served by cluster.
	Served     map[string]int
	MaxLatency time.Duration
}

// Share is cluster's share of the window's served requests.
func (w Window) Share(cluster string) float64 {
	n := w.Sent - w.Failed
	if n == 0 {
		return 0
	}
	return float64(w.Served[cluster]) / float64(n)
}

// Windows splits the requests sent in [from, to) by send time.
func (r *Run) Windows(from, to, width time.Duration) []Window {
	var out []Window
	for start := from; start < to; start += width {
		out = append(out, Window{From: start, To: min(start+width, to), Served: map[string]int{}})
	}
	for _, rec := range r.Records {
		if rec.Sent < from || rec.Sent >= to {
			continue
		}
		w := &out[int((rec.Sent-from)/width)]
		w.Sent++
		if rec.Err != "" {
			w.Failed++
		} else {
			w.Served[rec.Cluster]++
		}
		w.MaxLatency = max(w.MaxLatency, rec.Latency())
	}
	return out
}

// analyze measures a scenario of run: requests sent in [from, to), the
// fault at fault, traffic expected to move from away to target.
func analyze(name string, run *Run, from, fault, to time.Duration, away, target string) Result {
	res := Result{Scenario: name, Away: away, Target: target, Run: run, From: from, Fault: fault, To: to,
		Settled: Never, FirstOnTarget: Never, TableSettled: Never, TableFirst: Never}
	lastBad := -1
	for i, rec := range run.Records {
		if rec.Sent < from || rec.Sent >= to {
			continue
		}
		res.Sent++
		if rec.Err != "" {
			res.Failed++
			if len(res.FailedExamples) < 5 {
				res.FailedExamples = append(res.FailedExamples, fmt.Sprintf("sent at %v after the fault: %s", (rec.Sent-fault).Round(time.Millisecond), rec.Err))
			}
		}
		if rec.Sent < fault {
			continue
		}
		if rec.Cluster == target && res.FirstOnTarget == Never {
			res.FirstOnTarget = rec.Sent - fault
		}
		if rec.Cluster != target || rec.Latency() >= Stuck {
			lastBad = i
		}
	}
	for i := lastBad + 1; i < len(run.Records); i++ {
		if rec := run.Records[i]; rec.Sent >= fault && rec.Sent < to {
			res.Settled = rec.Sent - fault
			break
		}
	}
	onTarget := func(t Table) bool { return t.Share[target] > 0.999 }
	settled := false
	for _, s := range run.Samples {
		if s.At < fault || s.At >= to {
			continue
		}
		ok := s.Err == "" && onTarget(s.Table)
		if ok && res.TableFirst == Never {
			res.TableFirst = s.At - fault
		}
		switch {
		case ok && !settled:
			res.TableSettled, settled = s.At-fault, true
		case !ok:
			res.TableSettled, settled = Never, false
		}
	}
	for _, s := range run.Samples {
		if res.TableFirst != Never && s.At >= fault+res.TableFirst && s.At < to && s.Err == "" {
			res.AwayAfter = max(res.AwayAfter, s.Share[away])
		}
	}
	res.Windows = run.Windows(from, to, 500*time.Millisecond)
	for _, w := range res.Windows {
		if w.From < fault {
			continue
		}
		if a, t := w.Share(away), w.Share(target); a > 0.05 && a < 0.95 && t > 0.05 && t < 0.95 {
			res.Mixed += w.To - w.From
		}
	}
	return res
}

// Summary is a one-line account of r.
func (r Result) Summary() string {
	return fmt.Sprintf("%s: %d sent, %d failed (%.3f%%); settled on %s %s after the fault (first response from it %s); c0's table gave it all traffic %s after (for good: %s, %s at most to %s since); both served for %v of 500ms windows",
		r.Scenario, r.Sent, r.Failed, 100*r.FailedRatio(), r.Target, FormatDuration(r.Settled), FormatDuration(r.FirstOnTarget),
		FormatDuration(r.TableFirst), FormatDuration(r.TableSettled), fmt.Sprintf("%.1f%%", 100*r.AwayAfter), r.Away, r.Mixed)
}

// WindowTable shows each 500 ms window: requests sent, the share each
// cluster served, failures and the slowest request.
func (r Result) WindowTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %5s %7s %7s %6s %9s\n", "sent (from fault)", "sent", r.Away, r.Target, "failed", "max lat")
	for _, w := range r.Windows {
		fmt.Fprintf(&b, "%+7.1fs..%+6.1fs %5d %6.0f%% %6.0f%% %6d %9s\n", (w.From - r.Fault).Seconds(), (w.To - r.Fault).Seconds(), w.Sent,
			100*w.Share(r.Away), 100*w.Share(r.Target), w.Failed, w.MaxLatency.Round(time.Millisecond))
	}
	return b.String()
}

// FormatDuration prints d in milliseconds, or "never".
func FormatDuration(d time.Duration) string {
	if d == Never {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}
