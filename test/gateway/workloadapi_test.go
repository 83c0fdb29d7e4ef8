package gateway_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity/workloadapitest"
)

// TestGatewayWithWorkloadAPIPushesItsBundle: a gateway whose SVID comes
// from the SPIFFE Workload API serves traffic, and with
// identity.push_bundle it keeps the control plane's copy of its trust
// domain's bundle current: a root added by the Workload API reaches the
// control plane.
func TestGatewayWithWorkloadAPIPushesItsBundle(t *testing.T) {
	backend := serveHTTP(t, clusterHandler("west"))
	fed := gatewaytest.New(t, gatewaytest.ClusterSpec{Name: "east"}, gatewaytest.ClusterSpec{Name: "west"})
	west := fed.Clusters["west"]
	svid, err := west.CA.IssueSVID(west.GatewayID("gw"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "wl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	wl := workloadapitest.Start(t, sockDir, svid, west.CA.Bundle())

	wcfg := fed.Config("west")
	wcfg.Identity = gateway.IdentityConfig{WorkloadAPI: wl.Addr(), PushBundle: true}
	wcfg.Services = []gateway.LocalService{{Namespace: "demo", Name: "echo",
		Ports: []gateway.LocalPort{{Port: 8080}}, Endpoints: []gateway.LocalEndpoint{{Address: backend}}}}
	gatewaytest.Start(t, wcfg)
	eg := gatewaytest.Start(t, fed.Config("east"))
	gatewaytest.WaitRoutable(t, eg, "echo.demo", "west")
	if code, body := get(t, proxyClient(t, eg), "http://echo.demo.svc.clusterset.local:8080/"); code != 200 || body != "west GET /" {
		t.Fatalf("got %d %q", code, body)
	}

	// Rotation: the Workload API now trusts a second root as well.
	next, err := devca.New(west.TD, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	both := x509bundle.FromX509Authorities(west.TD, append(west.CA.Bundle().X509Authorities(), next.Certificate()))
	wl.Set(t, svid, both)
	gatewaytest.WaitFor(t, "the control plane to hold the rotated bundle", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := fed.Admin.Admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: west.TD.Name()})
		if err != nil {
			return false
		}
		b, err := spiffebundle.Parse(west.TD, resp.GetBundle().GetJwks())
		return err == nil && len(b.X509Authorities()) == 2
	})
}
