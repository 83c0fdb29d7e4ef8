package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// measure starts everything, runs every phase and fills rep.
func measure(ctx context.Context, o options, dir string, rep *report) error {
	// 1. Backend, meshfed, HAProxy.
	backend, be, err := startBackend(ctx)
	defer backend.Stop()
	if err != nil {
		return err
	}
	rep.backendPID = backend.PID
	f, err := startFederation(ctx, o.bin, o.gatewayBin, dir, o.procs, be)
	defer f.stop()
	if err != nil {
		return err
	}
	rep.meshfedTLS = probeTLS(f)
	var h *haproxyChain
	if o.skipHAProxy {
		rep.haproxySkipped = "skipped with -skip-haproxy"
	} else if hbin, err := findHAProxy(ctx, o.haproxy); err != nil {
		rep.haproxySkipped = err.Error()
		benchkit.Logf("no HAProxy chain: %v", err)
	} else {
		h, err = startHAProxy(ctx, hbin, dir, f, be, haproxyMaxConn(rep.fileLimit))
		defer h.stop()
		if err != nil {
			return err
		}
		rep.haproxy = h
	}
	children := append(f.children(), backend)
	if h != nil {
		children = append(children, h.a, h.b)
	}
	alive := func() error {
		for _, c := range children {
			if err := c.Alive(); err != nil {
				return err
			}
		}
		return nil
	}

	// 2. The paths.
	rep.paths = []path{
		{name: "direct", desc: "client → server", addr: be.http, req: originRequest(), sink: be.sink},
		{name: "meshfed-tcp", desc: "client → B's TCP listener → mTLS → A → server", addr: f.bEcho, req: originRequest(), sink: f.bSink,
			proxies: f.gatewayPIDs(), baseline: "haproxy-tcp"},
		{name: "meshfed-proxy", desc: "client → B's forward proxy (absolute URI) → mTLS → A → server", addr: f.bProxy, req: proxyRequest(),
			proxies: f.gatewayPIDs(), baseline: "haproxy-http"},
	}
	if h != nil {
		rep.paths = append(rep.paths,
			path{name: "haproxy-tcp", desc: "client → HAProxy B (mode tcp) → mTLS → HAProxy A → server", addr: h.echoTCP, req: originRequest(), sink: h.sink, proxies: h.pids()},
			path{name: "haproxy-http", desc: "client → HAProxy B (mode http, keep-alive) → mTLS → HAProxy A → server", addr: h.echoHTTP, req: originRequest(), proxies: h.pids()})
	}
	if rep.paths, err = selectPaths(rep.paths, o.paths); err != nil {
		return err
	}
	procs := []proc{{"gateway B", f.b.PID, f.bAdmin}, {"gateway A", f.a.PID, f.aAdmin}}
	if h != nil {
		procs = append(procs, proc{"HAProxy B", h.b.PID, ""}, proc{"HAProxy A", h.a.PID, ""})
	}
	rep.goMem = map[string]map[string]goMem{}
	rep.procs = procs

	var pids []int
	for _, c := range children {
		pids = append(pids, c.PID)
	}
	rep.outside = map[string]outside{}

	// 3. Idle memory before any traffic; warm-up; idle memory again.
	benchkit.Logf("started; idle RSS in %v", o.settle)
	if err := benchkit.Pause(ctx, o.settle); err != nil {
		return err
	}
	if rep.startRSS, _, err = rssOf(procs); err != nil {
		return err
	}
	rep.goMem["start"] = goMemOf(ctx, procs)
	for _, p := range rep.paths {
		if _, err := openLoop(ctx, p, o.rate, time.Second, o.pool); err != nil {
			return fmt.Errorf("warm-up: %w (%v)", err, alive())
		}
	}
	benchkit.Logf("warm; idle RSS in %v", o.settle)
	if err := benchkit.Pause(ctx, o.settle); err != nil {
		return err
	}
	if rep.idleRSS, _, err = rssOf(procs); err != nil {
		return err
	}
	rep.goMem["warm"] = goMemOf(ctx, procs)

	// 4-6. Latency at a fixed rate, max req/s, bulk; each in rounds.
	done := watchOutside(pids)
	if err := measureLatency(ctx, o, rep); err != nil {
		return fmt.Errorf("%w (%v)", err, alive())
	}
	rep.outside["latency"] = done()
	done = watchOutside(pids)
	if err := measureTput(ctx, o, rep, backend.PID); err != nil {
		return fmt.Errorf("%w (%v)", err, alive())
	}
	rep.outside["tput"] = done()
	done = watchOutside(pids)
	if err := measureBulk(ctx, o, rep, backend.PID); err != nil {
		return fmt.Errorf("%w (%v)", err, alive())
	}
	rep.outside["bulk"] = done()
	if err := alive(); err != nil {
		return err
	}

	// 7. Memory after the load, then with idle connections held.
	benchkit.Logf("load done; idle RSS in %v", o.settle)
	if err := benchkit.Pause(ctx, o.settle); err != nil {
		return err
	}
	if rep.loadedRSS, rep.loadedHWM, err = rssOf(procs); err != nil {
		return err
	}
	rep.goMem["loaded"] = goMemOf(ctx, procs)
	if rep.idleHeld > 0 {
		rep.idle = map[string]idleRun{}
		chains := []chain{{"meshfed", f.bHold, procs[:2]}}
		if h != nil {
			chains = append(chains, chain{"HAProxy", h.hold, procs[2:]})
		}
		for _, c := range chains {
			benchkit.Logf("%s: opening %d idle connections", c.name, rep.idleHeld)
			run, err := holdIdle(ctx, c.addr, rep.idleHeld, be.http, c.procs, o.settle, children)
			if err != nil {
				return fmt.Errorf("%s idle connections: %w (%v)", c.name, err, alive())
			}
			rep.idle[c.name] = run
			for _, p := range c.procs {
				benchkit.Logf("  %s: RSS %.1f -> %.1f MB with %d idle connections (set up in %v)", p.name, mb(run.before[p.name]), mb(run.after[p.name]), run.conns, run.setup.Round(time.Millisecond))
			}
		}
	}
	return alive()
}

// measureLatency runs the open-loop test, rounds × paths.
func measureLatency(ctx context.Context, o options, rep *report) error {
	rep.latency = map[string]*latencyResult{}
	for r := range o.rounds {
		for _, p := range rotate(rep.paths, r) {
			run, err := openLoop(ctx, p, o.rate, o.duration, o.pool)
			if err != nil {
				return fmt.Errorf("round %d: %w", r+1, err)
			}
			lr := rep.latency[p.name]
			if lr == nil {
				lr = &latencyResult{}
				rep.latency[p.name] = lr
			}
			lr.add(run)
			d := summarize(run.latency)
			benchkit.Logf("round %d/%d latency %-13s p50 %v p99 %v p99.9 %v errors %d", r+1, o.rounds, p.name, d.p50, d.p99, d.p999, run.errors)
		}
	}
	for _, lr := range rep.latency {
		lr.finish()
	}
	return nil
}

// measureTput runs the closed-loop test, rounds × paths.
func measureTput(ctx context.Context, o options, rep *report, backend int) error {
	rep.tput = map[string][]closedLoopRun{}
	for r := range o.rounds {
		for _, p := range rotate(rep.paths, r) {
			run, err := closedLoop(ctx, p, o.conns, o.tputDuration, backend)
			if err != nil {
				return fmt.Errorf("round %d: %s: %w", r+1, p.name, err)
			}
			rep.tput[p.name] = append(rep.tput[p.name], run)
			benchkit.Logf("round %d/%d req/s   %-13s %.0f (errors %d)", r+1, o.rounds, p.name, run.rate(), run.errors)
		}
	}
	return nil
}

// measureBulk runs the single-stream test, rounds × paths with a sink.
func measureBulk(ctx context.Context, o options, rep *report, backend int) error {
	rep.bulk = map[string][]bulkRun{}
	for r := range o.rounds {
		for _, p := range rotate(rep.paths, r) {
			if p.sink == "" {
				continue
			}
			run, err := bulk(ctx, p, o.bulkDuration, backend)
			if err != nil {
				return fmt.Errorf("round %d: %w", r+1, err)
			}
			rep.bulk[p.name] = append(rep.bulk[p.name], run)
			benchkit.Logf("round %d/%d bulk    %-13s %.0f MB/s", r+1, o.rounds, p.name, run.mbps())
		}
	}
	return nil
}

// chain is one of the two-hop chains, for the idle-connections test.
type chain struct {
	name  string
	addr  string // B's plain TCP port for the hold service
	procs []proc
}

// fdReserve is the descriptors a process keeps for what is not an idle
// connection's (listeners, control-plane connections, files).
const fdReserve = 200

// haproxyMaxConn is HAProxy's maxconn: it needs two descriptors per
// connection and refuses to start when the limit is below that.
func haproxyMaxConn(limit uint64) int {
	return min(30000, int(limit-fdReserve/2)/2)
}

// latencyResult merges the open-loop runs of one path.
type latencyResult struct {
	latency, late []time.Duration
	sent, errors  int
	firstErr      error
	d, lateD      dist
}

func (l *latencyResult) add(r openLoopRun) {
	l.latency = append(l.latency, r.latency...)
	l.late = append(l.late, r.late...)
	l.sent += r.sent
	l.errors += r.errors
	if l.firstErr == nil {
		l.firstErr = r.firstErr
	}
}

func (l *latencyResult) finish() {
	l.d = summarize(l.latency)
	l.lateD = summarize(l.late)
}

// probeTLS handshakes with gateway A as gateway B does (B's SVID, the
// service in the SNI) and describes what was negotiated.
func probeTLS(f *federation) string {
	cert, err := tls.LoadX509KeyPair(f.cb.cert, f.cb.key)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	raw, err := net.DialTimeout("tcp", f.aInbound, 5*time.Second)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: echoService.sni(), Certificates: []tls.Certificate{cert},
		InsecureSkipVerify: true, // a probe: only the negotiated parameters matter
	})
	if err := tc.Handshake(); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	cs := tc.ConnectionState()
	return fmt.Sprintf("%s, %s, key exchange %s (Go defaults on both gateways)", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
}

// selectPaths keeps the paths named in list (comma-separated), and
// direct, which every "added" figure is relative to; an empty list keeps
// all.
func selectPaths(all []path, list string) ([]path, error) {
	if list == "" {
		return all, nil
	}
	want := map[string]bool{"direct": true}
	for _, n := range strings.Split(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []path
	for _, p := range all {
		if want[p.name] {
			out = append(out, p)
			delete(want, p.name)
		}
	}
	for n := range want {
		if n != "direct" {
			var names []string
			for _, p := range all {
				names = append(names, p.name)
			}
			return nil, fmt.Errorf("-paths: no path %q here; the paths are %s", n, strings.Join(names, ", "))
		}
	}
	return out, nil
}
