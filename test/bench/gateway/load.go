package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// path is one way from the client to the backend.
type path struct {
	name string // short name used in tables
	desc string
	addr string // where the client connects for HTTP
	req  []byte // the request sent, again and again, on a keep-alive connection
	// sink is where a bulk stream goes ("" when the path has no bulk test).
	sink string
	// proxies are the processes in the path whose CPU time is its cost.
	proxies []int
	// baseline names the path this one is compared with ("" for none).
	baseline string
}

// originRequest is a GET as a client sends it to a server (or to a plain
// TCP port that tunnels to one); proxyRequest is the same through an
// HTTP_PROXY-style forward proxy (absolute URI).
func originRequest() []byte {
	return []byte("GET /1k HTTP/1.1\r\nHost: " + echoService.host() + "\r\nUser-Agent: meshfed-bench\r\n\r\n")
}

func proxyRequest() []byte {
	return []byte("GET http://" + echoService.host() + "/1k HTTP/1.1\r\nHost: " + echoService.host() + "\r\nUser-Agent: meshfed-bench\r\n\r\n")
}

// httpConn is one keep-alive client connection with one request
// outstanding at most. recv is a minimal HTTP/1.1 response reader: it
// wants status 200 and a Content-Length of bodySize, and allocates
// nothing, so the generator's own cost stays small and equal for every
// path.
type httpConn struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func dialHTTP(addr string, req []byte) (*httpConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, br: bufio.NewReaderSize(c, 8<<10), req: req}, nil
}

func (h *httpConn) send() error {
	_, err := h.c.Write(h.req)
	return err
}

var contentLength = []byte("content-length:")

func (h *httpConn) recv() error {
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("response %q, want HTTP/1.1 200", bytes.TrimSpace(line))
	}
	n := -1
	for {
		line, err = h.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			if err != nil {
				return fmt.Errorf("response header %q: %w", bytes.TrimSpace(line), err)
			}
		}
	}
	if n != bodySize {
		return fmt.Errorf("response Content-Length %d, want %d", n, bodySize)
	}
	_, err = h.br.Discard(n)
	return err
}

func (h *httpConn) do() error {
	if err := h.send(); err != nil {
		return err
	}
	return h.recv()
}

// dialWarm opens n connections and sends one request on each, so that
// tunnels and handshakes are done before anything is measured.
func dialWarm(p path, n int) ([]*httpConn, error) {
	conns := make([]*httpConn, 0, n)
	for range n {
		c, err := dialHTTP(p.addr, p.req)
		if err == nil {
			c.c.SetDeadline(time.Now().Add(10 * time.Second))
			err = c.do()
		}
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("%s: warm-up request on %s: %w", p.name, p.addr, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []*httpConn) {
	for _, c := range conns {
		if c != nil {
			c.c.Close()
		}
	}
}

// cpuSpan is the CPU time used during a measurement.
type cpuSpan struct {
	wall, proxies, backend, bench time.Duration
}

// meter starts measuring; call the result when the measurement ends.
func meter(proxies []int, backend int) func() cpuSpan {
	w0, p0, b0, s0 := time.Now(), benchkit.CPUOf(proxies), benchkit.CPUOf([]int{backend}), benchkit.SelfCPU()
	return func() cpuSpan {
		return cpuSpan{wall: time.Since(w0), proxies: benchkit.CPUOf(proxies) - p0, backend: benchkit.CPUOf([]int{backend}) - b0, bench: benchkit.SelfCPU() - s0}
	}
}

// openLoopRun is one open-loop run of one path.
type openLoopRun struct {
	latency  []time.Duration // response end - scheduled send, per answered request
	late     []time.Duration // actual send - scheduled send, per request
	sent     int
	errors   int
	firstErr error
}

// olConn is a pooled connection of the open-loop generator; seq is the
// request it carries.
type olConn struct {
	*httpConn
	seq     atomic.Int64
	samples []time.Duration // written by its reader only
}

// openLoop sends rate requests per second for dur on a pool of warm
// keep-alive connections. Request i is due at t0 + i/rate whatever
// happened before (open loop), goes out on any free connection, and its
// latency runs from when it was due to the end of its response; a
// request that waits for a free connection or for a late scheduler waits
// on the clock. The scheduler runs on its own OS thread and sleeps with
// nanosleep(2) and a 1 ns timer slack: Go's timers fire up to ~1 ms late
// on Linux, which would swamp what is measured.
func openLoop(ctx context.Context, p path, rate int, dur time.Duration, pool int) (openLoopRun, error) {
	var run openLoopRun
	hc, err := dialWarm(p, pool)
	if err != nil {
		return run, err
	}
	n := int(dur.Seconds() * float64(rate))
	period := time.Second / time.Duration(rate)
	free := make(chan *olConn, pool)
	conns := make([]*olConn, pool)
	var (
		dead     atomic.Int32
		stopping atomic.Bool
		errMu    sync.Mutex
		wg       sync.WaitGroup
	)
	t0 := time.Now().Add(20 * time.Millisecond)
	for i, h := range hc {
		h.c.SetDeadline(t0.Add(dur + 30*time.Second))
		c := &olConn{httpConn: h, samples: make([]time.Duration, 0, n/pool*4+16)}
		conns[i] = c
		free <- c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := c.recv()
				if err != nil {
					if !stopping.Load() {
						errMu.Lock()
						run.errors++
						if run.firstErr == nil {
							run.firstErr = err
						}
						errMu.Unlock()
						dead.Add(1)
						c.c.Close()
					}
					return
				}
				c.samples = append(c.samples, time.Since(t0.Add(time.Duration(c.seq.Load())*period)))
				free <- c
			}
		}()
	}
	defer func() {
		stopping.Store(true)
		closeAll(hc)
		wg.Wait()
	}()

	run.late = make([]time.Duration, 0, n)
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		setTimerSlack(1)
		defer setTimerSlack(0)
		var wait *time.Timer
		for i := 0; i < n && ctx.Err() == nil; i++ {
			due := t0.Add(time.Duration(i) * period)
			sleepUntil(due)
			var c *olConn
			select {
			case c = <-free:
			default:
				if wait == nil {
					wait = time.NewTimer(5 * time.Second)
				} else {
					wait.Reset(5 * time.Second)
				}
				select {
				case c = <-free:
				case <-wait.C:
				}
				wait.Stop()
			}
			if c == nil {
				err = fmt.Errorf("%s: no connection came free for 5s (%d of %d failed)", p.name, dead.Load(), pool)
				return
			}
			c.seq.Store(int64(i))
			run.late = append(run.late, time.Since(due))
			run.sent++
			if err := c.send(); err != nil {
				c.c.Close() // its reader counts the failure
			}
		}
	}()
	if err != nil {
		return run, err
	}
	if err := ctx.Err(); err != nil {
		return run, err
	}
	// Wait for the last responses.
	deadline := time.Now().Add(30 * time.Second)
	for len(free)+int(dead.Load()) < pool && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stopping.Store(true)
	closeAll(hc)
	wg.Wait()
	for _, c := range conns {
		run.latency = append(run.latency, c.samples...)
	}
	if lost := run.sent - len(run.latency) - run.errors; lost > 0 {
		run.errors += lost // unanswered when the run ended
	}
	return run, nil
}

// sleepUntil sleeps the calling OS thread until t.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		syscall.Nanosleep(&ts, nil) // EINTR: loop
	}
}

// setTimerSlack sets this thread's timer slack (0: the default, 50 µs).
func setTimerSlack(ns uintptr) {
	const prSetTimerSlack = 29
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, ns, 0)
}

// closedLoopRun is one closed-loop run of one path.
type closedLoopRun struct {
	requests int64
	errors   int64
	firstErr error
	cpu      cpuSpan
}

func (r closedLoopRun) rate() float64 { return float64(r.requests) / r.cpu.wall.Seconds() }

// closedLoop keeps conns warm keep-alive connections busy for dur, each
// sending its next request when the previous response has been read.
func closedLoop(ctx context.Context, p path, conns int, dur time.Duration, backend int) (closedLoopRun, error) {
	var run closedLoopRun
	hc, err := dialWarm(p, conns)
	if err != nil {
		return run, err
	}
	defer closeAll(hc)
	var (
		wg       sync.WaitGroup
		total    atomic.Int64
		failures atomic.Int64
		errOnce  sync.Once
	)
	stop := meter(p.proxies, backend)
	end := time.Now().Add(dur)
	for _, c := range hc {
		c.c.SetDeadline(end.Add(30 * time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := c.do(); err != nil {
					failures.Add(1)
					errOnce.Do(func() { run.firstErr = err })
					break
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	run.cpu = stop()
	run.requests, run.errors = total.Load(), failures.Load()
	return run, ctx.Err()
}

// bulkRun is one single-stream bulk transfer.
type bulkRun struct {
	bytes uint64
	cpu   cpuSpan
}

func (r bulkRun) mbps() float64 { return float64(r.bytes) / 1e6 / r.cpu.wall.Seconds() }

// bulk streams frames to the sink at addr for dur on one TCP connection
// and returns what the sink counted; the time runs until its answer.
func bulk(ctx context.Context, p path, dur time.Duration, backend int) (bulkRun, error) {
	var run bulkRun
	c, err := net.DialTimeout("tcp", p.sink, 5*time.Second)
	if err != nil {
		return run, fmt.Errorf("%s: bulk: %w", p.name, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(dur + 60*time.Second))
	frame := bytes.Repeat([]byte{1}, frameSize)
	stop := meter(p.proxies, backend)
	start := time.Now()
	for time.Since(start) < dur && ctx.Err() == nil {
		if _, err := c.Write(frame); err != nil {
			return run, fmt.Errorf("%s: bulk write: %w", p.name, err)
		}
	}
	frame[0] = 0
	if _, err := c.Write(frame); err != nil {
		return run, fmt.Errorf("%s: bulk write: %w", p.name, err)
	}
	var reply [8]byte
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		return run, fmt.Errorf("%s: bulk: reading the sink's count: %w", p.name, err)
	}
	run.cpu = stop()
	run.bytes = binary.BigEndian.Uint64(reply[:])
	if run.bytes == 0 {
		return run, errors.New(p.name + ": bulk: the sink counted 0 bytes")
	}
	return run, ctx.Err()
}
