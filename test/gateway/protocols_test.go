package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// These tests carry each protocol across two gateways: a local client,
// east (forward proxy, CONNECT or a per-service TCP listener), an mTLS
// tunnel, west, and a real backend in west's cluster.

// protoTimeout bounds every read, write and request in these tests.
const protoTimeout = 30 * time.Second

// meshService is a service west exports in namespace demo from one local
// endpoint.
type meshService struct {
	name    string
	port    uint32
	backend string
	// tcpListener gives east a per-service TCP listener for the port.
	tcpListener bool
}

func (s meshService) host() string { return s.name + ".demo." + gateway.ClustersetDomain }

func (s meshService) hostPort() string { return net.JoinHostPort(s.host(), strconv.Itoa(int(s.port))) }

// protoMesh is a federation of east and west where west exports services.
type protoMesh struct {
	east, west *gatewaytest.Gateway
	// tcp maps NAME.demo to east's TCP listener for it.
	tcp map[string]string
}

// startProtoMesh starts a control plane and both gateways and waits until
// east routes every service to west.
func startProtoMesh(t *testing.T, svcs ...meshService) *protoMesh {
	t.Helper()
	fed := gatewaytest.New(t, gatewaytest.ClusterSpec{Name: "east"}, gatewaytest.ClusterSpec{Name: "west"})
	wcfg, ecfg := fed.Config("west"), fed.Config("east")
	for _, s := range svcs {
		wcfg.Services = append(wcfg.Services, gateway.LocalService{
			Namespace: "demo", Name: s.name,
			Ports:     []gateway.LocalPort{{Port: s.port}},
			Endpoints: []gateway.LocalEndpoint{{Address: s.backend}},
		})
		if s.tcpListener {
			ecfg.TCPListeners = append(ecfg.TCPListeners, gateway.TCPListener{Service: s.name + ".demo", Port: s.port, Listen: "127.0.0.1:0"})
		}
	}
	m := &protoMesh{west: gatewaytest.Start(t, wcfg), tcp: map[string]string{}}
	m.east = gatewaytest.Start(t, ecfg)
	for i, addr := range m.east.TCPAddrs() {
		m.tcp[ecfg.TCPListeners[i].Service] = addr
	}
	for _, s := range svcs {
		gatewaytest.WaitRoutable(t, m.east, s.name+".demo", "west")
	}
	return m
}

// dialTCPListener connects to east's TCP listener for s.
func (m *protoMesh) dialTCPListener(t *testing.T, s meshService) net.Conn {
	t.Helper()
	addr, ok := m.tcp[s.name+".demo"]
	if !ok {
		t.Fatalf("east has no TCP listener for %s", s.name)
	}
	c, err := net.DialTimeout("tcp", addr, protoTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialConnect is the package's dialConnect, closed when the test ends.
func (m *protoMesh) dialConnect(t *testing.T, s meshService) net.Conn {
	t.Helper()
	c := dialConnect(t, m.east, s.hostPort())
	t.Cleanup(func() { c.Close() })
	return c
}

// protoPath is one way for a client to reach a service through east.
type protoPath struct {
	name string
	dial func(m *protoMesh, t *testing.T, s meshService) net.Conn
}

var protoPaths = []protoPath{
	{"connect", (*protoMesh).dialConnect},
	{"tcp_listener", (*protoMesh).dialTCPListener},
}

// serveTCPBackend runs handle for each connection to a loopback listener
// until the test ends; then it closes the listener and every connection
// still open, and waits for the handlers to return.
func serveTCPBackend(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l := gatewaytest.Listen(t)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				c.SetDeadline(time.Now().Add(protoTimeout))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// byteCountingListener counts the bytes read from all its connections, to
// see what reached a backend on the wire.
type byteCountingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *byteCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &byteCountingConn{Conn: c, n: &l.read}, nil
}

type byteCountingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *byteCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// serveHTTPListener serves h on l until the test ends.
func serveHTTPListener(t *testing.T, l net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// patternData is n deterministic pseudo-random bytes named by seed.
func patternData(seed uint64, n int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.LimitReader(mrand.NewChaCha8(s), n)
}

// digestOf is the length and SHA-256 of what r yields, as "N:HEX".
func digestOf(r io.Reader) (string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return fmt.Sprintf("%d:%x", n, h.Sum(nil)), err
}

func mustDigestOf(t *testing.T, r io.Reader) string {
	t.Helper()
	d, err := digestOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// bodyCounter counts the bytes read from a request body.
type bodyCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *bodyCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestHTTP1ThroughForwardProxy sends HTTP/1.1 as HTTP_PROXY clients do:
// absolute-URI requests to east's forward proxy, proxied per request.
func TestHTTP1ThroughForwardProxy(t *testing.T) {
	t.Parallel()
	// 1. Start a backend for the general cases and one, whose bytes on
	// the wire are counted, for Expect: 100-continue.
	next := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/conn", func(w http.ResponseWriter, r *http.Request) {
		// The backend sees one connection per tunnel.
		io.WriteString(w, r.RemoteAddr)
	})
	mux.HandleFunc("/digest", func(w http.ResponseWriter, r *http.Request) {
		d, err := digestOf(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "te=%s cl=%d %s", strings.Join(r.TransferEncoding, ","), r.ContentLength, d)
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, patternData(2, n))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length and a flush: chunked. The second chunk waits
		// until the client has the first, so nothing on the way buffers.
		w.Header().Set("Trailer", "X-Parts")
		io.WriteString(w, "part1;")
		http.NewResponseController(w).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		case <-time.After(protoTimeout):
			return
		}
		io.WriteString(w, "part2")
		w.Header().Set("X-Parts", "2")
	})
	backend := serveHTTP(t, mux)

	expectL := &byteCountingListener{Listener: gatewaytest.Listen(t)}
	expectMux := http.NewServeMux()
	expectMux.HandleFunc("/reject", func(w http.ResponseWriter, r *http.Request) {
		// Refuse on the headers alone, without reading the body.
		w.WriteHeader(http.StatusExpectationFailed)
	})
	expectMux.HandleFunc("/accept", func(w http.ResponseWriter, r *http.Request) {
		d, _ := digestOf(r.Body)
		fmt.Fprintf(w, "expect=%s %s", r.Header.Get("Expect"), d)
	})
	serveHTTPListener(t, expectL, expectMux)

	web := meshService{name: "web", port: 8080, backend: backend}
	expect := meshService{name: "expect", port: 8080, backend: expectL.Addr().String()}
	m := startProtoMesh(t, web, expect)

	// newClient is a client of east's forward proxy that counts its
	// connections to the proxy.
	newClient := func(t *testing.T) (*http.Client, *atomic.Int32) {
		u, _ := url.Parse("http://" + m.east.OutboundAddr())
		var dials atomic.Int32
		tr := &http.Transport{
			Proxy: http.ProxyURL(u),
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			// Far longer than the gateway's own, so the client waits for
			// the backend's answer instead of sending the body anyway.
			ExpectContinueTimeout: 10 * time.Second,
			DisableCompression:    true,
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: protoTimeout}, &dials
	}
	webURL := "http://" + web.hostPort()

	t.Run("keep_alive", func(t *testing.T) {
		// 2. Several requests in a row use one client connection to the
		// proxy, and east reuses one warm tunnel to the backend.
		c, dials := newClient(t)
		var remotes []string
		for i := range 5 {
			var got httptrace.GotConnInfo
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) { got = info },
			})
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, webURL+"/conn", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, err)
			}
			if i > 0 && !got.Reused {
				t.Errorf("request %d: client connection to the proxy was not reused", i)
			}
			remotes = append(remotes, string(body))
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("client opened %d connections to the proxy, want 1", n)
		}
		for i, r := range remotes {
			if r != remotes[0] {
				t.Errorf("request %d reached the backend on connection %s, request 0 on %s: east did not reuse its tunnel", i, r, remotes[0])
			}
		}
	})

	t.Run("chunked_request", func(t *testing.T) {
		c, _ := newClient(t)
		want := mustDigestOf(t, patternData(1, 300<<10))
		req, _ := http.NewRequest(http.MethodPost, webURL+"/digest", io.MultiReader(patternData(1, 300<<10)))
		req.ContentLength = -1 // unknown: the client sends it chunked
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if got := string(body); got != "te=chunked cl=-1 "+want {
			t.Fatalf("backend saw %q, want a chunked body %s", got, want)
		}
	})

	t.Run("chunked_response_streams", func(t *testing.T) {
		c, _ := newClient(t)
		resp, err := c.Get(webURL + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
			t.Fatalf("response transfer-encoding %q, content-length %d: want chunked", resp.TransferEncoding, resp.ContentLength)
		}
		first := make([]byte, len("part1;"))
		if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "part1;" {
			t.Fatalf("first chunk %q, %v", first, err)
		}
		close(next) // the backend writes the rest only now
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(rest) != "part2" {
			t.Fatalf("rest %q, %v", rest, err)
		}
		if got := resp.Trailer.Get("X-Parts"); got != "2" {
			t.Errorf("trailer X-Parts %q, want 2", got)
		}
	})

	const big = 32 << 20
	t.Run("large_upload", func(t *testing.T) {
		c, _ := newClient(t)
		want := mustDigestOf(t, patternData(3, big))
		req, _ := http.NewRequest(http.MethodPut, webURL+"/digest", patternData(3, big))
		req.ContentLength = big
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if got := string(body); got != fmt.Sprintf("te= cl=%d %s", big, want) {
			t.Fatalf("backend received %q, want %s", got, want)
		}
	})

	t.Run("large_download", func(t *testing.T) {
		c, _ := newClient(t)
		resp, err := c.Get(webURL + "/download?n=" + strconv.Itoa(big))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != big {
			t.Errorf("content-length %d, want %d", resp.ContentLength, big)
		}
		if got, want := mustDigestOf(t, resp.Body), mustDigestOf(t, patternData(2, big)); got != want {
			t.Fatalf("downloaded %s, want %s", got, want)
		}
	})

	// expectPost sends size bytes with Expect: 100-continue and reports
	// the response, whether a 100 Continue arrived and how many body bytes
	// the client gave away.
	expectPost := func(t *testing.T, path string, size int64) (resp *http.Response, body string, got100 bool, sent int64) {
		c, _ := newClient(t)
		var got100Flag atomic.Bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got100Continue: func() { got100Flag.Store(true) },
		})
		cr := &bodyCounter{r: patternData(4, size)}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+expect.hostPort()+path, cr)
		req.ContentLength = size
		req.Header.Set("Expect", "100-continue")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b), got100Flag.Load(), cr.n.Load()
	}

	t.Run("expect_continue_rejected", func(t *testing.T) {
		const size = 1 << 20
		before := expectL.read.Load()
		resp, _, got100, sent := expectPost(t, "/reject", size)
		if resp.StatusCode != http.StatusExpectationFailed {
			t.Fatalf("status %d, want 417", resp.StatusCode)
		}
		if got100 {
			t.Error("the client got 100 Continue from a backend that refused")
		}
		if sent != 0 {
			t.Errorf("the client sent %d body bytes, want 0", sent)
		}
		// Headers are well under 64 KiB; the body is 1 MiB.
		if n := expectL.read.Load() - before; n >= 64<<10 {
			t.Errorf("the backend read %d bytes: the body reached it", n)
		}
	})

	t.Run("expect_continue_accepted", func(t *testing.T) {
		const size = 1 << 20
		resp, body, got100, sent := expectPost(t, "/accept", size)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200", resp.StatusCode, body)
		}
		if !got100 {
			t.Error("no 100 Continue reached the client")
		}
		if sent != size {
			t.Errorf("the client sent %d body bytes, want %d", sent, size)
		}
		if want := "expect=100-continue " + mustDigestOf(t, patternData(4, size)); body != want {
			t.Errorf("backend answered %q, want %q", body, want)
		}
	})
}

// wsEcho is a WebSocket echo backend. It records how each session's
// client closed it, and closes what is left at the end of the test
// (http.Server.Close does not know hijacked connections).
type wsEcho struct {
	mu     sync.Mutex
	conns  map[*websocket.Conn]bool
	closes chan *websocket.CloseError
	wg     sync.WaitGroup
}

func newWSEcho(t *testing.T) *wsEcho {
	e := &wsEcho{conns: map[*websocket.Conn]bool{}, closes: make(chan *websocket.CloseError, 8)}
	t.Cleanup(func() {
		e.mu.Lock()
		for c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *wsEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	e.wg.Add(1)
	defer e.wg.Done()
	e.mu.Lock()
	e.conns[c] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		c.Close()
	}()
	c.SetReadDeadline(time.Now().Add(protoTimeout))
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				select {
				case e.closes <- ce:
				default:
				}
			}
			return
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// waitClose waits for the backend to see the client's close frame.
func (e *wsEcho) waitClose(t *testing.T) *websocket.CloseError {
	t.Helper()
	select {
	case ce := <-e.closes:
		return ce
	case <-time.After(protoTimeout):
		t.Fatal("the backend never saw the client's close frame")
		return nil
	}
}

// TestWebSocketThroughForwardProxy upgrades to WebSocket through east:
// with CONNECT (what gorilla/websocket does for ws:// behind a proxy) and
// with an absolute-URI GET Upgrade that east proxies as HTTP.
func TestWebSocketThroughForwardProxy(t *testing.T) {
	t.Parallel()
	echo := newWSEcho(t)
	ws := meshService{name: "ws", port: 8081, backend: serveHTTP(t, echo)}
	m := startProtoMesh(t, ws)
	wsURL := "ws://" + ws.hostPort() + "/echo"

	t.Run("connect", func(t *testing.T) {
		proxy, _ := url.Parse("http://" + m.east.OutboundAddr())
		d := websocket.Dialer{Proxy: http.ProxyURL(proxy), HandshakeTimeout: protoTimeout}
		ctx, cancel := context.WithTimeout(context.Background(), protoTimeout)
		defer cancel()
		c, resp, err := d.DialContext(ctx, wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake status %d", resp.StatusCode)
		}
		c.SetReadDeadline(time.Now().Add(protoTimeout))
		large, _ := io.ReadAll(patternData(5, 2<<20))
		for _, msg := range []struct {
			typ  int
			data []byte
		}{
			{websocket.TextMessage, []byte("hello, west")},
			{websocket.BinaryMessage, []byte{0, 1, 2, 0xff, 0xfe}},
			{websocket.BinaryMessage, large},
			{websocket.TextMessage, []byte("after the large one")},
		} {
			if err := c.WriteMessage(msg.typ, msg.data); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if typ != msg.typ || !bytes.Equal(got, msg.data) {
				t.Fatalf("echo: type %d, %d bytes; sent type %d, %d bytes", typ, len(got), msg.typ, len(msg.data))
			}
		}
		// Close handshake: our close frame reaches the backend, whose
		// reply comes back as a CloseError.
		if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(protoTimeout)); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
			t.Fatalf("after close: %v, want the backend's close frame (1000)", err)
		}
		if got := echo.waitClose(t); got.Code != websocket.CloseNormalClosure || got.Text != "bye" {
			t.Fatalf("backend saw close %d %q, want 1000 \"bye\"", got.Code, got.Text)
		}
	})

	t.Run("absolute_uri_upgrade", func(t *testing.T) {
		// gorilla always uses CONNECT behind a proxy, so this client is
		// written out: RFC 6455's example key, and hand-made frames.
		c, err := net.DialTimeout("tcp", m.east.OutboundAddr(), protoTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(protoTimeout))
		const key = "dGhlIHNhbXBsZSBub25jZQ=="
		fmt.Fprintf(c, "GET %s/echo HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", "http://"+ws.hostPort(), ws.hostPort(), key)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
			t.Fatalf("handshake: %s, Upgrade %q", resp.Status, resp.Header.Get("Upgrade"))
		}
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" || got != wsAccept(key) {
			t.Fatalf("Sec-WebSocket-Accept %q", got)
		}
		large, _ := io.ReadAll(patternData(6, 200<<10))
		for _, f := range []struct {
			op   byte
			data []byte
		}{{wsText, []byte("hello over the HTTP path")}, {wsBinary, large}} {
			if err := writeWSFrame(c, f.op, f.data); err != nil {
				t.Fatal(err)
			}
			op, got, err := readWSMessage(br)
			if err != nil {
				t.Fatal(err)
			}
			if op != f.op || !bytes.Equal(got, f.data) {
				t.Fatalf("echo: opcode %d, %d bytes; sent opcode %d, %d bytes", op, len(got), f.op, len(f.data))
			}
		}
		if err := writeWSFrame(c, wsClose, append([]byte{0x03, 0xe8}, "bye"...)); err != nil {
			t.Fatal(err)
		}
		op, got, err := readWSMessage(br)
		if err != nil || op != wsClose || len(got) < 2 || binary.BigEndian.Uint16(got) != 1000 {
			t.Fatalf("after close: opcode %d %q %v, want a close frame with 1000", op, got, err)
		}
		if ce := echo.waitClose(t); ce.Code != 1000 || ce.Text != "bye" {
			t.Fatalf("backend saw close %d %q", ce.Code, ce.Text)
		}
		// The backend then closes the connection, and so does the tunnel.
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after the close handshake: read %d, %v; want EOF", n, err)
		}
	})
}

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
)

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeWSFrame writes one final, masked (as a client must) frame.
func writeWSFrame(w io.Writer, op byte, payload []byte) error {
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := [4]byte{0x6d, 0x65, 0x73, 0x68}
	hdr = append(hdr, mask[:]...)
	frame := make([]byte, len(hdr)+len(payload))
	copy(frame, hdr)
	for i, b := range payload {
		frame[len(hdr)+i] = b ^ mask[i%4]
	}
	_, err := w.Write(frame)
	return err
}

// readWSMessage reads one message (joining fragments) from a server,
// whose frames must not be masked.
func readWSMessage(r io.Reader) (op byte, msg []byte, err error) {
	for first := true; ; first = false {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 0, nil, err
		}
		fin, fop := h[0]&0x80 != 0, h[0]&0x0f
		if h[1]&0x80 != 0 {
			return 0, nil, errors.New("websocket: the server masked a frame")
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 16<<20 {
			return 0, nil, fmt.Errorf("websocket: frame of %d bytes", n)
		}
		switch {
		case first:
			op = fop
		case fop != wsContinuation:
			return 0, nil, fmt.Errorf("websocket: opcode %d inside a fragmented message", fop)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return 0, nil, err
		}
		msg = append(msg, b...)
		if fin {
			return op, msg, nil
		}
	}
}

// TestTCPThroughGateways carries raw TCP, through CONNECT and through a
// per-service TCP listener, and checks that a half-close crosses both
// gateways in each direction.
func TestTCPThroughGateways(t *testing.T) {
	t.Parallel()
	// 1. Two backends: one replies only after the client's EOF; one
	// half-closes first and then reports what the client still sent.
	replyAfterEOF := meshService{name: "digest", port: 7000, tcpListener: true, backend: serveTCPBackend(t, func(c net.Conn) {
		d, err := digestOf(c)
		if err != nil {
			return
		}
		io.WriteString(c, "received "+d)
	})}
	const greeting = "hello from west; I am done writing\n"
	received := make(chan string, 4)
	closesFirst := meshService{name: "greeter", port: 7001, tcpListener: true, backend: serveTCPBackend(t, func(c net.Conn) {
		io.WriteString(c, greeting)
		c.(*net.TCPConn).CloseWrite()
		d, err := digestOf(c)
		if err != nil {
			d = err.Error()
		}
		received <- d
	})}
	m := startProtoMesh(t, replyAfterEOF, closesFirst)

	for _, p := range protoPaths {
		t.Run(p.name, func(t *testing.T) {
			t.Run("client_half_closes", func(t *testing.T) {
				// 2. Write 1 MiB, shut our write side, then read the full
				// reply, sent only after the backend saw our EOF.
				c := p.dial(m, t, replyAfterEOF)
				c.SetDeadline(time.Now().Add(protoTimeout))
				if _, err := io.Copy(c, patternData(7, 1<<20)); err != nil {
					t.Fatal(err)
				}
				if err := c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				reply, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if want := "received " + mustDigestOf(t, patternData(7, 1<<20)); string(reply) != want {
					t.Fatalf("reply %q, want %q", reply, want)
				}
			})
			t.Run("backend_half_closes", func(t *testing.T) {
				// 3. The backend writes and shuts its write side; we see
				// EOF, yet what we send afterwards still reaches it.
				c := p.dial(m, t, closesFirst)
				c.SetDeadline(time.Now().Add(protoTimeout))
				got, err := io.ReadAll(c)
				if err != nil || string(got) != greeting {
					t.Fatalf("read %q, %v; want the greeting then EOF", got, err)
				}
				if _, err := io.Copy(c, patternData(8, 256<<10)); err != nil {
					t.Fatalf("writing after the backend's half-close: %v", err)
				}
				c.(*net.TCPConn).CloseWrite()
				select {
				case d := <-received:
					if want := mustDigestOf(t, patternData(8, 256<<10)); d != want {
						t.Fatalf("backend received %s, want %s", d, want)
					}
				case <-time.After(protoTimeout):
					t.Fatal("the backend never saw our EOF")
				}
			})
		})
	}

	// 4. Data sent in the same write as the CONNECT request, before its
	// answer (as clients that send their TLS hello at once do), is part
	// of the tunnel: east must not lose what it read ahead, nor give up
	// the dial because the client half-closed already. 100 bytes sit
	// wholly in east's read buffer, 64 KiB partly.
	for _, size := range []int64{100, 64 << 10} {
		t.Run("connect_pipelined_"+strconv.FormatInt(size, 10), func(t *testing.T) {
			c, err := net.DialTimeout("tcp", m.east.OutboundAddr(), protoTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(protoTimeout))
			payload, _ := io.ReadAll(patternData(10, size))
			req := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", replyAfterEOF.hostPort())
			if _, err := c.Write(append([]byte(req), payload...)); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("CONNECT: %s %q", resp.Status, b)
			}
			reply, err := io.ReadAll(br)
			if err != nil {
				t.Fatal(err)
			}
			if want := "received " + mustDigestOf(t, bytes.NewReader(payload)); string(reply) != want {
				t.Fatalf("reply %q, want %q", reply, want)
			}
		})
	}
}

// selfSignedCert is a certificate for name signed by its own key.
func selfSignedCert(t *testing.T, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestTLSPassthrough runs the client's own TLS (mutual, with ALPN) to a
// backend through both gateways, which must pass it on untouched.
func TestTLSPassthrough(t *testing.T) {
	t.Parallel()
	const name = "secure.demo.svc.clusterset.local"
	serverCert := selfSignedCert(t, name, x509.ExtKeyUsageServerAuth)
	clientCert := selfSignedCert(t, "client.east", x509.ExtKeyUsageClientAuth)
	clientRoots, serverRoots := x509.NewCertPool(), x509.NewCertPool()
	clientRoots.AddCert(serverCert.Leaf)
	serverRoots.AddCert(clientCert.Leaf)

	// 1. A TLS echo backend with its own certificate, requiring ours.
	states := make(chan tls.ConnectionState, 4)
	secure := meshService{name: "secure", port: 8443, tcpListener: true, backend: serveTCPBackend(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    serverRoots,
			NextProtos:   []string{"h2"},
		})
		defer tc.Close()
		if err := tc.Handshake(); err != nil {
			return
		}
		states <- tc.ConnectionState()
		io.Copy(tc, tc)
	})}
	m := startProtoMesh(t, secure)

	for _, p := range protoPaths {
		t.Run(p.name, func(t *testing.T) {
			// 2. Handshake end to end, pinning the backend's certificate.
			raw := p.dial(m, t, secure)
			raw.SetDeadline(time.Now().Add(protoTimeout))
			tc := tls.Client(raw, &tls.Config{
				RootCAs:      clientRoots,
				ServerName:   name,
				Certificates: []tls.Certificate{clientCert},
				NextProtos:   []string{"h2", "http/1.1"},
			})
			if err := tc.Handshake(); err != nil {
				t.Fatalf("end-to-end handshake: %v", err)
			}
			cs := tc.ConnectionState()
			if len(cs.PeerCertificates) != 1 || !bytes.Equal(cs.PeerCertificates[0].Raw, serverCert.Certificate[0]) {
				t.Fatal("the client's peer certificate is not the backend's")
			}
			if cs.NegotiatedProtocol != "h2" {
				t.Errorf("ALPN %q, want h2", cs.NegotiatedProtocol)
			}
			var ss tls.ConnectionState
			select {
			case ss = <-states:
			case <-time.After(protoTimeout):
				t.Fatal("the backend finished no handshake")
			}
			if ss.ServerName != name {
				t.Errorf("backend saw SNI %q, want %q", ss.ServerName, name)
			}
			if len(ss.PeerCertificates) != 1 || !bytes.Equal(ss.PeerCertificates[0].Raw, clientCert.Certificate[0]) {
				t.Error("the backend's peer certificate is not the client's")
			}

			// 3. Data echoes inside the end-to-end session, then both
			// sides close it cleanly.
			msg := []byte("only the backend can read this")
			if _, err := tc.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(tc, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo %q, %v", got, err)
			}
			if err := tc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if n, err := tc.Read(got); err != io.EOF {
				t.Fatalf("after close_notify: read %d, %v; want EOF", n, err)
			}
			tc.Close()
		})
	}
}
