package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"
)

// maxReplayBytes is the most of a gRPC request body kept so that the call
// can be retried on another cluster; larger (or streaming) requests are
// passed through and retried only when nothing was sent.
const maxReplayBytes = 64 << 10

// grpcUnavailable is gRPC's UNAVAILABLE status code.
const grpcUnavailable = "14"

// grpcServer serves a gRPC listener: HTTP/2 cleartext from local clients,
// each call sent to a cluster chosen for it, over h2c inside the mTLS
// tunnels to the exporting clusters' gateways.
func (g *Gateway) grpcServer(ctx context.Context, t Target) *http.Server {
	lim := g.cfg.Limits
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = t.Service.Host() + ":" + strconv.Itoa(int(t.Port))
			pr.Out.Host = pr.Out.URL.Host
		},
		Transport:     grpcTransport{g: g, target: t},
		FlushInterval: -1,
		ErrorHandler:  grpcError,
		BufferPool:    proxyBufferPool{},
	}
	srv := &http.Server{
		Handler:           &grpcHandler{g: g, proxy: rp, target: t},
		ReadHeaderTimeout: lim.HeaderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: lim.MaxConcurrentStreams},
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return srv
}

type grpcHandler struct {
	g      *Gateway
	proxy  *httputil.ReverseProxy
	target Target
}

func (h *grpcHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := h.g
	start := time.Now()
	info := &reqInfo{}
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
	h.proxy.ServeHTTP(sw, r)
	status := sw.Header().Get("Grpc-Status")
	if status == "" {
		status = sw.Header().Get(http.TrailerPrefix + "Grpc-Status")
	}
	result := "grpc-" + status
	if status == "" {
		result = strconv.Itoa(sw.code/100) + "xx"
	}
	labels := []string{"outbound", g.cfg.Cluster, info.cluster, h.target.Service.String(), "grpc", result}
	g.m.requests.WithLabelValues(labels...).Inc()
	g.m.latency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
}

// grpcError answers a call that reached no cluster with a trailers-only
// gRPC response: UNAVAILABLE and the reason.
func grpcError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Grpc-Status", grpcUnavailable)
	w.Header().Set("Grpc-Message", "meshfed gateway: "+err.Error())
	w.WriteHeader(http.StatusOK)
}

// grpcTransport sends each call to a cluster picked for it and retries it
// on another cluster (up to retry.attempts, within the retry budget) when
// nothing was sent, or when the answer is UNAVAILABLE (or the stream was
// reset before any answer) and the request could be replayed.
type grpcTransport struct {
	g      *Gateway
	target Target
}

func (gt grpcTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := gt.g
	t, err := g.resolve(gt.target)
	if err != nil {
		return nil, err
	}
	bal := g.lb.get(t.Service.Key())
	if bal == nil {
		return nil, fmt.Errorf("%s: %w", t.Service, errUnavailable)
	}
	replayable, err := bufferBody(req)
	if err != nil {
		return nil, err
	}
	info, _ := req.Context().Value(reqInfoKey{}).(*reqInfo)
	g.retryBudget.request(time.Now())
	known := len(g.routes.Load().clusters)
	var tried []string
	var errs []error
	for attempt := 0; attempt < g.cfg.Retry.Attempts; attempt++ {
		cluster, ok := bal.Pick(skipper(tried))
		if !ok {
			break
		}
		if attempt > 0 {
			if !g.retryBudget.retry(time.Now()) {
				errs = append(errs, errors.New("retry budget exhausted"))
				break
			}
			if req.GetBody != nil {
				req.Body, _ = req.GetBody()
			}
			g.m.retries.WithLabelValues(g.cfg.Cluster, cluster, t.Service.String()).Inc()
		}
		tried = append(tried, cluster)
		if info != nil {
			info.cluster = cluster
		}
		resp, err := g.peers.h2transport(cluster).RoundTrip(req)
		var de *dialError
		sent := !(errors.As(err, &de) || peerRefused(err))
		unavailable := err == nil && grpcStatus(resp) == grpcUnavailable
		if cluster != g.cfg.Cluster {
			g.health.observe(cluster, err == nil && !unavailable && resp.StatusCode < 500, known, time.Now())
		}
		last := attempt+1 >= g.cfg.Retry.Attempts
		switch {
		case err == nil && (!unavailable || !replayable || last):
			return resp, nil
		case err == nil:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			errs = append(errs, fmt.Errorf("cluster %s: UNAVAILABLE: %s", cluster, resp.Header.Get("Grpc-Message")))
		default:
			errs = append(errs, err)
			if sent && !replayable || req.Context().Err() != nil {
				return nil, errors.Join(errs...)
			}
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: %w", t.Service, errUnavailable)
	}
	return nil, errors.Join(errs...)
}

// peekWait bounds how long grpcStatus waits for a response's first body
// byte to tell a status-only answer from one with messages.
const peekWait = 100 * time.Millisecond

// grpcStatus returns the call's status when the response is status-only:
// in the headers (trailers-only) or, when the server sent headers first,
// in trailers that follow at once with no message. A response whose
// first byte does not come within peekWait is passed on as it is, the
// pending read included.
func grpcStatus(resp *http.Response) string {
	if s := resp.Header.Get("Grpc-Status"); s != "" {
		return s
	}
	ch := make(chan peekResult, 1)
	body := resp.Body
	go func() {
		var r peekResult
		r.n, r.err = body.Read(r.b[:])
		ch <- r
	}()
	select {
	case r := <-ch:
		resp.Body = &peekedBody{ReadCloser: body, pending: ch, first: &r.b, n: r.n, err: r.err, done: true}
		if r.n == 0 && r.err == io.EOF {
			return resp.Trailer.Get("Grpc-Status")
		}
	case <-time.After(peekWait):
		resp.Body = &peekedBody{ReadCloser: body, pending: ch}
	}
	return ""
}

type peekResult struct {
	b   [1]byte
	n   int
	err error
}

// peekedBody returns the byte (or error) grpcStatus read first, then the
// rest of the body.
type peekedBody struct {
	io.ReadCloser
	pending chan peekResult
	first   *[1]byte
	n       int
	err     error
	done    bool
	used    bool
}

func (p *peekedBody) Read(b []byte) (int, error) {
	if !p.done {
		r := <-p.pending
		p.first, p.n, p.err, p.done = &r.b, r.n, r.err, true
	}
	if !p.used {
		p.used = true
		if p.n > 0 {
			b[0] = p.first[0]
			return 1, nil
		}
		if p.err != nil {
			return 0, p.err
		}
	}
	return p.ReadCloser.Read(b)
}

// bufferBody reads up to maxReplayBytes of the request body; when that is
// all of it, the request gets a GetBody so it can be sent again.
func bufferBody(req *http.Request) (bool, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return true, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBytes+1))
	if err != nil {
		return false, err
	}
	if len(buf) > maxReplayBytes {
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return false, nil
	}
	req.Body.Close()
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	req.Body, _ = req.GetBody()
	return true, nil
}
