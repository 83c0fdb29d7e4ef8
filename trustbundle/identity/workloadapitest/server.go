package workloadapitest

import (
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Server is a running Workload API server. It is safe for concurrent use.
type Server struct {
	workload.UnimplementedSpiffeWorkloadAPIServer

	addr string
	grpc *grpc.Server
	done chan struct{}

	// mu guards resp and changed.
	mu      sync.Mutex
	resp    *workload.X509SVIDResponse
	changed chan struct{} // closed and replaced by every Set
}

// Start serves the Workload API on a unix socket in dir (keep dir short:
// socket paths are limited to about 100 bytes), with svid and its trust
// domain's bundle as the first response. It stops when the test ends.
func Start(t testing.TB, dir string, svid *x509svid.SVID, bundle *x509bundle.Bundle) *Server {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("workloadapitest: %v", err)
	}
	s := &Server{addr: "unix://" + sock, grpc: grpc.NewServer(), done: make(chan struct{}), changed: make(chan struct{})}
	s.Set(t, svid, bundle)
	workload.RegisterSpiffeWorkloadAPIServer(s.grpc, s)
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the address for workloadapi.WithAddr and SPIFFE_ENDPOINT_SOCKET
// ("unix:///.../agent.sock").
func (s *Server) Addr() string { return s.addr }

// Stop ends every stream and stops the server; it returns when the server
// goroutine has. Calling it twice is fine.
func (s *Server) Stop() {
	s.grpc.Stop()
	<-s.done
}

// Set replaces the SVID and bundle and pushes them to every open
// FetchX509SVID stream. federated bundles, if any, are sent as foreign
// trust domains' bundles.
func (s *Server) Set(t testing.TB, svid *x509svid.SVID, bundle *x509bundle.Bundle, federated ...*x509bundle.Bundle) {
	t.Helper()
	certs, key, err := svid.MarshalRaw()
	if err != nil {
		t.Fatalf("workloadapitest: %v", err)
	}
	resp := &workload.X509SVIDResponse{
		Svids: []*workload.X509SVID{{
			SpiffeId:    svid.ID.String(),
			X509Svid:    certs,
			X509SvidKey: key,
			Bundle:      rawBundle(bundle),
		}},
		FederatedBundles: map[string][]byte{},
	}
	for _, b := range federated {
		resp.FederatedBundles[b.TrustDomain().IDString()] = rawBundle(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resp = resp
	close(s.changed)
	s.changed = make(chan struct{})
}

// rawBundle is the Workload API's bundle encoding: concatenated DER.
func rawBundle(b *x509bundle.Bundle) []byte {
	var out []byte
	for _, c := range b.X509Authorities() {
		out = append(out, c.Raw...)
	}
	return out
}

// FetchX509SVID streams the current response, then every one Set makes,
// until the client goes away or the server stops.
func (s *Server) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if v := md.Get("workload.spiffe.io"); len(v) != 1 || v[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	for {
		s.mu.Lock()
		resp, changed := s.resp, s.changed
		s.mu.Unlock()
		if err := stream.Send(resp); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}
