package endpoint_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/endpoint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeView stands in for federation/view: stored bundle records by trust
// domain, each update a new record.
type fakeView struct {
	mu      sync.Mutex
	bundles map[string]*meshfedv1.Bundle
}

func (f *fakeView) Bundle(td string) (*meshfedv1.Bundle, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bundles[td]
	return b, ok
}

func (f *fakeView) put(t *testing.T, sb *spiffebundle.Bundle) {
	t.Helper()
	jwks, err := sb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := sb.SequenceNumber()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bundles == nil {
		f.bundles = map[string]*meshfedv1.Bundle{}
	}
	f.bundles[sb.TrustDomain().Name()] = &meshfedv1.Bundle{TrustDomain: sb.TrustDomain().Name(), Jwks: jwks, Sequence: seq}
}

func newCA(t *testing.T, td string) *devca.CA {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func bundleOf(ca *devca.CA, seq uint64) *spiffebundle.Bundle {
	b := spiffebundle.FromX509Bundle(ca.Bundle())
	b.SetSequenceNumber(seq)
	return b
}

// serve runs s on a loopback port until the test ends and returns its address.
func serve(t *testing.T, s *endpoint.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func fetchCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHTTPSSPIFFEProfile(t *testing.T) {
	own := newCA(t, "meshfed.test")
	serverID := spiffeid.RequireFromString("spiffe://meshfed.test/meshfed/controlplane")
	svid, err := own.IssueSVID(serverID, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	view := &fakeView{}
	eu := newCA(t, "eu-1.test")
	view.put(t, bundleOf(eu, 1))
	s, err := endpoint.New(endpoint.Config{Bundles: view, Own: spiffebundle.FromX509Bundle(own.Bundle()), SVID: svid})
	if err != nil {
		t.Fatal(err)
	}
	if s.Profile() != endpoint.ProfileHTTPSSPIFFE {
		t.Fatalf("default profile without a certificate is %s, want %s", s.Profile(), endpoint.ProfileHTTPSSPIFFE)
	}
	addr := serve(t, s)
	auth := federation.WithSPIFFEAuth(own.Bundle(), serverID)
	fetch := func(td string) (*spiffebundle.Bundle, error) {
		id := spiffeid.RequireTrustDomainFromString(td)
		return federation.FetchBundle(fetchCtx(t), id, endpoint.URL(addr, id), auth)
	}

	// 1. The stored bundle is served as stored.
	got, err := fetch("eu-1.test")
	if err != nil || !got.Equal(bundleOf(eu, 1)) {
		t.Fatalf("eu-1.test: got %v, %v; want the stored bundle", got, err)
	}
	// 2. The own trust domain's bundle is served (for bootstrapping).
	if got, err := fetch("meshfed.test"); err != nil || !got.Equal(spiffebundle.FromX509Bundle(own.Bundle())) {
		t.Fatalf("own bundle: got %v, %v", got, err)
	}
	// 3. A new record (rotation, sequence 2) is served from the next request.
	eu2 := newCA(t, "eu-1.test")
	view.put(t, bundleOf(eu2, 2))
	if got, err := fetch("eu-1.test"); err != nil || !got.Equal(bundleOf(eu2, 2)) {
		t.Fatalf("after update: got %v, %v; want sequence 2", got, err)
	}
	// 4. Unknown trust domains fail.
	if _, err := fetch("nope.test"); err == nil {
		t.Fatal("fetching an unknown trust domain succeeded")
	}
	// 5. A client that expects another server ID refuses the endpoint.
	other := federation.WithSPIFFEAuth(own.Bundle(), spiffeid.RequireFromString("spiffe://meshfed.test/other"))
	if _, err := federation.FetchBundle(fetchCtx(t), eu.TrustDomain(), endpoint.URL(addr, eu.TrustDomain()), other); err == nil {
		t.Fatal("client expecting another SPIFFE ID accepted the endpoint")
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsconfig.TLSClientConfig(own.Bundle(), tlsconfig.AuthorizeID(serverID))}}
	t.Cleanup(client.CloseIdleConnections)
	for _, tc := range []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"unknown trust domain", "GET", "/bundles/nope.test", 404, `trust domain "nope.test" is not federated here`},
		{"invalid trust domain", "GET", "/bundles/Not_Valid", 404, `"Not_Valid" is not a valid SPIFFE trust domain name`},
		{"other path", "GET", "/metrics", 404, "bundles are served at /bundles/TRUST_DOMAIN"},
		{"POST", "POST", "/bundles/eu-1.test", 405, "serves GET only"},
		{"HEAD", "HEAD", "/bundles/eu-1.test", 405, ""},
		{"GET", "GET", "/bundles/eu-1.test", 200, `"spiffe_sequence":2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(fetchCtx(t), tc.method, "https://"+addr+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
				t.Fatalf("%s %s: %d %q; want %d containing %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.body)
			}
		})
	}
}

func TestHTTPSWebProfileReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issue := func(modTime time.Time) *x509.CertPool {
		t.Helper()
		ca := newCA(t, "web.test")
		leaf, err := ca.IssueSVID(spiffeid.RequireFromString("spiffe://web.test/endpoint"), time.Hour,
			devca.SVIDOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := devca.WriteSVID(certFile, keyFile, leaf); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{certFile, keyFile} {
			if err := os.Chtimes(f, modTime, modTime); err != nil {
				t.Fatal(err)
			}
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.Certificate())
		return pool
	}
	pool1 := issue(time.Now().Add(-time.Hour))
	view := &fakeView{}
	eu := newCA(t, "eu-1.test")
	view.put(t, bundleOf(eu, 1))
	s, err := endpoint.New(endpoint.Config{Bundles: view, CertFile: certFile, KeyFile: keyFile, CertCheckInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.Profile() != endpoint.ProfileHTTPSWeb {
		t.Fatalf("default profile with a certificate is %s, want %s", s.Profile(), endpoint.ProfileHTTPSWeb)
	}
	u := endpoint.URL(serve(t, s), eu.TrustDomain())

	if got, err := federation.FetchBundle(fetchCtx(t), eu.TrustDomain(), u, federation.WithWebPKIRoots(pool1)); err != nil || !got.Equal(bundleOf(eu, 1)) {
		t.Fatalf("got %v, %v; want the stored bundle", got, err)
	}
	pool2 := issue(time.Now())
	if got, err := federation.FetchBundle(fetchCtx(t), eu.TrustDomain(), u, federation.WithWebPKIRoots(pool2)); err != nil || !got.Equal(bundleOf(eu, 1)) {
		t.Fatalf("after rotating the certificate files: got %v, %v", got, err)
	}
	if _, err := federation.FetchBundle(fetchCtx(t), eu.TrustDomain(), u, federation.WithWebPKIRoots(pool1)); err == nil {
		t.Fatal("the old certificate is still served after the files changed")
	}
	// A broken pair keeps the last good one.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := federation.FetchBundle(fetchCtx(t), eu.TrustDomain(), u, federation.WithWebPKIRoots(pool2)); err != nil {
		t.Fatalf("after a broken key file: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	svid, err := newCA(t, "meshfed.test").IssueSVID(spiffeid.RequireFromString("spiffe://meshfed.test/cp"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  endpoint.Config
		want string
	}{
		{"no bundles", endpoint.Config{SVID: svid}, "Config.Bundles is required"},
		{"unknown profile", endpoint.Config{Bundles: &fakeView{}, Profile: "http"}, `profile "http" is not one of https_web, https_spiffe`},
		{"spiffe without SVID", endpoint.Config{Bundles: &fakeView{}}, "needs an X.509-SVID"},
		{"web without files", endpoint.Config{Bundles: &fakeView{}, Profile: endpoint.ProfileHTTPSWeb, SVID: svid}, "needs a certificate and key file"},
		{"cert without key", endpoint.Config{Bundles: &fakeView{}, CertFile: missing}, "must be given together"},
		{"spiffe with files", endpoint.Config{Bundles: &fakeView{}, Profile: endpoint.ProfileHTTPSSPIFFE, SVID: svid, CertFile: missing, KeyFile: missing}, "certificate files are for https_web"},
		{"missing files", endpoint.Config{Bundles: &fakeView{}, CertFile: missing, KeyFile: missing}, "missing.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := endpoint.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := endpoint.ParseProfile("x"); !errors.Is(err, endpoint.ErrConfig) {
		t.Fatalf("ParseProfile: %v, want ErrConfig", err)
	}
}

// FuzzHandler feeds request paths (outside input) to the handler: it must
// not panic, and answer only with the documented statuses.
func FuzzHandler(f *testing.F) {
	for _, p := range []string{"/bundles/eu-1.test", "/bundles/", "/bundles/a/b", "/bundles/UP", "/", "/bundles/%2e%2e", "/bundles/eu-1.test/"} {
		f.Add(p)
	}
	view := &fakeView{}
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("eu-1.test"), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	jwks, _ := bundleOf(ca, 1).Marshal()
	view.bundles = map[string]*meshfedv1.Bundle{"eu-1.test": {TrustDomain: "eu-1.test", Jwks: jwks, Sequence: 1}}
	svid, err := ca.IssueSVID(spiffeid.RequireFromString("spiffe://eu-1.test/cp"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		f.Fatal(err)
	}
	s, err := endpoint.New(endpoint.Config{Bundles: view, SVID: svid})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, path string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Header: http.Header{}, TLS: &tls.ConnectionState{}})
		switch w.Code {
		case 200, 301, 307, 308, 404:
		default:
			t.Fatalf("GET %q: status %d", path, w.Code)
		}
	})
}
