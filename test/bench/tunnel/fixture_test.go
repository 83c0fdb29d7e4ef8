package tunnel_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/trustbundle/identity"
)

// pki holds the mTLS configurations of two gateways in different trust
// domains: east dials, west accepts.
type pki struct {
	client *tls.Config
	server *tls.Config
}

func newPKI(tb testing.TB) pki {
	tb.Helper()
	east, west := spiffeid.RequireTrustDomainFromString("east.test"), spiffeid.RequireTrustDomainFromString("west.test")
	eastCA, err := devca.New(east, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	westCA, err := devca.New(west, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	eastID := spiffeid.RequireFromPath(east, "/meshfed/gateway/east/gw")
	westID := spiffeid.RequireFromPath(west, "/meshfed/gateway/west/gw")
	eastSVID, err := eastCA.IssueSVID(eastID, time.Hour, devca.SVIDOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	westSVID, err := westCA.IssueSVID(westID, time.Hour, devca.SVIDOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	bundles := x509bundle.NewSet(eastCA.Bundle(), westCA.Bundle())
	return pki{
		client: identity.ClientConfig(eastSVID, bundles, tlsconfig.AuthorizeID(westID)),
		server: identity.ServerConfig(westSVID, bundles, tlsconfig.AuthorizeMemberOf(east)),
	}
}

// service is a tunnelled destination. SNI carries it as
// "<port>.<host>" (a host name has no port), CONNECT as "<host>:<port>".
type service struct {
	host string
	port int
}

func (s service) sni() string       { return strconv.Itoa(s.port) + "." + s.host }
func (s service) authority() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

var (
	echoSvc    = service{"echo.demo.svc.clusterset.local", 8080}
	discardSvc = service{"discard.demo.svc.clusterset.local", 9000}
	unknownSvc = service{"nope.demo.svc.clusterset.local", 1}
)

// lookup maps the name a server received to the service's handler; ok is
// false for names no service has.
func lookup(name string) (serve func(r io.Reader, w io.Writer) error, ok bool) {
	switch name {
	case echoSvc.sni(), echoSvc.authority():
		return echo, true
	case discardSvc.sni(), discardSvc.authority():
		return discard, true
	}
	return nil, false
}

// echo copies r to w until r ends; w must not buffer. Its buffer is
// small because it stays allocated for every idle stream and would
// otherwise dominate IdleMemory; it is the same for every candidate.
func echo(r io.Reader, w io.Writer) error {
	buf := make([]byte, 4<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// discard reads r to its end, then writes the byte count (8 bytes, big
// endian) to w.
func discard(r io.Reader, w io.Writer) error {
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 32<<10))
	if err != nil {
		return err
	}
	_, err = w.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	return err
}

// stream is the client end of one tunnelled stream.
type stream interface {
	io.ReadWriter
	// CloseWrite ends the client-to-server direction; reads go on.
	CloseWrite() error
	Close() error
}

// tunnel is the client side of a candidate, with its server.
type tunnel interface {
	// Open opens a stream to svc. It blocks until the stream is usable.
	Open(ctx context.Context, svc service) (stream, error)
	// Conns is the number of TCP connections the server has accepted.
	Conns() int64
}

type candidate struct {
	name string
	// start starts a server on loopback and returns a client for it;
	// both are closed at tb's cleanup.
	start func(tb testing.TB, p pki) tunnel
}

var candidates = []candidate{
	{"sni-full", func(tb testing.TB, p pki) tunnel { return startSNI(tb, p, false) }},
	{"sni-resumed", func(tb testing.TB, p pki) tunnel { return startSNI(tb, p, true) }},
	{"h2-connect", func(tb testing.TB, p pki) tunnel { return startH2(tb, p, 0) }},
	{"h2-connect-frame16k", func(tb testing.TB, p pki) tunnel { return startH2(tb, p, 16<<10) }},
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func listen(tb testing.TB) *countingListener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return &countingListener{Listener: ln}
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
