package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// TestHTTP1FastPath covers what the forward proxy's HTTP/1.1 fast path
// (gateway/h1.go) does itself rather than through net/http: pipelining,
// bodiless responses, close-delimited bodies, hop-by-hop and forwarded
// headers, errors of its own, kept-alive tunnels the far side closed,
// and cancelling a request whose client left. It also checks that
// requests it does not take (a head too large for its buffer, bare LF
// line ends) are still served, by net/http.
func TestHTTP1FastPath(t *testing.T) {
	t.Parallel()
	slow := make(chan struct{}, 4)
	cancelled := make(chan struct{}, 4)
	var slowHits atomic.Int32
	var hostsMu sync.Mutex
	hosts := map[string]bool{} // Host headers the backend saw
	mux := http.NewServeMux()
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "the backend says 503")
	})
	mux.HandleFunc("/big-head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("b", 10<<10))
		io.WriteString(w, "big")
	})
	mux.HandleFunc("/path/", func(w http.ResponseWriter, r *http.Request) {
		hostsMu.Lock()
		hosts[r.Host] = true
		hostsMu.Unlock()
		io.WriteString(w, r.URL.Path)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "host=%s headers=%s", r.Host, strings.Join(names, ","))
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/sized", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "sized")
	})
	mux.HandleFunc("/until-close", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		brw.Flush()
		c.Close()
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		slow <- struct{}{}
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
			cancelled <- struct{}{}
		}
	})
	// The backend closes idle keep-alive connections after 100 ms: the
	// gateways' kept tunnels to it go stale.
	l := gatewaytest.Listen(t)
	srv := &http.Server{Handler: mux, IdleTimeout: 100 * time.Millisecond}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p := startPair(t, l.Addr().String(), nil)
	host := "echo.demo.svc.clusterset.local:8080"

	t.Run("pipelined", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		req := ""
		for _, s := range []string{"a", "b", "c"} {
			req += "GET http://" + host + "/path/" + s + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		}
		c.write(req)
		for _, s := range []string{"a", "b", "c"} {
			if code, body := c.read("GET"); code != 200 || body != "/path/"+s {
				t.Fatalf("pipelined response: %d %q, want /path/%s", code, body, s)
			}
		}
	})
	t.Run("bodiless_responses", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("HEAD /sized HTTP/1.1\r\nHost: " + host + "\r\n\r\nGET /nocontent HTTP/1.1\r\nHost: " + host + "\r\n\r\nGET /sized HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if code, body := c.read("HEAD"); code != 200 || body != "" {
			t.Fatalf("HEAD: %d %q", code, body)
		}
		if code, body := c.read("GET"); code != 204 || body != "" {
			t.Fatalf("204: %d %q", code, body)
		}
		if code, body := c.read("GET"); code != 200 || body != "sized" {
			t.Fatalf("after HEAD and 204 on the same connection: %d %q", code, body)
		}
	})
	t.Run("close_delimited_body", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET /until-close HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if code, body := c.read("GET"); code != 200 || body != "until the end" {
			t.Fatalf("close-delimited: %d %q", code, body)
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Fatalf("after a close-delimited body the client connection must close: %v", err)
		}
	})
	t.Run("hop_by_hop_and_forwarded_headers_dropped", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET http://" + host + "/headers HTTP/1.1\r\nHost: " + host + "\r\nConnection: X-Secret\r\nX-Secret: 1\r\n" +
			"Proxy-Authorization: Basic eDp5\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\n")
		code, body := c.read("GET")
		if want := "host=" + host + " headers=X-Kept"; code != 200 || body != want {
			t.Fatalf("the backend saw %d %q, want %q", code, body, want)
		}
	})
	t.Run("own_errors", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET http://nope.demo.svc.clusterset.local:8080/ HTTP/1.1\r\nHost: nope.demo.svc.clusterset.local:8080\r\n\r\n")
		if code, body := c.read("GET"); code != 404 || !strings.Contains(body, "nope") {
			t.Fatalf("unknown service: %d %q", code, body)
		}
		c = dialRaw(t, p.east.OutboundAddr())
		c.write("GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n")
		if code, body := c.read("GET"); code != 400 || !strings.Contains(body, "clusterset.local") {
			t.Fatalf("not a clusterset host: %d %q", code, body)
		}
	})
	t.Run("handed_to_net_http", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET /path/big HTTP/1.1\r\nHost: " + host + "\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\n\r\n")
		if code, body := c.read("GET"); code != 200 || body != "/path/big" {
			t.Fatalf("20 KiB head: %d %q", code, body)
		}
		c = dialRaw(t, p.east.OutboundAddr())
		c.write("GET /path/lf HTTP/1.1\nHost: " + host + "\n\n")
		if code, body := c.read("GET"); code != 200 || body != "/path/lf" {
			t.Fatalf("bare LF head: %d %q", code, body)
		}
	})
	t.Run("stale_kept_tunnels", func(t *testing.T) {
		client := proxyClient(t, p.east)
		for i := range 4 {
			if code, body := get(t, client, echoURL+"/path/stale"); code != 200 || body != "/path/stale" {
				t.Fatalf("request %d after the backend closed the idle tunnel: %d %q", i, code, body)
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
	t.Run("client_leaving_cancels", func(t *testing.T) {
		// On a kept-alive tunnel (the first request warms it): the
		// request is cancelled, and not sent again on a new tunnel.
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET /path/warm HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		c.read("GET")
		slowHits.Store(0)
		c.write("GET /slow HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		select {
		case <-slow:
		case <-time.After(10 * time.Second):
			t.Fatal("the request did not reach the backend")
		}
		c.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the backend's request was not cancelled when the client left")
		}
		time.Sleep(300 * time.Millisecond)
		if n := slowHits.Load(); n != 1 {
			t.Fatalf("the request reached the backend %d times, want once", n)
		}
	})
	t.Run("connection_naming_the_framing", func(t *testing.T) {
		// Connection: Content-Length must not strip the framing of a body
		// that is still sent (the body would be read as a request).
		hidden := "GET /path/hidden HTTP/1.1\r\nHost: evil.example\r\n\r\n"
		a := dialRaw(t, p.east.OutboundAddr())
		a.write(fmt.Sprintf("POST /path/a HTTP/1.1\r\nHost: %s\r\nConnection: Content-Length\r\nContent-Length: %d\r\n\r\n%s", host, len(hidden), hidden))
		if code, body := a.read("POST"); code != 200 || body != "/path/a" {
			t.Fatalf("POST: %d %q", code, body)
		}
		b := dialRaw(t, p.east.OutboundAddr())
		b.write("GET /path/b HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if code, body := b.read("GET"); code != 200 || body != "/path/b" {
			t.Fatalf("the next client got %d %q, want its own /path/b", code, body)
		}
		hostsMu.Lock()
		defer hostsMu.Unlock()
		if hosts["evil.example"] {
			t.Fatal("the body of a request reached the backend as a request of its own")
		}
	})
	t.Run("bad_target_closes", func(t *testing.T) {
		inner := "GET /path/inner HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		c := dialRaw(t, p.east.OutboundAddr())
		c.write(fmt.Sprintf("POST foo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", host, len(inner), inner))
		if code, _ := c.read("POST"); code != 400 {
			t.Fatalf("bad target: %d, want 400", code)
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Fatalf("after a refused request the connection must close (its body is not a request): %v", err)
		}
	})
	t.Run("last_cluster_status_is_forwarded", func(t *testing.T) {
		// 503 is retried on another cluster; with none left, the client
		// gets the backend's answer, not a gateway error.
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET /unavailable HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if code, body := c.read("GET"); code != 503 || body != "the backend says 503" {
			t.Fatalf("only cluster's 503: %d %q", code, body)
		}
	})
	t.Run("large_response_head", func(t *testing.T) {
		c := dialRaw(t, p.east.OutboundAddr())
		c.write("GET /big-head HTTP/1.1\r\nHost: " + host + "\r\n\r\nGET /path/after HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if code, body := c.read("GET"); code != 200 || body != "big" {
			t.Fatalf("10 KiB response head: %d %q", code, body)
		}
		if code, body := c.read("GET"); code != 200 || body != "/path/after" {
			t.Fatalf("after a large head: %d %q", code, body)
		}
	})
}

// rawConn is a client connection that writes bytes as given.
type rawConn struct {
	net.Conn
	br *bufio.Reader
	t  *testing.T
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{Conn: c, br: bufio.NewReader(c), t: t}
}

func (c *rawConn) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to a request with method.
func (c *rawConn) read(method string) (int, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading a body: %v", err)
	}
	return resp.StatusCode, string(b)
}
