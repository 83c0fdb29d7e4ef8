package tunnel_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
)

// sniServer accepts one TLS connection per stream and serves the service
// named in its SNI. Names no service has are refused in the ClientHello,
// before any certificate work.
type sniServer struct {
	ln     *countingListener
	cfg    *tls.Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// sniTunnel dials one TLS connection per stream.
type sniTunnel struct {
	srv  *sniServer
	addr string
	cfg  *tls.Config
}

func startSNI(tb testing.TB, p pki, resume bool) *sniTunnel {
	tb.Helper()
	scfg := p.server.Clone()
	scfg.SessionTicketsDisabled = !resume
	scfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if _, ok := lookup(hello.ServerName); !ok {
			return nil, fmt.Errorf("no service %q", hello.ServerName)
		}
		return nil, nil
	}
	s := &sniServer{ln: listen(tb), cfg: scfg, conns: map[net.Conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(s.close)

	ccfg := p.client.Clone()
	if resume {
		ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return &sniTunnel{srv: s, addr: s.ln.Addr().String(), cfg: ccfg}
}

func (t *sniTunnel) Open(ctx context.Context, svc service) (stream, error) {
	cfg := t.cfg.Clone() // shares the session cache
	cfg.ServerName = svc.sni()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

func (t *sniTunnel) Conns() int64 { return t.srv.ln.n.Load() }

func (s *sniServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1) // s.serve holds a count, so this cannot race s.wg.Wait
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *sniServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	tc := tls.Server(c, s.cfg)
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return
	}
	serve, ok := lookup(tc.ConnectionState().ServerName)
	if !ok {
		return
	}
	serve(tc, tc)
}

// close stops accepting, closes every connection and waits for their
// goroutines.
func (s *sniServer) close() {
	s.ln.Close()
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
