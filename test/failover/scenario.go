package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Timing of the scenarios.
const (
	// warmup is steady traffic before each fault (it also fills the
	// gateway's retry budget, which is a share of recent requests).
	warmup = 2 * time.Second
	// KillFor is how long near stays dead before it is restarted.
	KillFor = 3 * time.Second
	// StopFor is how long near stays SIGSTOPped: past the gateway's 5 s
	// per-try timeout (so requests stuck on it are retried), and short of
	// the 6.7 s after which its 10 s presence lease may expire (it renews
	// every 3.3 s), so the control plane still lists it and its return
	// goes through the probes and slow start.
	StopFor = 5500 * time.Millisecond
	// recoverLimit bounds the wait for the table to give near all traffic
	// again after a recovery; settle is the traffic recorded after that.
	recoverLimit = 20 * time.Second
	settle       = time.Second
	// maxRun bounds any scenario's traffic.
	maxRun = 60 * time.Second
)

// script runs steps with traffic flowing, then finishes the traffic,
// also when steps fails.
func (e *Env) script(ctx context.Context, steps func(l *load) error) (*Run, error) {
	l := e.startLoad(ctx, maxRun)
	err := steps(l)
	run := l.finish()
	return run, err
}

// recovered waits (with traffic flowing) until c0's table is steady again
// after since, then records settle more.
func (e *Env) recovered(ctx context.Context, l *load, since time.Duration, what string) error {
	if !l.waitSamples(ctx, since, recoverLimit, steady) {
		t, _ := e.table(ctx)
		return fmt.Errorf("failover: %s: c0's table not back to near within %v; shares %v, notes %v", what, recoverLimit, t.Share, t.Notes)
	}
	return l.sleepUntil(ctx, l.now()+settle)
}

// Kill is scenario 1: SIGKILL near's gateway under traffic, restart it
// KillFor later (on the same addresses) and wait for traffic to return.
// kill covers [start, restart), restart the rest.
func (e *Env) Kill(ctx context.Context) (kill, restart Result, err error) {
	var fault, back time.Duration
	run, err := e.script(ctx, func(l *load) error {
		if err := l.sleepUntil(ctx, warmup); err != nil {
			return err
		}
		p := e.gateways[Near]
		fault = l.mark("SIGKILL near")
		if err := p.Signal(syscall.SIGKILL); err != nil {
			return err
		}
		p.Kill() // reap it
		if err := l.sleepUntil(ctx, fault+KillFor); err != nil {
			return err
		}
		back = l.mark("restart near")
		if _, err := e.Restart(ctx, Near); err != nil {
			return err
		}
		return e.recovered(ctx, l, back, "after restarting near")
	})
	if err != nil {
		return kill, restart, err
	}
	kill = analyze("SIGKILL near", run, 0, fault, back, Near, Far)
	restart = analyze("restart near", run, back, back, run.End, Far, Near)
	return kill, restart, nil
}

// StopCont is scenarios 2 and 3: SIGSTOP near's gateway under traffic (a
// silent blackhole: its kernel still accepts connections), SIGCONT it
// StopFor later and wait for traffic to return. stop covers [start,
// SIGCONT), cont the rest.
func (e *Env) StopCont(ctx context.Context) (stop, cont Result, err error) {
	var fault, back time.Duration
	p := e.gateways[Near]
	run, err := e.script(ctx, func(l *load) error {
		if err := l.sleepUntil(ctx, warmup); err != nil {
			return err
		}
		fault = l.mark("SIGSTOP near")
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			return err
		}
		// Continue it whatever happens, so the environment stays usable.
		defer p.Signal(syscall.SIGCONT)
		if err := l.sleepUntil(ctx, fault+StopFor); err != nil {
			return err
		}
		back = l.mark("SIGCONT near")
		if err := p.Signal(syscall.SIGCONT); err != nil {
			return err
		}
		return e.recovered(ctx, l, back, "after SIGCONT")
	})
	if err != nil {
		return stop, cont, err
	}
	stop = analyze("SIGSTOP near", run, 0, fault, back, Near, Far)
	cont = analyze("SIGCONT near", run, back, back, run.End, Far, Near)
	return stop, cont, nil
}

// Drain is scenario 4: drain cluster near over period (through the admin
// API), keep it drained for a second, then undrain it. drain covers
// [start, undrain), undrain the rest.
func (e *Env) Drain(ctx context.Context, period time.Duration) (drain, undrain Result, err error) {
	var fault, back time.Duration
	run, err := e.script(ctx, func(l *load) error {
		if err := l.sleepUntil(ctx, warmup); err != nil {
			return err
		}
		fault = l.mark("drain near")
		if _, err := e.admin.Admin.PutDrain(ctx, &meshfedv1.PutDrainRequest{Drain: &meshfedv1.Drain{
			Cluster: Near, PeriodSeconds: int64(period / time.Second),
		}}); err != nil {
			return fmt.Errorf("failover: PutDrain: %w", err)
		}
		if err := l.sleepUntil(ctx, fault+period+time.Second); err != nil {
			return err
		}
		back = l.mark("undrain near")
		if _, err := e.admin.Admin.DeleteDrain(ctx, &meshfedv1.DeleteDrainRequest{Cluster: Near}); err != nil {
			return fmt.Errorf("failover: DeleteDrain: %w", err)
		}
		return e.recovered(ctx, l, back, "after undraining near")
	})
	if err != nil {
		return drain, undrain, err
	}
	drain = analyze("drain near", run, 0, fault, back, Near, Far)
	undrain = analyze("undrain near", run, back, back, run.End, Far, Near)
	return drain, undrain, nil
}

// PolicyHold is how long the policy stays in force once c0 applies it.
const PolicyHold = 2 * time.Second

// Policy is scenario 5: a failover policy for echo.demo whose order
// puts far's region first. Traffic must go to far although near is
// healthy and nearer. The policy is deleted PolicyHold after c0's table
// shows it, and the environment waits for traffic to return to near.
// The result covers [start, deletion).
func (e *Env) Policy(ctx context.Context) (Result, error) {
	var fault, back time.Duration
	doc, _ := json.Marshal(map[string]any{"targets": []map[string]string{{"region": e.specs[Far].Region}, {"region": e.specs[Near].Region}}})
	run, err := e.script(ctx, func(l *load) error {
		if err := l.sleepUntil(ctx, warmup); err != nil {
			return err
		}
		fault = l.mark("put failover policy")
		if _, err := e.admin.Admin.PutPolicy(ctx, &meshfedv1.PutPolicyRequest{Policy: &meshfedv1.Policy{
			Namespace: Namespace, Name: ServiceName, Kind: "failover", Document: doc,
		}}); err != nil {
			return fmt.Errorf("failover: PutPolicy: %w", err)
		}
		if !l.waitSamples(ctx, fault, 10*time.Second, func(t Table) bool { return t.Share[Far] > 0.999 }) {
			return fmt.Errorf("failover: c0's table does not give far all traffic within 10s of the policy %s", doc)
		}
		if err := l.sleepUntil(ctx, l.now()+PolicyHold); err != nil {
			return err
		}
		back = l.mark("delete failover policy")
		if _, err := e.admin.Admin.DeletePolicy(ctx, &meshfedv1.DeletePolicyRequest{Namespace: Namespace, Name: ServiceName, Kind: "failover"}); err != nil {
			return fmt.Errorf("failover: DeletePolicy: %w", err)
		}
		return e.recovered(ctx, l, back, "after deleting the policy")
	})
	if err != nil {
		return Result{}, err
	}
	return analyze("failover policy: far's region first", run, 0, fault, back, Near, Far), nil
}

// HealthyThroughout reports whether c0's table showed cluster healthy in
// every sample of r's window after the fault.
func (r Result) HealthyThroughout(cluster string) bool {
	n := 0
	for _, s := range r.Run.Samples {
		if s.At < r.Fault || s.At >= r.To || s.Err != "" {
			continue
		}
		n++
		if !s.Healthy[cluster] {
			return false
		}
	}
	return n > 0
}
