package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Intervals of the live monitor.
const (
	monitorTick     = 250 * time.Millisecond
	rollbackTimeout = 60 * time.Second
)

// run is one drill in progress.
type run struct {
	r      *Runner
	p      *Plan
	start  time.Time
	src    trafficSource
	tables *tablePoller
	events []Event
	// planned is how many requests the generator will send in all (for
	// the error budget); 0 when observing.
	planned  int
	breaches map[string]time.Duration
	lastLine time.Duration
}

// Run runs the plan: warmup traffic, the fault, live gates and progress,
// rollback (when a gate is breached, ctx is cancelled or the duration is
// over), restore traffic, then the report. It blocks for the drill's
// length. The fault is always rolled back before Run returns, also
// when ctx is cancelled (the rollback gets its own time limit). An
// error means the drill could not run; a drill that ran returns its
// report, whose Verdict says whether the gates held.
func (r *Runner) Run(ctx context.Context, p *Plan) (*Report, error) {
	s := p.Spec
	d := &run{r: r, p: p, breaches: map[string]time.Duration{}}
	if s.Traffic.Observe {
		d.src = newObserver(p.From, p.Service.String(), r.cfg.HTTPClient)
	} else {
		g, err := newGenerator(generatorConfig{From: p.From, Service: p.Service, Protocols: s.Traffic.Protocols, Rate: s.Traffic.Rate,
			Timeout: s.Traffic.Timeout.D(), HTTPPort: p.HTTPPort, GRPCPort: p.GRPCPort, Clusters: p.Clusters})
		if err != nil {
			return nil, err
		}
		d.src = g
		total := s.Warmup.D() + s.Duration.D() + s.Restore.D()
		d.planned = int(float64(s.Traffic.Rate*len(p.From)*len(s.Traffic.Protocols)) * total.Seconds())
	}
	d.tables = newTablePoller(p.From, p.Service.String(), p.Scope, r.cfg.HTTPClient)
	var ph Phases

	d.start = time.Now()
	d.src.Start(d.start)
	d.tables.Start(d.start)
	stopAll := func() {
		d.src.Stop()
		d.tables.Stop()
	}
	d.event(0, "traffic started", d.trafficDetail())
	fmt.Fprintf(r.cfg.Progress, "drill %s: %s on %s; warmup %s, fault %s, restore %s\n", p.ID, s.Fault.Kind, s.Scope.String(), s.Warmup.D(), s.Duration.D(), s.Restore.D())

	// Warmup.
	if err := d.phase(ctx, s.Warmup.D(), "warmup", nil); err != nil {
		stopAll()
		return nil, fmt.Errorf("drill: interrupted during the warmup, before any fault: %w", err)
	}

	// Inject. The fault's time is when its first part took effect.
	var injected []injector
	var injectErr error
	for i, in := range p.injectors {
		at, err := in.inject(ctx)
		if err != nil {
			injectErr = err
			break
		}
		injected = append(injected, in)
		if i == 0 {
			ph.Injected = at.Sub(d.start)
		}
		d.event(at.Sub(d.start), "fault injected", in.String())
	}
	reason := ReasonDuration
	if injectErr == nil {
		gateCheck := func(now time.Duration) string { return d.checkGates(now) }
		switch err := d.phase(ctx, s.Duration.D(), "fault", gateCheck); {
		case err == nil:
		case errors.Is(err, errBreach):
			reason = strings.TrimPrefix(err.Error(), errBreach.Error()+": ")
		default:
			reason = ReasonInterrupted
		}
	}

	// Roll back, whatever happened.
	ph.RolledBack = d.since()
	d.event(ph.RolledBack, "rollback started", reason)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	var rollbackErrs []string
	for i := len(injected) - 1; i >= 0; i-- {
		if err := injected[i].rollback(rctx); err != nil {
			rollbackErrs = append(rollbackErrs, err.Error())
		}
	}
	cancel()
	ph.Restored = d.since()
	if len(rollbackErrs) == 0 {
		d.event(ph.Restored, "fault removed", "")
	} else {
		d.event(ph.Restored, "rollback failed", strings.Join(rollbackErrs, "; "))
	}
	if injectErr != nil {
		stopAll()
		if len(rollbackErrs) > 0 {
			return nil, fmt.Errorf("%w; and undoing what was injected failed: %s", injectErr, strings.Join(rollbackErrs, "; "))
		}
		return nil, injectErr
	}

	// Restore: watch traffic come back (skipped when interrupted).
	if reason != ReasonInterrupted && ctx.Err() == nil {
		d.phase(ctx, s.Restore.D(), "restore", nil)
	}
	ph.End = d.since()
	stopAll()
	d.event(ph.End, "traffic stopped", "")

	rep := d.report(ph, reason, rollbackErrs)
	if ctx.Err() != nil {
		rep.Notes = append(rep.Notes, "the drill was interrupted; its numbers cover what ran")
	}
	return rep, nil
}

var errBreach = errors.New("gate breached")

// phase lets traffic run for d, printing progress every second. check,
// if not nil, is called every monitor tick with the time since the start
// and returns the name of a breached gate, which ends the phase with
// errBreach.
func (d *run) phase(ctx context.Context, length time.Duration, name string, check func(time.Duration) string) error {
	begin := d.since()
	tick := time.NewTicker(monitorTick)
	defer tick.Stop()
	for {
		now := d.since()
		if now-d.lastLine >= time.Second {
			d.progress(now, name)
		}
		if check != nil {
			if gate := check(now); gate != "" {
				if now != d.lastLine {
					d.progress(now, name)
				}
				return fmt.Errorf("%w: gate %s breached", errBreach, gate)
			}
		}
		if now-begin >= length {
			return nil
		}
		wait := min(monitorTick, length-(now-begin))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// checkGates evaluates the live gates: the error budget of the whole
// drill, and the p99 of the last second (requests in flight count at
// their age). It returns the first breached gate's name.
func (d *run) checkGates(now time.Duration) string {
	g := d.p.Spec.Gates
	log := d.src.log()
	if g.MaxErrorRate != nil {
		done, failed := log.counts()
		planned := d.planned
		if planned == 0 && now > 0 { // observing: extrapolate the rate seen
			total := d.p.Spec.Warmup.D() + d.p.Spec.Duration.D() + d.p.Spec.Restore.D()
			planned = int(float64(done) / now.Seconds() * total.Seconds())
		}
		if float64(failed) > *g.MaxErrorRate*float64(max(planned, done)) {
			return d.breach("max_error_rate", now)
		}
	}
	if g.MaxP99 > 0 {
		recs := log.recent(now-seriesWindow, now)
		if len(recs) >= minP99Samples {
			lat := make([]time.Duration, len(recs))
			for i, rec := range recs {
				lat[i] = rec.Latency
			}
			if percentile(lat, 0.99) > g.MaxP99.D() {
				return d.breach("max_p99", now)
			}
		}
	}
	return ""
}

func (d *run) breach(gate string, now time.Duration) string {
	if _, ok := d.breaches[gate]; !ok {
		d.breaches[gate] = now
		d.event(now, "gate breached", gate)
	}
	return gate
}

// progress prints one line about the last second of traffic.
func (d *run) progress(now time.Duration, phase string) {
	d.lastLine = now
	recs := d.src.log().recent(max(0, now-seriesWindow), now)
	served := map[string]int{}
	failed, inflight := 0, 0
	var lat []time.Duration
	for _, r := range recs {
		lat = append(lat, r.Latency)
		switch {
		case r.Failed():
			failed++
		case r.Done:
			served[r.Cluster]++
		default:
			inflight++
		}
	}
	var parts []string
	for _, c := range d.p.Clusters {
		if n := served[c]; n > 0 || containsStr(d.p.Scope, c) {
			share := 0.0
			if len(recs) > 0 {
				share = 100 * float64(n) / float64(len(recs))
			}
			parts = append(parts, fmt.Sprintf("%s %3.0f%%", c, share))
		}
	}
	p99 := "-"
	if len(lat) >= minP99Samples {
		p99 = fmtDurMS(ms(percentile(lat, 0.99)))
	}
	if inflight > 0 {
		parts = append(parts, fmt.Sprintf("(%d in flight)", inflight))
	}
	done, totalFailed := d.src.log().counts()
	fmt.Fprintf(d.r.cfg.Progress, "%6.1fs %-7s %s | last 1s: %d req, %d failed, p99 %s | total: %d req, %d failed\n",
		now.Seconds(), phase, strings.Join(parts, "  "), len(recs), failed, p99, done, totalFailed)
}

func containsStr(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (d *run) since() time.Duration { return time.Since(d.start) }

func (d *run) event(at time.Duration, what, detail string) {
	d.events = append(d.events, Event{AtMS: ms(at), Time: d.start.Add(at).UTC(), Event: what, Detail: detail})
}

func (d *run) trafficDetail() string {
	s := d.p.Spec
	if s.Traffic.Observe {
		return fmt.Sprintf("observing %s from %s (gateway metrics)", d.p.Service, strings.Join(d.p.FromNames(), ", "))
	}
	return fmt.Sprintf("%s %s from %s at %d/s each", strings.Join(s.Traffic.Protocols, "+"), d.p.Service, strings.Join(d.p.FromNames(), ", "), s.Traffic.Rate)
}

// report builds the report from the log and the gates.
func (d *run) report(ph Phases, reason string, rollbackErrs []string) *Report {
	p, s := d.p, d.p.Spec
	samples, tableErrs := d.tables.result()
	a := Analyze(d.src.log().all(), p.Scope, ph, samples)
	rep := &Report{
		ID: p.ID, Name: s.Name, Fault: s.Fault.Kind, Scope: s.Scope.String(), ScopeClusters: p.Scope,
		Service: p.Service.String(), From: p.FromNames(), Observe: s.Traffic.Observe,
		RolledBack: reason != ReasonDuration, RollbackReason: reason, RollbackError: strings.Join(rollbackErrs, "; "),
		TotalRequests: a.Total, FailedRequests: a.Failed, ErrorRate: a.ErrorRate,
		TimeToDetectMS: msPtr(a.Detect), TimeToFailoverFirstMS: msPtr(a.FailoverFirst), TimeToFailoverMS: msPtr(a.Failover),
		TimeToFailbackMS: msPtr(a.Failback), P99MS: ms(a.FaultP99), BaselineP99MS: ms(a.BaselineP99),
		BaselineScopeShare: a.BaselineShare, SlowThresholdMS: ms(a.SlowThreshold),
		DuringFault: Counts{Requests: a.FaultScope + a.FaultMoved + a.FaultDelayed + a.FaultFailed, ServedByScope: a.FaultScope,
			Moved: a.FaultMoved, Delayed: a.FaultDelayed, Failed: a.FaultFailed},
		Served: a.Served, Clients: a.Clients, Series: a.Series,
		Phases:    PhasesMS{InjectedMS: ms(ph.Injected), RolledBackMS: ms(ph.RolledBack), RestoredMS: ms(ph.Restored), EndedMS: ms(ph.End)},
		StartedAt: d.start.UTC(), EndedAt: d.start.Add(ph.End).UTC(), DurationMS: ph.End.Milliseconds(), Spec: s,
	}
	if !s.Traffic.Observe {
		rep.Protocols, rep.Rate = s.Traffic.Protocols, s.Traffic.Rate
	}
	if rep.Clients == nil {
		rep.Clients = []ClientCounts{}
	}
	if rep.Series == nil {
		rep.Series = []SeriesPoint{}
	}

	// Gates: the final verdict covers the whole drill.
	if g := s.Gates.MaxErrorRate; g != nil {
		gr := GateResult{Name: "max_error_rate", Limit: *g, Observed: a.ErrorRate, Passed: a.ErrorRate <= *g}
		if at, ok := d.breaches[gr.Name]; ok {
			gr.Passed, gr.BreachedAtMS = false, msPtr(&at)
		}
		rep.Gates = append(rep.Gates, gr)
	}
	if g := s.Gates.MaxP99; g > 0 {
		gr := GateResult{Name: "max_p99", Limit: ms(g.D()), Observed: ms(a.MaxWindowP99), Passed: a.MaxWindowP99 <= g.D()}
		if at, ok := d.breaches[gr.Name]; ok {
			gr.Passed, gr.BreachedAtMS = false, msPtr(&at)
		}
		rep.Gates = append(rep.Gates, gr)
	}
	rep.Verdict = VerdictPass
	for _, g := range rep.Gates {
		if !g.Passed {
			rep.Verdict = VerdictFail
		}
	}
	if rep.RollbackError != "" || reason == ReasonInterrupted {
		rep.Verdict = VerdictFail
	}

	// Timeline: the measured moments join the runner's events.
	events := d.events
	add := func(at *time.Duration, base time.Duration, what, detail string) {
		if at != nil {
			t := base + *at
			events = append(events, Event{AtMS: ms(t), Time: d.start.Add(t).UTC(), Event: what, Detail: detail})
		}
	}
	add(a.Detect, ph.Injected, "detected", "a client gateway's routing table moved traffic off the scope")
	add(a.FailoverFirst, ph.Injected, "first request moved", "")
	add(a.Failover, ph.Injected, "99% of traffic moved", "")
	add(a.Failback, ph.Restored, "failed back", fmt.Sprintf("the scope's share back to %.0f%% of its baseline", 100*failbackShare))
	sort.SliceStable(events, func(i, j int) bool { return events[i].AtMS < events[j].AtMS })
	rep.Events = events

	// Notes.
	if a.BaselineShare == 0 && a.Total > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the scope served none of the warmup's traffic from %s: there was nothing to fail over (time_to_failover and time_to_failback are n/a)", strings.Join(p.FromNames(), ", ")))
	}
	if len(samples) == 0 && tableErrs > 0 {
		rep.Notes = append(rep.Notes, "the client gateways' /debug/routes could not be read: time_to_detect is n/a")
	}
	if s.Traffic.Observe {
		rep.Notes = append(rep.Notes, "traffic was observed from gateway metrics: outbound HTTP requests only, latencies are histogram bucket bounds, times have 250 ms resolution")
		if o, ok := d.src.(*observer); ok {
			for c, e := range o.scrapeErrors() {
				rep.Notes = append(rep.Notes, fmt.Sprintf("reading the metrics of %s failed: %s", c, e))
			}
		}
	}
	if slices.Contains(s.Traffic.Protocols, ProtocolGRPC) && a.BaselineShare > 0 && a.Failback == nil {
		rep.Notes = append(rep.Notes, "gRPC calls ride one CONNECT tunnel per client cluster, which keeps its cluster until it breaks: gRPC traffic fails back only when it reconnects")
	}
	if a.FaultDelayed > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d requests were served outside the scope only after more than %s (held up by the fault, then retried)", a.FaultDelayed, fmtDurMS(ms(a.SlowThreshold))))
	}
	return rep
}

// Stored converts a report to what the control plane keeps.
func (r *Report) Stored() (*meshfedv1.DrillReport, error) {
	doc, err := r.JSON()
	if err != nil {
		return nil, err
	}
	return &meshfedv1.DrillReport{Id: r.ID, Fault: r.Fault, Scope: r.Scope, Verdict: r.Verdict,
		StartedAt: timestamppb.New(r.StartedAt), DurationMs: r.DurationMS, Report: doc}, nil
}
