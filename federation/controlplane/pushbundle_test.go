package controlplane_test

import (
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestGatewayPushesItsOwnBundleOnly walks a root rotation pushed by a
// gateway, as its Workload API would hand it the new bundle:
//
//  1. a gateway of cluster a (trust domain a.test, old CA) pushes a bundle
//     with the old and a new CA: accepted (its SVID verified against the
//     stored bundle: continuity);
//  2. a gateway with a leaf of the new CA can now connect and pushes a
//     bundle with only the new CA;
//  3. the old CA's gateways are refused from then on;
//  4. a bundle of another trust domain, and a lower sequence, are refused.
func TestGatewayPushesItsOwnBundleOnly(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{})
	admin := dial(t, r.cfg)
	oldCA := federate(t, admin, "a")
	federate(t, admin, "b")
	td := spiffeid.RequireTrustDomainFromString("a.test")
	newCA, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	jwks := func(seq uint64, cas ...*devca.CA) []byte {
		b := spiffebundle.New(td)
		for _, ca := range cas {
			b.AddX509Authority(ca.Certificate())
		}
		b.SetSequenceNumber(seq)
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// 1.
	oldGW := gatewayConn(t, r, oldCA, gwID(t, "a.test", "a", "gw"))
	waitFor(t, "gateway a authenticates", func() bool {
		_, err := oldGW.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw"})
		return status.Code(err) == codes.NotFound
	})
	if _, err := oldGW.Gateway.PushBundle(ctx(t), &meshfedv1.PushBundleRequest{Cluster: "a",
		Bundle: &meshfedv1.Bundle{TrustDomain: "a.test", Jwks: jwks(2, oldCA, newCA)}}); err != nil {
		t.Fatalf("push old+new: %v", err)
	}

	// 2.
	newGW := gatewayConn(t, r, newCA, gwID(t, "a.test", "a", "gw2"))
	waitFor(t, "a gateway of the new CA authenticates", func() bool {
		_, err := newGW.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw2"})
		return status.Code(err) == codes.NotFound
	})
	if _, err := newGW.Gateway.PushBundle(ctx(t), &meshfedv1.PushBundleRequest{Cluster: "a",
		Bundle: &meshfedv1.Bundle{TrustDomain: "a.test", Jwks: jwks(3, newCA)}}); err != nil {
		t.Fatalf("push new only: %v", err)
	}
	if got, err := admin.Admin.GetBundle(ctx(t), &meshfedv1.GetBundleRequest{TrustDomain: "a.test"}); err != nil || got.GetBundle().GetSource() != "gateway "+gwID(t, "a.test", "a", "gw2").String() {
		t.Fatalf("pushed bundle: %v %v, want source gateway <id>", got, err)
	}

	// 3. A fresh connection with an old-CA SVID no longer verifies.
	waitFor(t, "the old CA to be refused", func() bool {
		_, err := gatewayConn(t, r, oldCA, gwID(t, "a.test", "a", "gw")).Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw"})
		return err != nil && status.Code(err) != codes.NotFound
	})

	// 4.
	_, err = newGW.Gateway.PushBundle(ctx(t), &meshfedv1.PushBundleRequest{Cluster: "a",
		Bundle: &meshfedv1.Bundle{TrustDomain: "b.test", Jwks: jwks(9, newCA)}})
	wantCode(t, err, codes.PermissionDenied, `own trust domain "a.test" only, not "b.test"`)
	_, err = newGW.Gateway.PushBundle(ctx(t), &meshfedv1.PushBundleRequest{Cluster: "a",
		Bundle: &meshfedv1.Bundle{TrustDomain: "a.test", Jwks: jwks(2, newCA)}})
	wantCode(t, err, codes.FailedPrecondition, "sequence 2 < stored 3")
}
