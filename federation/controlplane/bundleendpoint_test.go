package controlplane_test

import (
	"context"
	"crypto/x509"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/endpoint"
)

// putBundleOf stores a bundle of ca's trust domain with sequence seq and
// returns the stored record.
func putBundleOf(t *testing.T, admin *client.Conn, ca *devca.CA, seq uint64) *meshfedv1.Bundle {
	t.Helper()
	jwks, err := ca.SPIFFEBundle(seq, 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.Admin.PutBundle(ctx(t), &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: ca.TrustDomain().Name(), Jwks: jwks}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetBundle()
}

// fetchUntil fetches td's bundle from the endpoint until it has sequence
// seq (the view catches up asynchronously) or 15 s pass.
func fetchUntil(t *testing.T, addr string, td spiffeid.TrustDomain, seq uint64, auth federation.FetchOption) *spiffebundle.Bundle {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := federation.FetchBundle(c, td, endpoint.URL(addr, td), auth)
		cancel()
		if err == nil {
			if s, _ := got.SequenceNumber(); s == seq {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle of %s with sequence %d not served within 15s: last got %v, %v", td, seq, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameAsStored fails unless got carries the stored record's authorities
// and sequence.
func sameAsStored(t *testing.T, got *spiffebundle.Bundle, stored *meshfedv1.Bundle) {
	t.Helper()
	want, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(stored.GetTrustDomain()), stored.GetJwks())
	if err != nil {
		t.Fatal(err)
	}
	gotSeq, _ := got.SequenceNumber()
	if !slices.EqualFunc(got.X509Authorities(), want.X509Authorities(), (*x509.Certificate).Equal) || gotSeq != stored.GetSequence() {
		t.Fatalf("served bundle (sequence %d, %d authorities) differs from the stored one (sequence %d, %d authorities)",
			gotSeq, len(got.X509Authorities()), stored.GetSequence(), len(want.X509Authorities()))
	}
}

func newDevCA(t *testing.T, td string) *devca.CA {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestBundleEndpointHTTPSSPIFFE(t *testing.T) {
	t.Parallel()
	// 1. Start a control plane serving the bundle endpoint with its own SVID.
	s := controlplanetest.Start(t, controlplane.Config{BundleEndpointListen: "127.0.0.1:0"})
	addr := s.CP.BundleEndpointAddr()
	serverID := spiffeid.RequireFromString(s.Config.ServerID)
	cpBundle, err := x509bundle.Load(serverID.TrustDomain(), s.Config.CA)
	if err != nil {
		t.Fatal(err)
	}
	auth := federation.WithSPIFFEAuth(cpBundle, serverID)

	// 2. The control plane's own bundle is served, for bootstrapping.
	own := fetchUntil(t, addr, serverID.TrustDomain(), 0, auth)
	if !slices.EqualFunc(own.X509Authorities(), cpBundle.X509Authorities(), (*x509.Certificate).Equal) {
		t.Fatal("the own trust domain's bundle is not the control plane's CA")
	}

	// 3. Store eu-1.test's bundle; go-spiffe's client fetches it as stored.
	admin := s.Dial(t)
	if _, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("eu-1")}); err != nil {
		t.Fatal(err)
	}
	eu := spiffeid.RequireTrustDomainFromString("eu-1.test")
	stored := putBundleOf(t, admin, newDevCA(t, "eu-1.test"), 1)
	sameAsStored(t, fetchUntil(t, addr, eu, 1, auth), stored)

	// 4. An unknown trust domain is refused.
	nope := spiffeid.RequireTrustDomainFromString("nope.test")
	if _, err := federation.FetchBundle(ctx(t), nope, endpoint.URL(addr, nope), auth); err == nil {
		t.Fatal("fetching the bundle of an unknown trust domain succeeded")
	}

	// 5. Rotate (sequence 2): the new bundle is served once the view has it.
	stored = putBundleOf(t, admin, newDevCA(t, "eu-1.test"), 2)
	sameAsStored(t, fetchUntil(t, addr, eu, 2, auth), stored)
}

func TestBundleEndpointHTTPSWeb(t *testing.T) {
	t.Parallel()
	// 1. A web certificate for localhost / 127.0.0.1 from a CA of our own.
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "endpoint.pem"), filepath.Join(dir, "endpoint-key.pem")
	webCA := newDevCA(t, "web.test")
	leaf, err := webCA.IssueSVID(spiffeid.RequireFromString("spiffe://web.test/bundle-endpoint"), time.Hour,
		devca.SVIDOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := devca.WriteSVID(certFile, keyFile, leaf); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(webCA.Certificate())

	// 2. Start a control plane with it (the profile defaults to https_web).
	s := controlplanetest.Start(t, controlplane.Config{BundleEndpointListen: "127.0.0.1:0",
		BundleEndpointCertFile: certFile, BundleEndpointKeyFile: keyFile})
	addr := s.CP.BundleEndpointAddr()
	auth := federation.WithWebPKIRoots(roots)

	// 3. Store a bundle and fetch it with Web PKI authentication.
	admin := s.Dial(t)
	if _, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("eu-1")}); err != nil {
		t.Fatal(err)
	}
	eu := spiffeid.RequireTrustDomainFromString("eu-1.test")
	stored := putBundleOf(t, admin, newDevCA(t, "eu-1.test"), 1)
	sameAsStored(t, fetchUntil(t, addr, eu, 1, auth), stored)

	// 4. Unknown trust domain refused; a client with other roots refuses us.
	nope := spiffeid.RequireTrustDomainFromString("nope.test")
	if _, err := federation.FetchBundle(ctx(t), nope, endpoint.URL(addr, nope), auth); err == nil {
		t.Fatal("fetching the bundle of an unknown trust domain succeeded")
	}
	if _, err := federation.FetchBundle(ctx(t), eu, endpoint.URL(addr, eu), federation.WithWebPKIRoots(x509.NewCertPool())); err == nil {
		t.Fatal("a client without the web CA accepted the endpoint")
	}

	// 5. Rotate (sequence 2).
	stored = putBundleOf(t, admin, newDevCA(t, "eu-1.test"), 2)
	sameAsStored(t, fetchUntil(t, addr, eu, 2, auth), stored)
}

func TestBundleEndpointConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  controlplane.Config
		want string
	}{
		{"listen not host:port", controlplane.Config{BundleEndpointListen: "8443"}, `--bundle-endpoint-listen "8443" is not host:port`},
		{"unknown profile", controlplane.Config{BundleEndpointListen: ":8443", BundleEndpointProfile: "http"}, `profile "http" is not one of https_web, https_spiffe`},
		{"cert without key", controlplane.Config{BundleEndpointListen: ":8443", BundleEndpointCertFile: "c.pem"}, "must be given together"},
		{"cert without listen", controlplane.Config{BundleEndpointCertFile: "c.pem", BundleEndpointKeyFile: "k.pem"}, "need --bundle-endpoint-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			_, err := controlplane.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	cp, err := controlplane.New(controlplane.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if addr := cp.BundleEndpointAddr(); addr != "" {
		t.Fatalf("without --bundle-endpoint-listen the endpoint has address %q; want disabled", addr)
	}
}
