package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// busyMachine is how many CPUs of other work make the tails suspect.
const busyMachine = 0.25

// markdown renders the "## Gateway data plane" section.
func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	o := r.opts

	p("%s", sectionHeading)
	p("")
	p("%s", benchkit.SectionIntro("gateway"))
	p("")
	p("This section was produced by %s, with the settings -rounds %d -duration %v -rate %d -pool %d -conns %d -tput-duration %v -bulk-duration %v -idle-conns %d -settle %v.",
		benchkit.Invocation("gateway", os.Args[1:]), o.rounds, o.duration, o.rate, o.pool, o.conns, o.tputDuration, o.bulkDuration, o.idleConns, o.settle)
	p("")
	p("- %s", benchkit.DateFact(r.started, r.finished))
	for _, f := range r.machine {
		p("- %s", f)
	}
	p("- load average at the end: %s (other work on the machine shows here; the paths are interleaved so it hits all alike)", benchkit.LoadAvg())
	src := ""
	if r.source != "" {
		src = ", from " + r.source
	}
	gw := "`" + filepath.Base(o.gatewayBin) + " --config`"
	if filepath.Base(o.gatewayBin) == "meshfed" {
		gw = "`meshfed gateway --config`"
	}
	threads := fmt.Sprintf("`procs: %d` (GOMAXPROCS %d, as HAProxy's nbthread 1; set with -gateway-procs)", o.procs, o.procs)
	if o.procs == 0 {
		threads = "Go's default GOMAXPROCS (one per CPU; -gateway-procs 0)"
	}
	p("- gateways: %s (%s%s), %s, GOGC 100; control plane: `meshfed controlplane`",
		gw, benchkit.BinaryFacts(o.gatewayBin), src, threads)
	p("- meshfed tunnel: %s", r.meshfedTLS)
	if r.haproxy != nil {
		p("- HAProxy: %s; %s", r.haproxy.version, r.haproxy.notes)
	} else {
		p("- HAProxy: **not measured**: %s. Its columns are empty; no number was invented for it.", r.haproxySkipped)
	}
	p("- open-file limit (RLIMIT_NOFILE, inherited by every process): %d", r.fileLimit)
	p("")
	if o, ok := r.outside["latency"]; ok && o.cpus() > busyMachine {
		p("**The machine was busy with other work during this run** (%.2f of its %d CPUs on average while", o.cpus(), runtime.NumCPU())
		p("latency was measured). The tails (p99, p99.9) then show when the scheduler ran each process more")
		p("than what the proxies add, the direct path's included; the p50s, the CPU-per-request and the")
		p("memory figures are much less affected. Re-run on a quiet machine for tail latencies.")
		p("")
	}
	r.targets(p)
	r.pathsTable(p)
	r.latencyTable(p)
	r.tputTable(p)
	r.bulkTable(p)
	r.memoryTable(p)
	r.method(p)
	return b.String()
}

func (r *report) targets(p func(string, ...any)) {
	p("### Targets")
	p("")
	p("| target (from the issue) | measured | |")
	p("| --- | --- | --- |")
	direct := r.latency["direct"]
	for _, name := range []string{"meshfed-tcp", "meshfed-proxy"} {
		l := r.latency[name]
		if l == nil || direct == nil {
			continue
		}
		added := l.d.p99 - direct.d.p99
		p("| added p99 of the two hops < %s at %d req/s (%s) | %s | %s |", us(targetAddedP99), r.opts.rate, name, signedUS(added), met(added < targetAddedP99))
	}
	for _, pair := range [][2]string{{"meshfed-tcp", "haproxy-tcp"}, {"meshfed-proxy", "haproxy-http"}} {
		m, _, _ := r.medianRate(pair[0])
		h, _, _ := r.medianRate(pair[1])
		if h == 0 {
			p("| max req/s ≥ the HAProxy chain (%s vs %s) | %.0f req/s; HAProxy not measured | not checked |", pair[0], pair[1], m)
			continue
		}
		p("| max req/s ≥ the HAProxy chain (%s vs %s) | %.0f vs %.0f req/s (%s) | %s |", pair[0], pair[1], m, h, ratioF(m, h), met(m >= h))
	}
	if m, _, _ := r.medianMBps("meshfed-tcp"); m > 0 {
		h, _, _ := r.medianMBps("haproxy-tcp")
		if h == 0 {
			p("| bulk MB/s ≥ the HAProxy chain | %.0f MB/s; HAProxy not measured | not checked |", m)
		} else {
			p("| bulk MB/s ≥ the HAProxy chain (meshfed-tcp vs haproxy-tcp) | %.0f vs %.0f MB/s (%s) | %s |", m, h, ratioF(m, h), met(m >= h))
		}
	}
	for _, name := range []string{"gateway B", "gateway A"} {
		if v, ok := r.startRSS[name]; ok {
			w, l := r.idleRSS[name], r.loadedRSS[name]
			verdict := met(max(v, w, l) < targetIdleRSS)
			if v < targetIdleRSS && max(w, l) >= targetIdleRSS {
				verdict = "**met** before any traffic, **not met** once it has carried traffic"
			}
			p("| RSS idle < 30 MB (%s) | %.1f MB before any traffic; %.1f MB after the warm-up; %.1f MB after the load tests | %s |",
				name, mb(v), mb(w), mb(l), verdict)
		}
	}
	p("")
}

func (r *report) pathsTable(p func(string, ...any)) {
	p("### Paths")
	p("")
	p("| path | what the client talks to |")
	p("| --- | --- |")
	for _, x := range r.paths {
		p("| %s | %s |", x.name, x.desc)
	}
	p("")
	p("All on 127.0.0.1. \"Added\" is the path's figure minus the direct path's figure of the same")
	p("percentile; \"vs HAProxy\" compares a meshfed path with the HAProxy path of the same layer")
	p("(meshfed-tcp with haproxy-tcp: both L4 tunnels; meshfed-proxy with haproxy-http: both parse HTTP")
	p("at B and keep pooled connections to A).")
	p("")
}

func (r *report) latencyTable(p func(string, ...any)) {
	p("### Latency at a fixed %d req/s", r.opts.rate)
	p("")
	p("1 KiB responses over HTTP/1.1 keep-alive, open loop, latency from the scheduled send time to the")
	p("end of the response; %d rounds of %v per path, merged.", r.opts.rounds, r.opts.duration)
	p("")
	p("| path | requests (errors) | p50 | p99 | p99.9 | max | added p50 | added p99 | added p99.9 | added p99 vs HAProxy |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	direct := r.latency["direct"]
	var late []time.Duration
	for _, x := range r.paths {
		l := r.latency[x.name]
		if l == nil {
			continue
		}
		late = append(late, l.late...)
		added := func(get func(dist) time.Duration) string {
			if x.name == "direct" || direct == nil {
				return "–"
			}
			return signedUS(get(l.d) - get(direct.d))
		}
		vs := "–"
		if b := r.latency[x.baseline]; b != nil && direct != nil {
			mine, theirs := l.d.p99-direct.d.p99, b.d.p99-direct.d.p99
			if theirs > 0 && mine > 0 {
				vs = ratioF(float64(mine), float64(theirs))
			} else {
				vs = "n/a (≤ 0)"
			}
		}
		p("| %s | %d (%d) | %s | %s | %s | %s | %s | %s | %s | %s |", x.name, l.sent, l.errors, us(l.d.p50), us(l.d.p99), us(l.d.p999), us(l.d.max),
			added(func(d dist) time.Duration { return d.p50 }), added(func(d dist) time.Duration { return d.p99 }),
			added(func(d dist) time.Duration { return d.p999 }), vs)
	}
	p("")
	ld := summarize(late)
	r.outsideNote(p, "latency")
	p("The generator's own send lateness (actual send − scheduled send, all paths): p50 %s, p99 %s, p99.9 %s,", us(ld.p50), us(ld.p99), us(ld.p999))
	p("max %s. It is in every path's figures, the direct path's included, and so cancels out of \"added\".", us(ld.max))
	for _, x := range r.paths {
		if l := r.latency[x.name]; l != nil && l.firstErr != nil {
			p("First error on %s: `%v`.", x.name, l.firstErr)
		}
	}
	p("")
}

func (r *report) tputTable(p func(string, ...any)) {
	p("### Max req/s with %d connections", r.opts.conns)
	p("")
	p("Closed loop: %d keep-alive connections, each sending its next request when the previous", r.opts.conns)
	p("response has been read, %v per path per round; the median of %d rounds.", r.opts.tputDuration, r.opts.rounds)
	p("")
	p("| path | req/s | slowest – fastest round | vs direct | vs HAProxy | proxies' CPU per request | proxies' CPUs busy | client + server CPUs busy |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	d, _, _ := r.medianRate("direct")
	for _, x := range r.paths {
		runs := r.tput[x.name]
		if len(runs) == 0 {
			continue
		}
		m, lo, hi := r.medianRate(x.name)
		var reqs, errs int64
		var cpu cpuSpan
		for _, run := range runs {
			reqs += run.requests
			errs += run.errors
			cpu.wall += run.cpu.wall
			cpu.proxies += run.cpu.proxies
			cpu.backend += run.cpu.backend
			cpu.bench += run.cpu.bench
		}
		vs := "–"
		if b, _, _ := r.medianRate(x.baseline); b > 0 {
			vs = ratioF(m, b)
		}
		perReq, busy := "–", "–"
		if len(x.proxies) > 0 && reqs > 0 {
			perReq = fmt.Sprintf("%.1f µs", float64(cpu.proxies.Microseconds())/float64(reqs))
			busy = fmt.Sprintf("%.2f", cpu.proxies.Seconds()/cpu.wall.Seconds())
		}
		errNote := ""
		if errs > 0 {
			errNote = fmt.Sprintf(" (%d errors)", errs)
		}
		p("| %s | %.0f%s | %.0f – %.0f | %s | %s | %s | %s | %.2f |", x.name, m, errNote, lo, hi, ratioF(m, d), vs, perReq, busy,
			(cpu.bench+cpu.backend).Seconds()/cpu.wall.Seconds())
	}
	p("")
	r.outsideNote(p, "tput")
	p("The machine has %d CPUs for everything: the generator, the backend and both proxies. \"CPUs", runtime.NumCPU())
	p("busy\" is CPU time over wall time; CPU per request is what the two proxy processes together spent")
	p("per request, which is what decides the rate once the machine is saturated.")
	p("")
}

func (r *report) bulkTable(p func(string, ...any)) {
	p("### Single-stream bulk TCP")
	p("")
	p("One TCP connection writing %d KiB frames to a sink for %v per path per round; MB/s (10^6 bytes) is", frameSize>>10, r.opts.bulkDuration)
	p("what the sink counted over the time until its count came back; the median of %d rounds.", r.opts.rounds)
	p("")
	p("| path | MB/s | slowest – fastest round | vs direct | vs HAProxy | proxies' CPU per GB | proxies' CPUs busy |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	d, _, _ := r.medianMBps("direct")
	for _, x := range r.paths {
		runs := r.bulk[x.name]
		if len(runs) == 0 {
			continue
		}
		m, lo, hi := r.medianMBps(x.name)
		var bytes uint64
		var cpu cpuSpan
		for _, run := range runs {
			bytes += run.bytes
			cpu.wall += run.cpu.wall
			cpu.proxies += run.cpu.proxies
		}
		vs := "–"
		if x.baseline != "" {
			// The L7 path has no bulk test: compare with the L4 one.
			if b, _, _ := r.medianMBps(strings.Replace(x.baseline, "http", "tcp", 1)); b > 0 {
				vs = ratioF(m, b)
			}
		}
		perGB, busy := "–", "–"
		if len(x.proxies) > 0 && bytes > 0 {
			perGB = fmt.Sprintf("%.2f s", cpu.proxies.Seconds()/(float64(bytes)/1e9))
			busy = fmt.Sprintf("%.2f", cpu.proxies.Seconds()/cpu.wall.Seconds())
		}
		p("| %s | %.0f | %.0f – %.0f | %s | %s | %s | %s |", x.name, m, lo, hi, ratioF(m, d), vs, perGB, busy)
	}
	p("")
	r.outsideNote(p, "bulk")
	p("")
}

func (r *report) memoryTable(p func(string, ...any)) {
	p("### Memory")
	p("")
	n := r.idleHeld
	if n < r.opts.idleConns {
		p("**%d idle connections, not the %d asked for:** the hard open-file limit here is %d and cannot be", n, r.opts.idleConns, r.fileLimit)
		p("raised (that needs CAP_SYS_RESOURCE), and a proxy holds two sockets per connection (client side and")
		p("tunnel or server side). The per-connection column scales to %d; the last column of the", r.opts.idleConns)
		p("table below does so.")
		p("")
	}
	p("VmRSS from /proc/PID/status, %v after the activity stopped. With %d idle connections: opened", r.opts.settle, n)
	p("through each chain's B to the backend's hold port in batches of 1000, each batch complete end to")
	p("end (the backend holds it) before the next; then %v idle, over which the CPU column is measured.", r.opts.settle)
	p("")
	scaled := n < r.opts.idleConns
	head := fmt.Sprintf("| process | idle before any traffic | idle after the warm-up | idle after the load tests (VmHWM so far) | before opening %d | with %d idle connections | per connection | CPU while they idle | time to open them |", n, n)
	rule := "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	if scaled {
		head += fmt.Sprintf(" scaled to %d connections |", r.opts.idleConns)
		rule += " ---: |"
	}
	p("%s", head)
	p("%s", rule)
	for _, pr := range r.procs {
		chain := "meshfed"
		if strings.HasPrefix(pr.name, "HAProxy") {
			chain = "HAProxy"
		}
		before, with, per, cpu, setup, at := "–", "–", "–", "–", "–", "–"
		if run, ok := r.idle[chain]; ok {
			grew := float64(run.after[pr.name] - run.before[pr.name])
			before, with = mbs(run.before[pr.name]), mbs(run.after[pr.name])
			per = fmt.Sprintf("%.1f KB", grew/float64(run.conns)/1e3)
			cpu = fmt.Sprintf("%.1f%% of a CPU", 100*run.holdCPU[pr.name].Seconds()/run.hold.Seconds())
			setup = fmt.Sprintf("%.1f s (%.0f conn/s)", run.setup.Seconds(), float64(run.conns)/run.setup.Seconds())
			at = fmt.Sprintf("%.0f MB", (float64(run.before[pr.name])+grew/float64(run.conns)*float64(r.opts.idleConns))/1e6)
		}
		row := fmt.Sprintf("| %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s |", pr.name, mbs(r.startRSS[pr.name]), mbs(r.idleRSS[pr.name]), mbs(r.loadedRSS[pr.name]), mbs(r.loadedHWM[pr.name]),
			before, with, per, cpu, setup)
		if scaled {
			row += " " + at + " |"
		}
		p("%s", row)
	}
	p("")
	r.goMemTable(p)
	for chain, run := range r.idle {
		if run.closeErr != nil {
			p("After closing the %s idle connections: `%v`.", chain, run.closeErr)
			p("")
		}
	}
}

// goMemTable breaks the gateways' RSS down with what the Go runtime
// reports on their /metrics.
func (r *report) goMemTable(p func(string, ...any)) {
	run, ok := r.idle["meshfed"]
	if len(r.goMem) == 0 {
		return
	}
	p("The gateways' own account (Go collector on their admin `/metrics`, read right after the RSS):")
	p("")
	p("| gateway | reading | RSS | of it file-backed (code) | Go heap in use | Go stacks in use | goroutines |")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, name := range []string{"gateway B", "gateway A"} {
		row := func(what string, rss int64, g goMem) {
			p("| %s | %s | %s | %s | %.1f MB | %.1f MB | %.0f |", name, what, mbs(rss), mbs(g.rssFile), g.heapInuse/1e6, g.stackInuse/1e6, g.goroutines)
		}
		row("before any traffic", r.startRSS[name], r.goMem["start"][name])
		row("after the warm-up", r.idleRSS[name], r.goMem["warm"][name])
		row("after the load tests", r.loadedRSS[name], r.goMem["loaded"][name])
		if ok {
			row(fmt.Sprintf("holding %d idle connections", run.conns), run.after[name], run.goMem[name])
			b, a := run.goBefore[name], run.goMem[name]
			n := float64(run.conns)
			p("| %s | **per idle connection** | %.1f KB | | %.1f KB | %.1f KB | %.1f |", name, float64(run.after[name]-run.before[name])/n/1e3,
				(a.heapInuse-b.heapInuse)/n/1e3, (a.stackInuse-b.stackInuse)/n/1e3, (a.goroutines-b.goroutines)/n)
		}
	}
	p("")
}

func (r *report) method(p func(string, ...any)) {
	p("### How it was measured")
	p("")
	p("- **Processes.** `meshfed controlplane` (embedded etcd), gateway A and gateway B (the gateway")
	p("  binary above, default limits, log level warn), the two HAProxy processes and the backend each run as")
	p("  their own process; the benchmark process is only the load generator. The backend is the")
	p("  benchmark binary re-executed with `-backend` (a Go `net/http` server answering 1 KiB bodies, a")
	p("  bulk sink and a hold port), so the server does not share a Go scheduler with the generator.")
	p("- **Identity.** Clusters a and b have their own dev CAs (trust domains a.test, b.test) registered")
	p("  with the control plane; the gateways' SVIDs `spiffe://a.test/meshfed/gateway/a/gw` and")
	p("  `spiffe://b.test/meshfed/gateway/b/gw` are used by both chains (HAProxy gets the same certificate")
	p("  and key in one PEM). A's SVID also carries the services' SNI names as DNS SANs, because HAProxy B")
	p("  checks the server certificate against the SNI it sends; meshfed ignores them and checks the")
	p("  SPIFFE ID. Each side requires and verifies the other's certificate against the peer's CA.")
	p("- **HAProxy setup.** mode tcp for the L4 paths (the fair counterpart of meshfed's per-service TCP")
	p("  listener, which tunnels bytes) and mode http keep-alive with `http-reuse always` at B for the")
	p("  counterpart of meshfed's forward proxy; A is mode tcp in both, as meshfed's A is. `nbthread 1`")
	p("  per process, as the issue asks, and the meshfed gateways get the same one thread for Go code")
	p("  (`procs: 1`; the Go runtime's own threads, such as the GC's, still run and are in the CPU")
	p("  columns). `-gateway-procs 0` measures Go's default of one thread per CPU instead.")
	p("- **Latency.** The generator sends request i at t0 + i/rate on whichever of its %d warm", r.opts.pool)
	p("  keep-alive connections is free (waiting for one if none is, on the clock), from a thread of its")
	p("  own that sleeps with nanosleep(2) and a 1 ns timer slack (Go's timers wake up to ~1 ms late on")
	p("  Linux). Latency runs from the scheduled send time to the last byte of the response, so a stall")
	p("  delays every request behind it (no coordinated omission). All samples are kept and sorted;")
	p("  percentiles are nearest-rank. Rounds rotate the path order.")
	p("- **Max req/s, bulk.** Same paths, rounds and rotation; connections are opened and warmed (one")
	p("  request each, so tunnels and TLS handshakes are done) before the clock starts.")
	p("- **Memory.** RSS is the resident set of one process; the Go gateways cannot be made to GC from")
	p("  outside, so the readings follow a %v pause. Per connection is (with − before) / connections.", r.opts.settle)
	p("")
}

// outsideNote says how busy the rest of the machine was during a phase.
func (r *report) outsideNote(p func(string, ...any), phase string) {
	o, ok := r.outside[phase]
	if !ok {
		return
	}
	p("Other work on the machine (CPU time of processes not started by this benchmark) kept %.2f of", o.cpus())
	p("its %d CPUs busy on average during this phase; hypervisor steal was %.1f s over %.0f s.", runtime.NumCPU(), o.steal.Seconds(), o.wall.Seconds())
}

func us(d time.Duration) string {
	if d >= 10*time.Millisecond || d <= -10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}

func signedUS(d time.Duration) string {
	if d > 0 {
		return "+" + us(d)
	}
	return us(d)
}

func ratioF(a, b float64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func mb(b int64) float64 { return float64(b) / 1e6 }

func mbs(b int64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MB", mb(b))
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}
