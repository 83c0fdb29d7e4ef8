package identity_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCA(t testing.TB, td string) *devca.CA {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t testing.TB, ca *devca.CA, path string) *x509svid.SVID {
	t.Helper()
	svid, err := ca.IssueSVID(spiffeid.RequireFromPath(ca.TrustDomain(), path), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svid
}

// bundleOf is the control plane's record of a trust domain's bundle with
// the given roots, as client.State.Bundles holds it.
func bundleOf(t testing.TB, seq uint64, roots ...*devca.CA) *meshfedv1.Bundle {
	t.Helper()
	var certs []*x509.Certificate
	for _, r := range roots {
		certs = append(certs, r.Certificate())
	}
	td := roots[0].TrustDomain()
	b := spiffebundle.FromX509Authorities(td, certs)
	b.SetSequenceNumber(seq)
	doc, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: doc, Sequence: seq}
}

func serial(s *x509svid.SVID) *big.Int { return s.Certificates[0].SerialNumber }

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}

// echoServer is a TLS server on loopback that echoes what each client
// sends. Handshake errors go to errs (if not nil). It stops when the test
// ends, closing every connection.
type echoServer struct {
	lis  net.Listener
	errs chan<- error

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool

	wg sync.WaitGroup
}

func startEcho(t testing.TB, cfg *tls.Config, errs chan<- error) *echoServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{lis: lis, errs: errs, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(tls.Server(c, cfg))
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *echoServer) addr() string { return s.lis.Addr().String() }

func (s *echoServer) serve(c *tls.Conn) {
	defer s.wg.Done()
	defer c.Close()
	if err := c.Handshake(); err != nil {
		if s.errs != nil {
			s.errs <- err
		}
		return
	}
	_, _ = io.Copy(c, c)
}

// dial opens an mTLS connection and completes the handshake.
func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// roundTrip sends msg and reads it back: data both ways on one connection.
func roundTrip(c *tls.Conn, msg string) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: got " + string(buf))
	}
	return nil
}

func peerSerial(c *tls.Conn) *big.Int {
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}
