package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
	"github.com/meshfed/meshfed/test/failover"
)

// Targets from the issue.
const (
	targetKillMoved = time.Second
	targetStopMoved = 2 * time.Second
	targetStopFail  = 0.001
	targetContBack  = 10 * time.Second
	targetPickNs    = 100
	// targetTrickle is the share a failed cluster may get back before its
	// health is known (slow start after an ejection ends), as the test.
	targetTrickle = 0.05
)

// sectionHeading starts the part of the report file this benchmark owns.
const sectionHeading = "## Failover and failback"

// report is everything one run measured.
type report struct {
	started, finished time.Time
	opts              options
	machine           []string
	rounds            []round
	pick              *pickResult
}

// machineFacts describes where the numbers come from.
func machineFacts() []string {
	return []string{
		benchkit.CPUsFact(),
		benchkit.OSFact(),
		fmt.Sprintf("Go: %s (benchmark process)", runtime.Version()),
		fmt.Sprintf("load average at the start (1, 5, 15 min): %s", benchkit.LoadAvg()),
	}
}

// durations collects one measurement over the rounds.
func (r *report) durations(get func(round) time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(r.rounds))
	for _, x := range r.rounds {
		out = append(out, get(x))
	}
	return out
}

// stats returns the median and the maximum; Never sorts last.
func stats(ds []time.Duration) (p50, worst time.Duration) {
	s := slices.Clone(ds)
	slices.SortFunc(s, func(a, b time.Duration) int {
		switch {
		case a == b:
			return 0
		case a == failover.Never:
			return 1
		case b == failover.Never:
			return -1
		case a < b:
			return -1
		}
		return 1
	})
	return s[(len(s)-1)/2], s[len(s)-1]
}

func within(d, limit time.Duration) bool { return d != failover.Never && d <= limit }

func ms(d time.Duration) string {
	if d == failover.Never {
		return "never"
	}
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func p50max(ds []time.Duration) string {
	p, m := stats(ds)
	return ms(p) + " / " + ms(m)
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func (r *report) failed(get func(round) failover.Result) (failed, sent int) {
	for _, x := range r.rounds {
		res := get(x)
		failed += res.Failed
		sent += res.Sent
	}
	return failed, sent
}

func (r *report) awayAfter(get func(round) failover.Result) float64 {
	m := 0.0
	for _, x := range r.rounds {
		m = max(m, get(x).AwayAfter)
	}
	return m
}

func (r *report) minMixed(get func(round) failover.Result) time.Duration {
	m := time.Duration(-1)
	for _, x := range r.rounds {
		if d := get(x).Mixed; m < 0 || d < m {
			m = d
		}
	}
	return m
}

// markdown renders the section.
func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	o := r.opts
	kill := func(x round) failover.Result { return x.kill }
	restart := func(x round) failover.Result { return x.restart }
	stop := func(x round) failover.Result { return x.stop }
	cont := func(x round) failover.Result { return x.cont }
	settled := func(get func(round) failover.Result) []time.Duration {
		return r.durations(func(x round) time.Duration { return get(x).Settled })
	}
	table := func(get func(round) failover.Result) []time.Duration {
		return r.durations(func(x round) time.Duration { return get(x).TableFirst })
	}

	p("%s", sectionHeading)
	p("")
	p("%s", benchkit.SectionIntro("failover"))
	p("")
	p("This section was produced by %s, with the settings -rounds %d -rate %d.", benchkit.Invocation("failover", os.Args[1:]), o.rounds, o.rate)
	p("")
	p("- %s", benchkit.DateFact(r.started, r.finished))
	for _, f := range r.machine {
		p("- %s", f)
	}
	p("- load average at the end: %s (the scenarios measure timing; other work on the machine shows here)", benchkit.LoadAvg())
	p("- meshfed binary: %s", benchkit.BinaryFacts(o.bin))
	p("")
	p("The scenarios are those of the end-to-end test `test/failover` (`go test ./test/failover/` asserts the")
	p("same targets): a control plane (`meshfed controlplane`, its etcd on tmpfs) and three clusters on loopback,")
	p("each gateway a `meshfed gateway` process with the default health, retry and balancing settings")
	p("(probes every 1 s ±10%% with a 500 ms timeout, 2 good probes to return, 5 failures in a row eject,")
	p("5 s slow start; retries on another cluster with a 5 s per-try timeout and a 20%% budget).")
	p("")
	p("| cluster | locality | role |")
	p("| --- | --- | --- |")
	for _, s := range failover.Topology() {
		role := "caller: clients send through its forward proxy"
		switch s.Name {
		case failover.Near:
			role = "exports echo.demo; nearest (same region): priority 0, all traffic in steady state"
		case failover.Far:
			role = "exports echo.demo; other provider: priority 1"
		}
		p("| %s | %s/%s/%s | %s |", s.Name, s.Provider, s.Region, s.Zone, role)
	}
	p("")
	p("An open-loop generator sends %d GET/s through c0 (10 s client timeout); each backend answers with", o.rate)
	p("its cluster's name. Each round: SIGKILL near's gateway, restart it %s later on the same ports; then", ms(failover.KillFor))
	p("SIGSTOP it (a silent blackhole: its kernel still accepts connections), SIGCONT it %s later.", ms(failover.StopFor))
	p("")

	p("### Targets")
	p("")
	p("| target (from the issue) | measured over %d rounds | |", len(r.rounds))
	p("| --- | --- | --- |")
	kf, ks := r.failed(kill)
	p("| SIGKILL: zero failed idempotent requests | %d failed of %d | %s |", kf, ks, met(kf == 0))
	_, kt := stats(table(kill))
	_, kc := stats(settled(kill))
	ka := r.awayAfter(kill)
	p("| SIGKILL: traffic on the next priority within 1 s | c0's table max %s (near's share since: at most %.1f%%); clients max %s | %s |",
		ms(kt), 100*ka, ms(kc), met(within(kt, targetKillMoved) && within(kc, targetKillMoved) && ka <= targetTrickle))
	_, st := stats(table(stop))
	_, sc := stats(settled(stop))
	sa := r.awayAfter(stop)
	p("| SIGSTOP: traffic moved within 2 s | c0's table max %s (near's share since: at most %.1f%%); clients max %s | %s |",
		ms(st), 100*sa, ms(sc), met(within(st, targetStopMoved) && within(sc, targetStopMoved) && sa <= targetTrickle))
	sf, ss := r.failed(stop)
	ratio := 0.0
	if ss > 0 {
		ratio = float64(sf) / float64(ss)
	}
	p("| SIGSTOP: failed requests under 0.1%% | %d of %d (%.3f%%) | %s |", sf, ss, 100*ratio, met(ratio < targetStopFail))
	_, cb := stats(settled(cont))
	mixed := r.minMixed(cont)
	p("| SIGCONT: traffic returns gradually within 10 s | all back within max %s; both clusters served for at least %s of it | %s |",
		ms(cb), ms(mixed), met(within(cb, targetContBack) && mixed >= time.Second))
	p("")

	p("### Failover and failback times")
	p("")
	p("p50 / max over %d rounds.", len(r.rounds))
	p("")
	p("| fault | failover, clients | failover, c0's table | failed / sent | recovery | failback, clients | first response from near | both served during failback (min) |")
	p("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
	rf, _ := r.failed(restart)
	cf, _ := r.failed(cont)
	first := func(get func(round) failover.Result) []time.Duration {
		return r.durations(func(x round) time.Duration { return get(x).FirstOnTarget })
	}
	p("| SIGKILL near | %s | %s | %d / %d | restart (process start included; %d failed) | %s | %s | %s |",
		p50max(settled(kill)), p50max(table(kill)), kf, ks, rf, p50max(settled(restart)), p50max(first(restart)), ms(r.minMixed(restart)))
	p("| SIGSTOP near | %s | %s | %d / %d | SIGCONT (%d failed) | %s | %s | %s |",
		p50max(settled(stop)), p50max(table(stop)), sf, ss, cf, p50max(settled(cont)), p50max(first(cont)), ms(mixed))
	p("")
	p("Per round:")
	p("")
	p("| round | SIGKILL: clients / table first / table for good | failed | restart: back | SIGSTOP: clients / table first / table for good | failed | slowest request | SIGCONT: back |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, x := range r.rounds {
		p("| %d | %s / %s / %s | %d | %s | %s / %s / %s | %d | %s | %s |", i+1,
			ms(x.kill.Settled), ms(x.kill.TableFirst), ms(x.kill.TableSettled), x.kill.Failed, ms(x.restart.Settled),
			ms(x.stop.Settled), ms(x.stop.TableFirst), ms(x.stop.TableSettled), x.stop.Failed, ms(slowest(x.stop)), ms(x.cont.Settled))
	}
	p("")
	p("How the times are measured, all from the signal (or the restart):")
	p("")
	p("- **failover, clients**: the send time of the first request from which every request until the")
	p("  recovery was served by far, none of them stuck (%s or more: it waited for the per-try timeout on", ms(failover.Stuck))
	p("  near's stopped gateway before its retry on far). After a SIGKILL, the few requests c0 sent to")
	p("  near before outlier detection ejected it were retried on far at once (their dial was refused),")
	p("  so clients see no change but the serving cluster.")
	p("- **failover, c0's table**: until c0's `/debug/routes` (polled every 50 ms) first gives far all")
	p("  the traffic. After a SIGKILL that is passive outlier detection (5 refused dials); after a")
	p("  SIGSTOP, the first probe that times out (0.5 s after it starts; probes run every 1 s). Should")
	p("  the 1 s ejection end before a probe has failed, near's slow start gives it a trickle again")
	p("  (retried on far) until the probe fails: the largest share near got since is in the targets.")
	p("- **failback**: the send time of the first request from which every request was served by near")
	p("  again. Near's gateway returns after 2 good probes and then ramps up over the 5 s slow start;")
	p("  with the 1.4 overprovisioning factor it takes all the traffic back at 71%% of the ramp.")
	p("- **failed**: requests with a transport error or a non-200 status, sent in the scenario's window")
	p("  (warm-up included). Requests caught on a stopped gateway fail only if their retry does: they")
	p("  take the per-try timeout (5 s) longer, which is the slowest request column.")
	p("")
	if r.pick != nil {
		r.pickTable(p)
	}
	return b.String()
}

// slowest is the longest latency of a result's requests.
func slowest(res failover.Result) time.Duration {
	var m time.Duration
	for _, rec := range res.Run.Records {
		if rec.Sent >= res.From && rec.Sent < res.To {
			m = max(m, rec.Latency())
		}
	}
	return m
}
