package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The outbound listener's HTTP/1.1 fast path.
//
// Most proxied requests are plain HTTP/1.1: a method, a clusterset
// host, headers and a body framed by Content-Length or chunked
// encoding. For those the gateway does not need net/http's server and
// transport, whose goroutine hand-offs (a background read per request on
// the server side, write and read loops on the transport side) and
// allocations made the forward proxy cost both gateways 159 µs of CPU
// per request against 89 µs for the byte tunnel. The fast path serves a
// connection on one goroutine: it reads a request head, picks the
// cluster, writes the head and body to a pooled tunnel, and passes the
// response back as it came, with bodies copied in their own framing (so
// chunk trailers cross).
//
// Everything else — CONNECT, upgrades (WebSocket), Expect: 100-continue,
// HTTP/1.0, HTTP/2 cleartext, heads larger than the read buffer, and any
// head the strict parser refuses — goes to net/http's server with every
// byte read so far (handOver); the connection stays there.

// h1ReadBufSize is the fast path's read buffer; a request head must fit
// in it (larger ones, up to limits.max_header_bytes, go to net/http).
const h1ReadBufSize = 8 << 10

var (
	h1ReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, h1ReadBufSize) }}
	h1WriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// handOver passes connections to the outbound net/http server.
type handOver struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newHandOver(addr net.Addr) *handOver {
	return &handOver{ch: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

func (h *handOver) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handOver) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handOver) Addr() net.Addr { return h.addr }

// give hands c to the server; it closes c when the server is shut down.
func (h *handOver) give(c net.Conn) {
	select {
	case h.ch <- c:
	case <-h.closed:
		c.Close()
	}
}

// h1Conns tracks the fast path's connections, so a drain closes those
// waiting for their next request (as http.Server.Shutdown closes idle
// ones); busy ones close after their request.
type h1Conns struct {
	mu    sync.Mutex
	conns map[*h1conn]struct{}
}

// States of an h1conn.
const (
	h1Busy int32 = iota
	h1Waiting
	h1Closed
)

func (s *h1Conns) add(h *h1conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*h1conn]struct{}{}
	}
	s.conns[h] = struct{}{}
}

func (s *h1Conns) remove(h *h1conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, h)
}

// drain closes the connections waiting for a request. The gateway's
// draining flag is set first: a connection that starts waiting after
// this sees it and closes itself.
func (s *h1Conns) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range s.conns {
		if h.state.CompareAndSwap(h1Waiting, h1Closed) {
			h.c.Close()
		}
	}
}

// serveOutbound accepts on l; connections start on the fast path.
func (g *Gateway) serveOutbound(l net.Listener, hand *handOver) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("accept", "listener", "outbound", "error", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		h := &h1conn{g: g, c: c, hand: hand}
		g.h1conns.add(h)
		go h.serve()
	}
}

// h1conn is one client connection on the fast path.
type h1conn struct {
	g    *Gateway
	c    net.Conn
	hand *handOver
	br   *bufio.Reader // while a request is in progress (or pipelined)
	// first holds what the read that ended an idle wait returned: an
	// idle connection keeps only this, not a pooled read buffer.
	first   [512]byte
	pending []byte
	head    h1Head
	// out is the request head as forwarded, rebuilt per request.
	out []byte
	// watch notices the client going away during a slow request.
	watch clientWatch
	// state is h1Busy, h1Waiting (for a request) or h1Closed (by a drain).
	state atomic.Int32
	// armed is when the client's read deadline was last set to the idle
	// timeout from then (zero: it was changed since).
	armed time.Time
}

// Read feeds br: first what ended the idle wait, then the connection.
func (h *h1conn) Read(p []byte) (int, error) {
	if len(h.pending) > 0 {
		n := copy(p, h.pending)
		h.pending = h.pending[n:]
		return n, nil
	}
	return h.c.Read(p)
}

func (h *h1conn) serve() {
	g := h.g
	defer func() {
		if h.br != nil {
			h1ReaderPool.Put(h.br)
		}
		g.h1conns.remove(h)
	}()
	idle := g.cfg.Limits.IdleTimeout.D()
	for {
		if h.br == nil {
			// Waiting for the next request, with only h.first.
			h.state.Store(h1Waiting)
			if g.draining.Load() {
				h.c.Close()
				return
			}
			// The idle deadline moves only every idle/16 (a timer update
			// per request costs): it may cut a connection up to that much
			// early, never late.
			if now := time.Now(); h.armed.IsZero() || now.Sub(h.armed) > idle/16 {
				h.c.SetReadDeadline(now.Add(idle))
				h.armed = now
			}
			n, _ := h.c.Read(h.first[:])
			if !h.state.CompareAndSwap(h1Waiting, h1Busy) || n == 0 {
				// Closed by a drain, by the client, or idle: nothing to answer.
				h.c.Close()
				return
			}
			h.pending = h.first[:n]
			h.br = h1ReaderPool.Get().(*bufio.Reader)
			h.br.Reset(h)
		}
		n, what := h.readHead()
		switch what {
		case headHandOver:
			h.handOver()
			return
		case headFailed:
			h.c.Close()
			return
		}
		keep := h.request(n)
		if !keep {
			h.c.Close()
			return
		}
		if h.br.Buffered() == 0 && len(h.pending) == 0 {
			h1ReaderPool.Put(h.br)
			h.br = nil
		}
	}
}

// Outcomes of readHead.
const (
	headOK       = iota // a head for the fast path
	headHandOver        // a request for net/http
	headFailed          // the connection failed or timed out: close it
)

// readHead reads and parses a request head into h.head, returning its
// length and what to do with it.
func (h *h1conn) readHead() (int, int) {
	var headerBy time.Time
	defer func() {
		if !headerBy.IsZero() {
			h.c.SetReadDeadline(time.Time{})
		}
	}()
	if h.br.Buffered() == 0 {
		h.br.Peek(1) // moves h.pending into the buffer; never waits (see serve)
	}
	for {
		buf, _ := h.br.Peek(h.br.Buffered())
		switch end := findHeadEnd(buf); {
		case end < 0:
			return 0, headHandOver
		case end > h.g.cfg.Limits.MaxHeaderBytes:
			return 0, headHandOver // net/http answers 431
		case end > 0:
			if !parseRequestHead(buf[:end], &h.head) || !h.eligible() {
				return 0, headHandOver
			}
			return end, headOK
		}
		if h.br.Buffered() == h.br.Size() {
			return 0, headHandOver // too large for the fast path
		}
		if headerBy.IsZero() {
			// The head is not all here: the slowloris guard.
			headerBy = time.Now().Add(h.g.cfg.Limits.HeaderTimeout.D())
			h.c.SetReadDeadline(headerBy)
			h.armed = time.Time{}
		}
		if _, err := h.br.Peek(h.br.Buffered() + 1); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The slowloris guard fired on a partial head: say so.
				h.reply(&h1Error{http.StatusRequestTimeout, fmt.Sprintf("meshfed gateway: the request head did not arrive within limits.header_timeout (%v)", h.g.cfg.Limits.HeaderTimeout.D())}, true)
			}
			return 0, headFailed // closed, reset, or the header timeout
		}
	}
}

// eligible reports whether the parsed request is one the fast path
// serves.
func (h *h1conn) eligible() bool {
	hd := &h.head
	if hd.minor != 1 || hd.upgrade || hd.expect {
		return false
	}
	switch string(hd.method) {
	case http.MethodConnect, "PRI":
		return false
	}
	return true
}

// handOver gives the connection, with what was read of it, to net/http.
func (h *h1conn) handOver() {
	c := h.c
	if h.br != nil && (h.br.Buffered() > 0 || len(h.pending) > 0) {
		c = &bufferedConn{Conn: h.c, r: h.br}
		h.br = nil // bufferedConn reads it; not back to the pool
	}
	h.hand.give(c)
}

// h1Error is a request the fast path answers itself.
type h1Error struct {
	code int
	msg  string
}

// request serves the request whose head (n bytes) is in h.br, reporting
// whether the client connection may serve another.
func (h *h1conn) request(n int) (keep bool) {
	g := h.g
	start := time.Now()
	hd := &h.head
	method := string(hd.method) // the retry loop and logs keep it

	// The target: absolute-form URI, else the Host header.
	host, path := hd.host, hd.target
	if len(path) > 0 && path[0] != '/' && path[0] != '*' {
		u, p, ok := splitAbsolute(path)
		if !ok {
			msg := fmt.Sprintf("meshfed gateway: request target %q is neither a path nor an http:// URI", path)
			h.br.Discard(n)
			h.skipBody()
			return h.reply(&h1Error{http.StatusBadRequest, msg}, true)
		}
		host, path = u, p
	}
	t, err := ParseHost(string(host))
	if err != nil {
		h.br.Discard(n)
		h.skipBody()
		g.m.requests.WithLabelValues("outbound", g.cfg.Cluster, "", "", "http", "bad_request").Inc()
		return h.reply(&h1Error{http.StatusBadRequest, fmt.Sprintf("meshfed gateway: %v; send requests for NAME.NAMESPACE.%s (HTTP_PROXY=http://%s)", err, ClustersetDomain, g.OutboundAddr())}, true)
	}
	svc := t.Service.String()
	if t, err = g.resolve(t); err != nil {
		h.br.Discard(n)
		h.skipBody()
		g.m.requests.WithLabelValues("outbound", g.cfg.Cluster, "", svc, "http", "4xx").Inc()
		return h.reply(&h1Error{http.StatusNotFound, "meshfed gateway: " + err.Error()}, true)
	}

	// The forwarded head: origin-form target, Host first, hop-by-hop
	// headers dropped.
	h.out = append(h.out[:0], hd.method...)
	h.out = append(h.out, ' ')
	h.out = append(h.out, path...)
	h.out = append(h.out, " HTTP/1.1\r\nHost: "...)
	h.out = append(h.out, host...)
	h.out = append(h.out, "\r\n"...)
	for _, x := range hd.headers[:hd.nheaders] {
		if x.hop || asciiEqualFold(x.name, "Host") || forwardedHeader(x.name) {
			continue
		}
		h.out = append(h.out, x.name...)
		h.out = append(h.out, ": "...)
		h.out = append(h.out, x.value...)
		h.out = append(h.out, "\r\n"...)
	}
	h.out = append(h.out, "\r\n"...)
	clientClose := hd.close
	reqLength, reqChunked := hd.contentLength, hd.chunked
	// host and path point into the read buffer, which reading a body
	// reuses: the access log gets copies.
	var logHost, logPath string
	if g.cfg.AccessLog {
		logHost, logPath = string(host), string(path)
	}
	h.br.Discard(n)

	// A body that is in the buffer already goes with the head and can
	// be sent again; a longer one streams and cannot.
	bodyless := !reqChunked && reqLength <= 0
	inBuffer := !reqChunked && reqLength > 0 && int64(h.br.Buffered()) >= reqLength
	replayable := bodyless || inBuffer
	var body []byte
	if inBuffer {
		// Consumed now: nothing reads h.br again until the request is
		// done, so body stays valid, and the client watch sees that no
		// bytes of a next request are waiting.
		body, _ = h.br.Peek(int(reqLength))
		h.br.Discard(int(reqLength))
	}

	if !replayable && !h.armed.IsZero() {
		// A body that streams may take longer than the idle deadline.
		h.c.SetReadDeadline(time.Time{})
		h.armed = time.Time{}
	}
	var tun *h1tunnel
	var resp h1Head
	bodyTouched := false
	watch := &h.watch
	watch.reset(h)
	var respHeadLen int
	cluster, err := g.routeRequest(context.Background(), t, method, replayable, func(cluster string, attempt int) (int, bool, error) {
		if watch.gone.Load() {
			return 0, true, errClientGone
		}
		if bodyTouched && !replayable {
			return 0, true, errors.New("the request body cannot be sent again")
		}
		var err error
		tun, err = g.h1pool.get(cluster, t)
		if err == nil {
			bodyTouched = true
			respHeadLen, err = h.roundTrip(tun, body, bodyless || inBuffer, reqLength, reqChunked, &resp)
			if err != nil && tun.reused && tun.nothingRead && replayable && idempotent(method) && closedByPeer(err) && !watch.gone.Load() {
				// A kept-alive tunnel the far side closed meanwhile: the
				// request did not get there; try a fresh tunnel.
				tun.close()
				if tun, err = g.h1pool.dial(cluster, t); err == nil {
					respHeadLen, err = h.roundTrip(tun, body, true, reqLength, reqChunked, &resp)
				}
			}
		}
		if err != nil {
			if tun != nil {
				tun.close()
				tun = nil
			}
			if watch.gone.Load() {
				return 0, true, errClientGone // not the cluster's failure
			}
			return 0, g.sentAny(err), err
		}
		return resp.status, true, nil
	}, func() {
		tun.discard()
		tun = nil
	})
	if err != nil {
		e := h1ProxyError(err)
		g.m.requests.WithLabelValues("outbound", g.cfg.Cluster, cluster, svc, "http", strconv.Itoa(e.code/100)+"xx").Inc()
		g.log.Debug("proxy error", "target", t.String(), "error", err)
		if !replayable {
			clientClose = true // the request body may be half read
		}
		if !watch.stop() {
			return false
		}
		return h.reply(e, clientClose)
	}

	// The response: head (rewritten), then the body in its framing.
	headerAt := time.Now()
	draining := g.draining.Load()
	closeClient := clientClose || draining
	w := h1WriterPool.Get().(*bufio.Writer)
	w.Reset(h.c)
	defer h1WriterPool.Put(w)
	rbuf, _ := tun.br.Peek(respHeadLen)
	writeResponseHead(w, rbuf, &resp, closeClient)
	tun.br.Discard(respHeadLen)
	noBody := method == http.MethodHead || resp.status == http.StatusNoContent || resp.status == http.StatusNotModified
	var copied int64
	var cerr error
	switch {
	case noBody:
	case resp.chunked:
		copied, cerr = copyChunked(w, tun.br)
	case resp.contentLength >= 0:
		copied, cerr = copyFlushing(w, tun.br, resp.contentLength)
	default:
		// Delimited by the close of the connection: so is the client's.
		copied, cerr = copyFlushing(w, tun.br, -1)
		closeClient = true
		resp.close = true
	}
	// The tunnel is read to the end: back to the pool, and the request
	// counted, before the last bytes go to the client, so whoever sees
	// the response complete also sees both.
	clientStayed := watch.stop()
	if !clientStayed {
		closeClient = true // the client went away; the watch closed the tunnel
	}
	if cerr != nil || resp.close || !clientStayed {
		tun.close()
	} else {
		g.h1pool.put(tun)
	}
	result := strconv.Itoa(resp.status/100) + "xx"
	labels := []string{"outbound", g.cfg.Cluster, cluster, svc, "http", result}
	g.m.requests.WithLabelValues(labels...).Inc()
	g.m.latency.WithLabelValues(labels...).Observe(headerAt.Sub(start).Seconds())
	g.m.bytes.WithLabelValues("outbound", g.cfg.Cluster, cluster, svc, "http", "received").Add(float64(copied))
	if g.cfg.AccessLog {
		g.log.Info("access", "direction", "outbound", "method", method, "host", logHost, "path", logPath, "status", resp.status,
			"destination_cluster", cluster, "bytes", copied, "duration", time.Since(start).String())
	}
	if ferr := w.Flush(); cerr == nil {
		cerr = ferr
	}
	return cerr == nil && !closeClient
}

// roundTrip writes the request to tun and reads the response head into
// resp (forwarding no 1xx: a client that did not send Expect gets only
// informational responses the server sends unasked, which are dropped).
// It returns the head's length in tun.br.
func (h *h1conn) roundTrip(tun *h1tunnel, body []byte, whole bool, length int64, chunked bool, resp *h1Head) (int, error) {
	lim := h.g.cfg.Limits
	tun.nothingRead = true
	if h.watch.started {
		h.watch.tun.Store(tun) // a retry: the client's leaving closes this one
	}
	w := h1WriterPool.Get().(*bufio.Writer)
	w.Reset(tun.conn)
	defer h1WriterPool.Put(w)
	w.Write(h.out)
	var err error
	switch {
	case whole:
		w.Write(body)
	case chunked:
		_, err = copyChunked(w, h.br)
	default:
		_, err = copyFlushing(w, h.br, length)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, err
	}
	// The head must come within the per-try timeout. Until clientWatchAfter
	// passes the client is not watched: most responses come sooner.
	deadline := time.Now().Add(min(h.g.cfg.Retry.PerTryTimeout.D(), lim.RequestTimeout.D()))
	watchAt := time.Now().Add(clientWatchAfter)
	if h.watch.started || !watchAt.Before(deadline) {
		tun.conn.SetReadDeadline(deadline)
	} else {
		tun.conn.SetReadDeadline(watchAt)
	}
	defer tun.conn.SetReadDeadline(time.Time{})
	for {
		n, err := tun.readHead(resp)
		if err != nil && !h.watch.started && errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline) {
			h.watch.start(tun)
			tun.conn.SetReadDeadline(deadline)
			continue
		}
		if err != nil {
			return 0, err
		}
		if resp.status >= 200 {
			return n, nil
		}
		if resp.status == http.StatusSwitchingProtocols {
			return 0, errors.New("the server switched protocols unasked")
		}
		tun.br.Discard(n) // 1xx: dropped
	}
}

// h1ProxyError is the answer for a request that could not be delivered.
func h1ProxyError(err error) *h1Error {
	return &h1Error{proxyStatus(err), "meshfed gateway: " + err.Error()}
}

// reply answers the client with an error of the gateway's own.
func (h *h1conn) reply(e *h1Error, closeAfter bool) bool {
	body := e.msg + "\n"
	hdr := "HTTP/1.1 " + strconv.Itoa(e.code) + " " + http.StatusText(e.code) + "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	closeAfter = closeAfter || h.g.draining.Load()
	if closeAfter {
		hdr += "Connection: close\r\n"
	}
	if _, err := io.WriteString(h.c, hdr+"\r\n"+body); err != nil {
		return false
	}
	return !closeAfter
}

// skipBody reads past the body of a request that is refused, when it is
// short and already here; otherwise the connection is closed after the
// answer (reply's caller passes closeAfter).
func (h *h1conn) skipBody() {
	if !h.head.chunked && h.head.contentLength > 0 && int64(h.br.Buffered()) >= h.head.contentLength {
		h.br.Discard(int(h.head.contentLength))
	}
}

// writeResponseHead writes the response head as forwarded: the status
// line as received (upgraded to HTTP/1.1), hop-by-hop headers dropped,
// and Connection: close when the client connection ends after it.
func writeResponseHead(w *bufio.Writer, raw []byte, resp *h1Head, closeClient bool) {
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(resp.status))
	w.WriteByte(' ')
	w.Write(resp.reason)
	w.WriteString("\r\n")
	for _, x := range resp.headers[:resp.nheaders] {
		if x.hop {
			continue
		}
		w.Write(x.name)
		w.WriteString(": ")
		w.Write(x.value)
		w.WriteString("\r\n")
	}
	if closeClient {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
}

// splitAbsolute splits an http:// absolute-form target into its
// authority and origin-form path.
func splitAbsolute(u []byte) (host, path []byte, ok bool) {
	const scheme = "http://"
	if len(u) < len(scheme) || !asciiEqualFold(u[:len(scheme)], scheme) {
		return nil, nil, false
	}
	rest := u[len(scheme):]
	end := len(rest)
	for i, c := range rest {
		if c == '/' || c == '?' || c == '#' {
			end = i
			break
		}
	}
	host, path = rest[:end], rest[end:]
	if len(host) == 0 || bytes.IndexByte(host, '@') >= 0 {
		return nil, nil, false
	}
	switch {
	case len(path) == 0:
		path = []byte("/")
	case path[0] == '?':
		path = append([]byte("/"), path...)
	case path[0] == '#':
		return nil, nil, false
	}
	return host, path, true
}

// forwardedHeader reports the Forwarded and X-Forwarded-* headers a
// client sent: dropped, as net/http's ReverseProxy drops them, so a
// client cannot pass forged ones to a service.
func forwardedHeader(name []byte) bool {
	return asciiEqualFold(name, "Forwarded") || asciiEqualFold(name, "X-Forwarded-For") ||
		asciiEqualFold(name, "X-Forwarded-Host") || asciiEqualFold(name, "X-Forwarded-Proto")
}

// closedByPeer reports an error that means the far side had closed the
// connection (EOF, reset, broken pipe): on a kept-alive tunnel from
// which nothing was read, the request did not get there.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
