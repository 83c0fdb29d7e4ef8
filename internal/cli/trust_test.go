package cli_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
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
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// bundleServer is another trust domain's SPIFFE bundle endpoint (https_web):
// go-spiffe's handler behind real TLS, serving what the test sets.
type bundleServer struct {
	mu     sync.Mutex
	bundle *spiffebundle.Bundle
	down   bool
}

func (s *bundleServer) GetBundleForTrustDomain(spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bundle, nil
}

func (s *bundleServer) set(b *spiffebundle.Bundle, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bundle, s.down = b, down
}

// TestTrustEndpointAndRefresh walks fetching a bundle from a bundle
// endpoint through a real control plane:
//
//  1. start another trust domain's bundle endpoint and a control plane
//     that trusts its Web PKI root;
//  2. meshfed trust endpoint: the elected fetcher stores sequence 1;
//  3. the remote rolls to sequence 2; meshfed trust refresh fetches it;
//  4. the endpoint goes down; refresh: the error is reported, sequence 2
//     stays; metrics show sequence and errors;
//  5. trust show --format pem/json, endpoint --delete, and refresh of a
//     trust domain without an endpoint.
func TestTrustEndpointAndRefresh(t *testing.T) {
	// 1.
	td := spiffeid.RequireTrustDomainFromString("eu-1.example.org")
	web, err := devca.New(spiffeid.RequireTrustDomainFromString("web.test"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := web.IssueSVID(spiffeid.RequireFromString("spiffe://web.test/endpoint"), time.Hour, devca.SVIDOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	eu, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	remote := &bundleServer{bundle: eu.SPIFFEBundle(1, time.Hour)}
	h, err := federation.NewHandler(td, remote)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remote.mu.Lock()
		down := remote.down
		remote.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Certificates[0].Raw}, PrivateKey: leaf.PrivateKey}}, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(web.Certificate())
	srv := controlplanetest.Start(t, controlplane.Config{BundleFetchRoots: roots, BundleFetchPoll: 20 * time.Millisecond})
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, "", append([]string{"--config", srv.ConfigPath}, args...)...)
	}
	mustOK := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(args...)
		if code != 0 {
			t.Fatalf("meshfed %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	// waitFor polls trust list until ok holds for eu-1's bundle and endpoint.
	waitFor := func(what string, ok func(b *meshfedv1.Bundle, e *meshfedv1.BundleEndpoint) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var resp meshfedv1.ListBundlesResponse
			if err := protojson.Unmarshal([]byte(mustOK("trust", "list", "-o", "json")), &resp); err != nil {
				t.Fatal(err)
			}
			var b *meshfedv1.Bundle
			var e *meshfedv1.BundleEndpoint
			for _, x := range resp.GetBundles() {
				if x.GetTrustDomain() == td.Name() {
					b = x
				}
			}
			for _, x := range resp.GetEndpoints() {
				if x.GetTrustDomain() == td.Name() {
					e = x
				}
			}
			if ok(b, e) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: bundle %v, endpoint %v", what, b, e)
			}
			<-tick.C
		}
	}

	// 2.
	out := mustOK("trust", "endpoint", td.Name(), "--url", hs.URL, "--profile", "https_web")
	if !strings.Contains(out, "fetching now") {
		t.Fatalf("endpoint output: %q", out)
	}
	waitFor("sequence 1 from the endpoint", func(b *meshfedv1.Bundle, e *meshfedv1.BundleEndpoint) bool {
		return b.GetSequence() == 1 && b.GetSource() == "endpoint "+hs.URL && e.GetLastSuccess() != nil
	})

	// 3.
	remote.set(eu.SPIFFEBundle(2, time.Hour), false)
	if out := mustOK("trust", "refresh", td.Name()); !strings.Contains(out, "refresh of \"eu-1.example.org\" requested") {
		t.Fatalf("refresh output: %q", out)
	}
	waitFor("sequence 2 after refresh", func(b *meshfedv1.Bundle, _ *meshfedv1.BundleEndpoint) bool { return b.GetSequence() == 2 })

	// 4.
	remote.set(nil, true)
	mustOK("trust", "refresh", td.Name())
	waitFor("the fetch error", func(b *meshfedv1.Bundle, e *meshfedv1.BundleEndpoint) bool {
		return e.GetLastError() != "" && b.GetSequence() == 2
	})
	table := mustOK("trust", "list")
	for _, want := range []string{"TRUST DOMAIN", "NEXT REFRESH", "LAST ERROR", "endpoint " + hs.URL, "federation"} {
		if !strings.Contains(table, want) {
			t.Errorf("trust list lacks %q:\n%s", want, table)
		}
	}
	resp, err := http.Get("http://" + srv.CP.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`meshfed_bundle_sequence{trust_domain="eu-1.example.org"} 2`, `meshfed_bundle_refresh_errors_total{trust_domain="eu-1.example.org"}`, `meshfed_bundle_age_seconds{trust_domain="eu-1.example.org"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// 5.
	if pem := mustOK("trust", "show", td.Name(), "--format", "pem"); strings.Count(pem, "BEGIN CERTIFICATE") != 1 {
		t.Errorf("show --format pem:\n%s", pem)
	}
	if doc := mustOK("trust", "show", td.Name(), "--format", "json"); !strings.Contains(doc, `"spiffe_sequence": 2`) {
		t.Errorf("show --format json:\n%s", doc)
	}
	mustOK("trust", "endpoint", td.Name(), "--delete")
	if code, _, errOut := cli("trust", "refresh", td.Name()); code == 0 || !strings.Contains(errOut, "has no bundle endpoint") {
		t.Fatalf("refresh without an endpoint: exit %d: %s", code, errOut)
	}
	if code, _, errOut := cli("trust", "endpoint", td.Name(), "--url", "http://x", "--profile", "https_web"); code == 0 || !strings.Contains(errOut, "not an https URL") {
		t.Fatalf("http URL: exit %d: %s", code, errOut)
	}
}
