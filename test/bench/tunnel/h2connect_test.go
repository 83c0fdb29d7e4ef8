package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"testing"
)

// h2Tunnel carries each stream as an HTTP/2 CONNECT request on a pooled
// mTLS connection; :authority names the service.
type h2Tunnel struct {
	ln       *countingListener
	srv      *http.Server
	served   chan struct{}
	handlers sync.WaitGroup
	tr       *http.Transport
	url      string
}

// startH2 starts the server and its client. maxFrame is the server's
// SETTINGS_MAX_FRAME_SIZE; 0 keeps net/http's default (1 MiB).
func startH2(tb testing.TB, p pki, maxFrame int) *h2Tunnel {
	tb.Helper()
	var h2only http.Protocols
	h2only.SetHTTP2(true)
	t := &h2Tunnel{ln: listen(tb), served: make(chan struct{})}
	t.srv = &http.Server{
		Handler:   http.HandlerFunc(t.handle),
		TLSConfig: p.server.Clone(),
		Protocols: &h2only,
		// A peer gateway multiplexes every stream onto one connection;
		// the default (250) would make the client open more.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: 4096, MaxReadFrameSize: maxFrame},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(t.served)
		t.srv.ServeTLS(t.ln, "", "")
	}()
	t.tr = &http.Transport{
		TLSClientConfig:   p.client.Clone(),
		ForceAttemptHTTP2: true,
		Protocols:         &h2only,
	}
	t.url = "https://" + t.ln.Addr().String()
	tb.Cleanup(t.close)
	return t
}

func (t *h2Tunnel) handle(w http.ResponseWriter, r *http.Request) {
	t.handlers.Add(1)
	defer t.handlers.Done()
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	serve, ok := lookup(r.Host)
	if !ok {
		http.Error(w, "no such service", http.StatusNotFound)
		return
	}
	rc := http.NewResponseController(w)
	// HTTP/2 is full duplex already; HTTP/1 would need this.
	if err := rc.EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	serve(r.Body, flushWriter{w, rc})
}

// flushWriter flushes every write so that small echoes leave at once.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}

// Open sends the CONNECT request; it returns once the 200 arrives. ctx
// bounds the whole stream, not only the open.
func (t *h2Tunnel) Open(ctx context.Context, svc service) (stream, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, t.url, pr)
	if err != nil {
		return nil, err
	}
	req.Host = svc.authority()
	resp, err := t.tr.RoundTrip(req)
	if err != nil {
		pw.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		pw.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", req.Host, resp.Status)
	}
	return &h2Stream{pw: pw, body: resp.Body}, nil
}

func (t *h2Tunnel) Conns() int64 { return t.ln.n.Load() }

func (t *h2Tunnel) close() {
	t.tr.CloseIdleConnections()
	t.srv.Close()
	<-t.served
	t.handlers.Wait()
}

type h2Stream struct {
	pw   *io.PipeWriter
	body io.ReadCloser
}

func (s *h2Stream) Read(p []byte) (int, error)  { return s.body.Read(p) }
func (s *h2Stream) Write(p []byte) (int, error) { return s.pw.Write(p) }
func (s *h2Stream) CloseWrite() error           { return s.pw.Close() }

// Close ends both directions; an unfinished response is reset.
func (s *h2Stream) Close() error {
	s.pw.Close()
	return s.body.Close()
}
