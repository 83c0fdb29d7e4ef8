package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// proc is a process whose memory is reported; admin, when set, serves
// Prometheus /metrics with the Go collector's samples.
type proc struct {
	name  string
	pid   int
	admin string
}

// goMem is what a Go process says about its own memory in /metrics.
type goMem struct {
	heapInuse, stackInuse, goroutines float64
	// rssFile is the file-backed part of the RSS (RssFile in
	// /proc/PID/status): mostly the binary's code and read-only data.
	rssFile int64
}

// goMemOf scrapes every process that has an admin address.
func goMemOf(ctx context.Context, procs []proc) map[string]goMem {
	out := map[string]goMem{}
	for _, p := range procs {
		if p.admin == "" {
			continue
		}
		m, err := benchkit.Scrape(ctx, p.admin, "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines")
		if err != nil {
			benchkit.Logf("%s: /metrics: %v", p.name, err)
			continue
		}
		out[p.name] = goMem{heapInuse: m["go_memstats_heap_inuse_bytes"], stackInuse: m["go_memstats_stack_inuse_bytes"], goroutines: m["go_goroutines"],
			rssFile: benchkit.StatusKB(p.pid, "RssFile")}
	}
	return out
}

// idleRun is the 10k-idle-connections measurement of one chain.
type idleRun struct {
	conns    int
	setup    time.Duration    // opening them until the backend held them all
	before   map[string]int64 // RSS just before opening (bytes)
	after    map[string]int64 // RSS while holding them
	hwm      map[string]int64 // VmHWM while holding them
	goMem    map[string]goMem // the gateways' own view while holding them
	goBefore map[string]goMem
	holdCPU  map[string]time.Duration // CPU used while holding them, over hold
	hold     time.Duration
	closeErr error // the backend still held connections after closing
}

// rssOf reads VmRSS (and VmHWM) of every process.
func rssOf(procs []proc) (rss, hwm map[string]int64, err error) {
	rss, hwm = map[string]int64{}, map[string]int64{}
	for _, p := range procs {
		r, h, err := benchkit.ProcStatus(p.pid)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p.name, err)
		}
		rss[p.name], hwm[p.name] = r, h
	}
	return rss, hwm, nil
}

// holdIdle opens n connections to addr (a plain TCP port that tunnels to
// the backend's hold port) in batches, waiting after each batch until the
// backend holds them all, so each is a complete client -> B -> A ->
// backend chain. It then waits for hold, measuring the processes' CPU,
// reads their RSS, and closes everything.
func holdIdle(ctx context.Context, addr string, n int, backendHTTP string, procs []proc, hold time.Duration, children []*benchkit.Child) (idleRun, error) {
	run := idleRun{conns: n, hold: hold, holdCPU: map[string]time.Duration{}}
	if err := waitFor(ctx, "the backend to hold no connection", 60*time.Second, children, func() error {
		if h, err := holding(ctx, backendHTTP); err != nil || h != 0 {
			return fmt.Errorf("holding %d (%v)", h, err)
		}
		return nil
	}); err != nil {
		return run, err
	}
	var err error
	if run.before, _, err = rssOf(procs); err != nil {
		return run, err
	}
	run.goBefore = goMemOf(ctx, procs)
	// The idle clients connect from 127.0.0.2 (when it works), so their
	// ports do not take from what 127.0.0.1 has for other programs on the
	// machine: the proxies' own hops already hold two ports per connection.
	dialer := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	if c, err := dialer.DialContext(ctx, "tcp", addr); err != nil {
		dialer.LocalAddr = nil
	} else {
		c.Close()
	}
	const batch, dialers = 1000, 32
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for len(conns) < n {
		m := min(batch, n-len(conns))
		got := make([]net.Conn, m)
		errs := make([]error, m)
		var wg sync.WaitGroup
		next := make(chan int, m)
		for i := range m {
			next <- i
		}
		close(next)
		for range dialers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					got[i], errs[i] = dialer.DialContext(ctx, "tcp", addr)
				}
			}()
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				for _, c := range got {
					if c != nil {
						c.Close()
					}
				}
				return run, fmt.Errorf("idle connection %d to %s: %w", len(conns)+i, addr, errs[i])
			}
		}
		conns = append(conns, got...)
		want := len(conns)
		if err := waitFor(ctx, fmt.Sprintf("the backend to hold %d connections", want), 120*time.Second, children, func() error {
			h, err := holding(ctx, backendHTTP)
			if err != nil {
				return err
			}
			if h < want {
				return fmt.Errorf("holding %d", h)
			}
			return nil
		}); err != nil {
			return run, err
		}
	}
	run.setup = time.Since(start)
	cpu0 := map[string]time.Duration{}
	for _, p := range procs {
		cpu0[p.name], _ = benchkit.ProcCPU(p.pid)
	}
	if err := benchkit.Pause(ctx, hold); err != nil {
		return run, err
	}
	for _, p := range procs {
		c, _ := benchkit.ProcCPU(p.pid)
		run.holdCPU[p.name] = c - cpu0[p.name]
	}
	if run.after, run.hwm, err = rssOf(procs); err != nil {
		return run, err
	}
	run.goMem = goMemOf(ctx, procs)
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	run.closeErr = waitFor(ctx, "the backend to release the idle connections", 60*time.Second, children, func() error {
		if h, err := holding(ctx, backendHTTP); err != nil || h != 0 {
			return fmt.Errorf("holding %d (%v)", h, err)
		}
		return nil
	})
	return run, nil
}
