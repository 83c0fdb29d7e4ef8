package gateway_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// closingHandler answers like clusterHandler(name) with Connection:
// close, so every request through a gateway opens a new tunnel.
func closingHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		clusterHandler(name).ServeHTTP(w, r)
	})
}

// TestTrafficFlowsWithoutControlPlane: once the control plane is gone,
// both gateways keep what they knew, and new tunnels from east to west
// keep working.
func TestTrafficFlowsWithoutControlPlane(t *testing.T) {
	t.Parallel()
	backend := startCountingBackend(t, closingHandler("west"))
	p := startPair(t, backend.addr, nil)
	c := proxyClient(t, p.east)

	// 1. Stop the control plane; both gateways notice.
	p.fed.CP.Stop()
	for _, gw := range []*gatewaytest.Gateway{p.east, p.west} {
		gatewaytest.WaitFor(t, gw.Config.Cluster+" to see the control plane gone", func() bool {
			return !gw.DebugSnapshot().Connected
		})
	}

	// 2. Requests still flow, each over a new tunnel.
	for i := range 5 {
		if code, body := get(t, c, fmt.Sprintf("%s/after-cp/%d", echoURL, i)); code != 200 || body != fmt.Sprintf("west GET /after-cp/%d", i) {
			t.Fatalf("request %d without control plane: %d %q", i, code, body)
		}
	}
	if n := backend.conns.Load(); n != 5 {
		t.Fatalf("backend connections = %d, want 5 (one tunnel per request)", n)
	}
}

// TestRestartFromDiskSnapshot: east is restarted while the control plane
// is down; it serves from the snapshot it saved on disk, and goes back to
// the control plane's state when it returns.
func TestRestartFromDiskSnapshot(t *testing.T) {
	t.Parallel()
	backend := serveHTTP(t, clusterHandler("west"))
	p := startPair(t, backend, nil)
	cpAddr, cpDir := p.fed.CP.CP.Addr(), filepath.Dir(p.fed.CP.ConfigPath)
	ecfg := p.east.Config

	// 1. Control plane down, then east stopped (west stays up).
	p.fed.CP.Stop()
	p.east.Stop()
	if _, err := os.Stat(filepath.Join(ecfg.DataDir, "snapshot.pb")); err != nil {
		t.Fatalf("east saved no snapshot: %v", err)
	}

	// 2. A new east with the same config is ready from disk alone.
	east := gatewaytest.Start(t, ecfg)
	if d := east.DebugSnapshot(); d.Source != "disk" || d.Connected {
		t.Fatalf("restarted east: source %q, connected %v; want disk, not connected", d.Source, d.Connected)
	}
	c := proxyClient(t, east)
	for range 3 {
		if code, body := get(t, c, echoURL+"/from-disk"); code != 200 || body != "west GET /from-disk" {
			t.Fatalf("from the disk snapshot: %d %q", code, body)
		}
	}

	// 3. The control plane comes back on the same address and data: east
	// follows it again.
	controlplanetest.Start(t, controlplane.Config{DataDir: cpDir, Listen: cpAddr})
	gatewaytest.WaitFor(t, "east to follow the control plane again", func() bool {
		d := east.DebugSnapshot()
		return d.Source == "controlplane" && d.Connected
	})
	if code, body := get(t, c, echoURL+"/cp-back"); code != 200 || body != "west GET /cp-back" {
		t.Fatalf("control plane back: %d %q", code, body)
	}
}

// TestSlowClientsAreCut: a client that never finishes its request
// headers is cut after limits.header_timeout, and a peer that never
// sends a ClientHello after limits.handshake_timeout; a prompt client is
// not affected.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	const limit = 300 * time.Millisecond
	backend := serveHTTP(t, clusterHandler("west"))
	p := startPair(t, backend, func(cfg *gateway.Config) {
		cfg.Limits.HeaderTimeout = gateway.Duration(limit)
		cfg.Limits.HandshakeTimeout = gateway.Duration(limit)
		// No active probes: the slow peer is the only handshake counted.
		cfg.Health.ProbeInterval = -1
	})

	// The forward proxy answers a head cut short by the timeout with 408
	// and closes; the inbound listener closes a silent peer.
	const timedOut = "HTTP/1.1 408 Request Timeout\r\n"
	for _, tc := range []struct {
		name, addr, send, answer string
	}{
		{"outbound: partial request line", p.east.OutboundAddr(), "GET http://echo.demo.svc.clusterset.local:8080/ HT", timedOut},
		{"outbound: headers never finished", p.east.OutboundAddr(), "GET / HTTP/1.1\r\nHost: echo.demo.svc.clusterset.local:8080\r\nX-Slow: 1\r\n", timedOut},
		{"outbound: partial CONNECT", p.east.OutboundAddr(), "CONNECT echo.demo.svc.clusterset.local:8080 HTTP/1.1\r\n", timedOut},
		{"inbound: no ClientHello", p.west.InboundAddr(), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			answer, err := io.ReadAll(c)
			took := time.Since(start)
			if err != nil || !strings.HasPrefix(string(answer), tc.answer) || tc.answer == "" && len(answer) > 0 {
				t.Fatalf("read %q, %v after %v; want %q... and the connection closed", answer, err, took, tc.answer)
			}
			if took < limit*2/3 || took > time.Second+limit {
				t.Fatalf("closed after %v, want about %v", took, limit)
			}
		})
	}
	waitMetric(t, p.west, "meshfed_gateway_handshake_failures_total", map[string]string{"direction": "inbound", "reason": "timeout"}, 1)

	// A prompt client, through a prompt tunnel, is served.
	if code, body := get(t, proxyClient(t, p.east), echoURL+"/prompt"); code != 200 || body != "west GET /prompt" {
		t.Fatalf("prompt client: %d %q", code, body)
	}
}

// TestMaxConnections: with limits.max_connections 3, east refuses a
// fourth concurrent connection at accept, on any of its listeners, and
// accepts again once one has closed.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	const max = 3
	backend := serveHTTP(t, clusterHandler("west"))
	p := startPair(t, backend, func(cfg *gateway.Config) {
		if cfg.Cluster == "east" {
			cfg.Limits.MaxConnections = max
		}
		// West's probes of east would take connection slots too.
		cfg.Health.ProbeInterval = -1
	})
	dial := func(addr string) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	refused := func(c net.Conn) {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || err == nil {
			t.Fatalf("connection over the limit: read %d bytes, %v; want it closed", n, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("connection over the limit closed after %v, want at once", took)
		}
	}

	// 1. Three idle client connections fill east.
	var open []net.Conn
	for range max {
		open = append(open, dial(p.east.OutboundAddr()))
	}
	gatewaytest.WaitFor(t, "east to hold 3 connections", func() bool { return p.east.DebugSnapshot().Connections == max })

	// 2. A fourth, on the forward proxy or the inbound listener, is closed.
	refused(dial(p.east.OutboundAddr()))
	waitMetric(t, p.east, "meshfed_gateway_rejected_connections_total", map[string]string{"listener": "outbound", "limit": "max_connections"}, 1)
	refused(dial(p.east.InboundAddr()))
	waitMetric(t, p.east, "meshfed_gateway_rejected_connections_total", map[string]string{"listener": "inbound", "limit": "max_connections"}, 1)

	// 3. The three held are still served.
	if code, body := requestOver(t, open[0], "/held"); code != 200 || body != "west GET /held" {
		t.Fatalf("held connection: %d %q", code, body)
	}

	// 4. One closes; a new connection is accepted.
	open[1].Close()
	gatewaytest.WaitFor(t, "east to hold 2 connections", func() bool { return p.east.DebugSnapshot().Connections == max-1 })
	if code, body := requestOver(t, dial(p.east.OutboundAddr()), "/new"); code != 200 || body != "west GET /new" {
		t.Fatalf("new connection under the limit: %d %q", code, body)
	}
	if n := gatewayMetric(t, p.east, "meshfed_gateway_rejected_connections_total", nil); n != 2 {
		t.Fatalf("rejected connections = %v, want 2", n)
	}
}

// slowBackend answers after delay, or gives up when its request is
// cancelled; started receives a value when a request arrives, and
// cancelled when one is cancelled before its answer.
type slowBackend struct {
	addr               string
	started, cancelled chan struct{}
}

func startSlowBackend(t *testing.T, delay time.Duration) *slowBackend {
	t.Helper()
	b := &slowBackend{started: make(chan struct{}, 10), cancelled: make(chan struct{}, 10)}
	b.addr = serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.started <- struct{}{}
		select {
		case <-time.After(delay):
			fmt.Fprintf(w, "slow %s", r.URL.Path)
		case <-r.Context().Done():
			b.cancelled <- struct{}{}
		}
	}))
	return b
}

// asyncGet runs GET u with c on its own goroutine.
func asyncGet(c *http.Client, u string) <-chan getResult {
	ch := make(chan getResult, 1)
	go func() {
		resp, err := c.Get(u)
		if err != nil {
			ch <- getResult{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- getResult{code: resp.StatusCode, body: string(b), err: err}
	}()
	return ch
}

type getResult struct {
	code int
	body string
	err  error
}

func waitStarted(t *testing.T, b *slowBackend) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the backend")
	}
}

// TestDrainFinishesInFlightRequests: stopping east (what SIGTERM does)
// while a request is in flight lets it complete, and east's forward
// proxy refuses new connections afterwards.
func TestDrainFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	backend := startSlowBackend(t, 500*time.Millisecond)
	p := startPair(t, backend.addr, nil)
	outbound := p.east.OutboundAddr()

	// 1. A request is in flight at west's backend; east is stopped.
	res := asyncGet(proxyClient(t, p.east), echoURL+"/in-flight")
	waitStarted(t, backend)
	p.east.Stop()

	// 2. It completed.
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "slow /in-flight" {
		t.Fatalf("in-flight request across the drain: %d %q %v", r.code, r.body, r.err)
	}

	// 3. New connections are refused.
	c, err := net.DialTimeout("tcp", outbound, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatal("east's forward proxy accepted a connection after it stopped")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after stop: %v, want connection refused", err)
	}
}

// TestDrainTimeoutCutsSlowRequests: with limits.drain_timeout 200ms,
// stopping east during a 3 s request returns within about a second;
// the request fails, and the cut reaches west's backend.
func TestDrainTimeoutCutsSlowRequests(t *testing.T) {
	t.Parallel()
	backend := startSlowBackend(t, 3*time.Second)
	p := startPair(t, backend.addr, func(cfg *gateway.Config) {
		if cfg.Cluster == "east" {
			cfg.Limits.DrainTimeout = gateway.Duration(200 * time.Millisecond)
		}
	})

	res := asyncGet(proxyClient(t, p.east), echoURL+"/too-slow")
	waitStarted(t, backend)
	start := time.Now()
	p.east.Stop()
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("Stop took %v with a 200ms drain timeout", took)
	}
	select {
	case r := <-res:
		if r.err == nil {
			t.Fatalf("request cut by the drain timeout: %d %q, want an error", r.code, r.body)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the request was not cut when east stopped")
	}
	select {
	case <-backend.cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("west's backend request was not cancelled when east cut the tunnel")
	}
}
