package controlplane_test

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestFetchHTTPSSPIFFEEndpoint fetches a trust domain's bundle from its
// https_spiffe bundle endpoint (go-spiffe's handler, an SVID of that trust
// domain) through the elected fetcher of a real control plane:
//
//  1. the admin stores an initial bundle (source "admin");
//  2. endpoint configuration is validated (own trust domain, URL);
//  3. the endpoint is configured: the fetcher authenticates it with the
//     stored bundle and stores sequence 5 (source "endpoint <url>");
//  4. refresh without an endpoint is refused with a hint.
func TestFetchHTTPSSPIFFEEndpoint(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{BundleFetchPoll: 20 * time.Millisecond})
	admin := dial(t, r.cfg)

	// 1.
	ca := federate(t, admin, "a")
	got, err := admin.Admin.GetBundle(ctx(t), &meshfedv1.GetBundleRequest{TrustDomain: "a.test"})
	if err != nil || got.GetBundle().GetSource() != "admin" {
		t.Fatalf("admin bundle: %v %v", got, err)
	}

	// 2.
	id := spiffeid.RequireFromString("spiffe://a.test/spire/server")
	svid, err := ca.IssueSVID(id, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := federation.NewHandler(ca.TrustDomain(), ca.SPIFFEBundle(5, 0))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(h)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{svid.Certificates[0].Raw}, PrivateKey: svid.PrivateKey}}, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	defer hs.Close()
	endpoint := &meshfedv1.BundleEndpoint{TrustDomain: "a.test", Url: hs.URL, Profile: "https_spiffe", EndpointSpiffeId: id.String()}
	_, err = admin.Admin.PutBundleEndpoint(ctx(t), &meshfedv1.PutBundleEndpointRequest{Endpoint: &meshfedv1.BundleEndpoint{
		TrustDomain: controlplane.DefaultTrustDomain, Url: hs.URL, Profile: "https_web"}})
	wantCode(t, err, codes.InvalidArgument, "control plane's own trust domain")
	_, err = admin.Admin.PutBundleEndpoint(ctx(t), &meshfedv1.PutBundleEndpointRequest{Endpoint: &meshfedv1.BundleEndpoint{
		TrustDomain: "a.test", Url: "http://" + hs.Listener.Addr().String(), Profile: "https_web"}})
	wantCode(t, err, codes.InvalidArgument, "is not an https URL")

	// 3.
	if _, err := admin.Admin.PutBundleEndpoint(ctx(t), &meshfedv1.PutBundleEndpointRequest{Endpoint: endpoint}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fetched bundle", func() bool {
		got, err := admin.Admin.GetBundle(ctx(t), &meshfedv1.GetBundleRequest{TrustDomain: "a.test"})
		return err == nil && got.GetBundle().GetSequence() == 5 && got.GetBundle().GetSource() == "endpoint "+hs.URL
	})
	// The fetcher records its status after storing the bundle.
	var list *meshfedv1.ListBundleEndpointsResponse
	waitFor(t, "the fetcher's status", func() bool {
		list, err = admin.Admin.ListBundleEndpoints(ctx(t), &meshfedv1.ListBundleEndpointsRequest{})
		return err == nil && len(list.GetEndpoints()) == 1 && list.GetEndpoints()[0].GetNextRefresh() != nil
	})
	if e := list.GetEndpoints()[0]; e.GetLastError() != "" || e.GetLastSuccess() == nil {
		t.Fatalf("endpoint status after a successful fetch: %v", e)
	}

	// 4.
	if _, err := admin.Admin.DeleteBundleEndpoint(ctx(t), &meshfedv1.DeleteBundleEndpointRequest{TrustDomain: "a.test"}); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Admin.RefreshBundle(ctx(t), &meshfedv1.RefreshBundleRequest{TrustDomain: "a.test"})
	wantCode(t, err, codes.FailedPrecondition, "meshfed trust endpoint a.test")
}
