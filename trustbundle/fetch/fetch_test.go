package fetch_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/fetch"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// clock is the injected clock of the store and the fetcher.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// remote is a bundle endpoint of another trust domain: go-spiffe's own
// handler behind real TLS, serving whatever bundle the test sets.
type remote struct {
	URL string

	mu      sync.Mutex
	bundle  *spiffebundle.Bundle
	down    bool
	fetches int
}

func (r *remote) GetBundleForTrustDomain(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bundle == nil || r.bundle.TrustDomain() != td {
		return nil, errors.New("no bundle")
	}
	return r.bundle, nil
}

func (r *remote) set(b *spiffebundle.Bundle, down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bundle, r.down = b, down
}

func (r *remote) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetches
}

// serveRemote serves td's bundle endpoint with a certificate for
// 127.0.0.1 and SPIFFE ID id issued by ca.
func serveRemote(t *testing.T, td spiffeid.TrustDomain, ca *devca.CA, id spiffeid.ID) *remote {
	t.Helper()
	r := &remote{}
	h, err := federation.NewHandler(td, r)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueSVID(id, time.Hour, devca.SVIDOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: svid.PrivateKey}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.fetches++
		down := r.down
		r.mu.Unlock()
		if down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, req)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func newCA(t *testing.T, td string) *devca.CA {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func bundleOf(ca *devca.CA, seq uint64, hint time.Duration) *spiffebundle.Bundle {
	return ca.SPIFFEBundle(seq, hint)
}

func newStore(t *testing.T, c *clock) *store.Store {
	t.Helper()
	cli := etcdtest.Start(t).Client(t)
	s, err := store.New(store.Config{KV: cli, Watcher: cli, Lease: cli, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func storedBundle(t *testing.T, s *store.Store, td string) *meshfedv1.Bundle {
	t.Helper()
	b, err := s.GetBundle(context.Background(), td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func endpointOf(t *testing.T, s *store.Store, td string) *meshfedv1.BundleEndpoint {
	t.Helper()
	e, err := s.GetBundleEndpoint(context.Background(), td)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestHTTPSWebSchedulingBackoffAndRollback(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := newStore(t, clk)
	web := newCA(t, "web.test") // the endpoint's Web PKI
	pool := x509.NewCertPool()
	pool.AddCert(web.Certificate())
	eu := newCA(t, "eu-1.test")
	r := serveRemote(t, eu.TrustDomain(), web, spiffeid.RequireFromString("spiffe://web.test/endpoint"))
	var results []error
	f, err := fetch.New(fetch.Config{Store: st, WebPKIRoots: pool, Now: clk.Now,
		OnResult: func(_ string, err error) { results = append(results, err) }})
	if err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		if err := f.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Configure the endpoint; the first pass fetches sequence 1 with a
	// refresh hint of 60 s.
	r.set(bundleOf(eu, 1, time.Minute), false)
	if _, _, err := st.PutBundleEndpoint(ctx, &meshfedv1.BundleEndpoint{TrustDomain: "eu-1.test", Url: r.URL, Profile: schema.ProfileHTTPSWeb}); err != nil {
		t.Fatal(err)
	}
	sync()
	b := storedBundle(t, st, "eu-1.test")
	if b.GetSequence() != 1 || b.GetSource() != "endpoint "+r.URL || b.GetRefreshHintSeconds() != 60 {
		t.Fatalf("stored %v", b)
	}
	e := endpointOf(t, st, "eu-1.test")
	if e.GetLastError() != "" || !e.GetNextRefresh().AsTime().Equal(clk.Now().Add(time.Minute)) || !e.GetLastSuccess().AsTime().Equal(clk.Now()) {
		t.Fatalf("endpoint after success: %v", e)
	}

	// 2. Not due before the hint: no fetch. Due at the hint.
	clk.Advance(59 * time.Second)
	sync()
	if r.count() != 1 {
		t.Fatalf("fetched %d times before the refresh hint, want 1", r.count())
	}
	clk.Advance(time.Second)
	r.set(bundleOf(eu, 2, time.Second), false) // hint below the minimum
	sync()
	if r.count() != 2 || storedBundle(t, st, "eu-1.test").GetSequence() != 2 {
		t.Fatalf("fetches %d, want 2 with sequence 2", r.count())
	}
	if got := endpointOf(t, st, "eu-1.test").GetNextRefresh().AsTime().Sub(clk.Now()); got != fetch.DefaultMinInterval {
		t.Fatalf("next refresh in %v for a 1 s hint, want the minimum %v", got, fetch.DefaultMinInterval)
	}

	// 3. The endpoint goes down: the last good bundle stays, the error is
	// recorded and the attempts back off 1 s, 2 s, 4 s.
	r.set(bundleOf(eu, 3, 0), true)
	clk.Advance(fetch.DefaultMinInterval)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		sync()
		e := endpointOf(t, st, "eu-1.test")
		// go-spiffe does not look at the status code: the error is about
		// the body.
		if !strings.Contains(e.GetLastError(), "fetch "+r.URL) || e.GetFailures() != uint32(i+1) {
			t.Fatalf("attempt %d: endpoint %v, want an error", i+1, e)
		}
		if got := e.GetNextRefresh().AsTime().Sub(clk.Now()); got != want {
			t.Fatalf("attempt %d: next in %v, want %v", i+1, got, want)
		}
		if storedBundle(t, st, "eu-1.test").GetSequence() != 2 {
			t.Fatal("a failed fetch changed the stored bundle")
		}
		clk.Advance(want)
	}

	// 4. Back up, but with a lower sequence: rollback is an error.
	r.set(bundleOf(eu, 1, 0), false)
	sync()
	if e := endpointOf(t, st, "eu-1.test"); !errors.Is(results[len(results)-1], store.ErrRollback) || !strings.Contains(e.GetLastError(), "lower") {
		t.Fatalf("rollback: result %v, endpoint %v", results[len(results)-1], e)
	}
	if storedBundle(t, st, "eu-1.test").GetSequence() != 2 {
		t.Fatal("rollback was stored")
	}

	// 5. A refresh request makes it due at once; a good bundle clears the
	// error, and no hint means the default interval.
	r.set(bundleOf(eu, 4, 0), false)
	clk.Advance(time.Millisecond)
	if _, err := st.RequestRefresh(ctx, "eu-1.test"); err != nil {
		t.Fatal(err)
	}
	sync()
	e = endpointOf(t, st, "eu-1.test")
	if storedBundle(t, st, "eu-1.test").GetSequence() != 4 || e.GetLastError() != "" || e.GetFailures() != 0 {
		t.Fatalf("after refresh: endpoint %v", e)
	}
	if got := e.GetNextRefresh().AsTime().Sub(clk.Now()); got != fetch.DefaultInterval {
		t.Fatalf("next refresh in %v without a hint, want %v", got, fetch.DefaultInterval)
	}
}

func TestHTTPSSPIFFEUsesTheStoredBundle(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Now()}
	st := newStore(t, clk)
	eu := newCA(t, "eu-1.test")
	endpointID := spiffeid.RequireFromString("spiffe://eu-1.test/spire/server")
	r := serveRemote(t, eu.TrustDomain(), eu, endpointID)
	r.set(bundleOf(eu, 7, 0), false)
	f, err := fetch.New(fetch.Config{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutBundleEndpoint(ctx, &meshfedv1.BundleEndpoint{TrustDomain: "eu-1.test", Url: r.URL,
		Profile: schema.ProfileHTTPSSPIFFE, EndpointSpiffeId: endpointID.String()}); err != nil {
		t.Fatal(err)
	}

	// 1. Nothing stored yet: nothing to authenticate the endpoint with.
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if e := endpointOf(t, st, "eu-1.test"); !strings.Contains(e.GetLastError(), "meshfed trust set eu-1.test --bundle FILE") || r.count() != 0 {
		t.Fatalf("without a stored bundle: %v (fetches %d)", e, r.count())
	}

	// 2. An initial bundle from the admin authenticates the endpoint.
	initial, _ := bundleOf(eu, 1, 0).Marshal()
	rec, err := schema.CanonicalBundle(&meshfedv1.Bundle{TrustDomain: "eu-1.test", Jwks: initial}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutBundle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b := storedBundle(t, st, "eu-1.test"); b.GetSequence() != 7 || b.GetSource() != "endpoint "+r.URL {
		t.Fatalf("stored %v, last error %q", b, endpointOf(t, st, "eu-1.test").GetLastError())
	}

	// 3. The wrong endpoint ID is refused.
	clk.Advance(time.Millisecond)
	if _, _, err := st.PutBundleEndpoint(ctx, &meshfedv1.BundleEndpoint{TrustDomain: "eu-1.test", Url: r.URL,
		Profile: schema.ProfileHTTPSSPIFFE, EndpointSpiffeId: "spiffe://eu-1.test/other"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if e := endpointOf(t, st, "eu-1.test"); e.GetLastError() == "" {
		t.Fatal("an endpoint with another SPIFFE ID was accepted")
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	clk := &clock{now: time.Now()}
	f, err := fetch.New(fetch.Config{Store: newStore(t, clk), Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

func TestNewChecksIntervals(t *testing.T) {
	if _, err := fetch.New(fetch.Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
	clk := &clock{now: time.Now()}
	if _, err := fetch.New(fetch.Config{Store: newStore(t, clk), MinInterval: time.Hour, MaxInterval: time.Minute}); err == nil {
		t.Fatal("New with min > max succeeded")
	}
}
