package trust_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity"
	"github.com/meshfed/meshfed/trustbundle/identity/workloadapitest"
)

// TestGatewayPushesWorkloadAPIBundleChanges is source (2) of issue 3: a
// gateway pushes its trust domain's bundle, as its Workload API hands it
// out, whenever it changes; the Workload API gives no spiffe_sequence, so
// the control plane continues the stored one.
//
//  1. cluster a is registered with CA1's bundle (sequence 1);
//  2. the gateway gets its SVID and bundle {CA1} from a Workload API and
//     pushes it: nothing changes (same authorities);
//  3. the root rotates: the Workload API adds CA2: stored becomes {CA1,CA2}
//     at sequence 2; then it drops CA1 and re-issues the SVID from CA2:
//     stored becomes {CA2} at sequence 3, pushed over the connection the
//     gateway already had.
func TestGatewayPushesWorkloadAPIBundleChanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := controlplanetest.Start(t, controlplane.Config{})
	admin := srv.Dial(t)
	td := spiffeid.RequireTrustDomainFromString("a.test")
	newCA := func() *devca.CA {
		ca, err := devca.New(td, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	ca1, ca2 := newCA(), newCA()
	gwID := spiffeid.RequireFromPath(td, "/meshfed/gateway/a/gw")
	// 1.
	if _, err := admin.Admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{Name: "a", TrustDomain: "a.test",
		Locality: &meshfedv1.Locality{Provider: "onprem", Region: "dc1"}}}); err != nil {
		t.Fatal(err)
	}
	jwks, err := ca1.SPIFFEBundle(1, 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: "a.test", Jwks: jwks}}); err != nil {
		t.Fatal(err)
	}

	// 2.
	svid1, err := ca1.IssueSVID(gwID, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wl := workloadapitest.Start(t, t.TempDir(), svid1, ca1.Bundle())
	src, err := identity.NewWorkloadAPISource(ctx, wl.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	serverID := spiffeid.RequireFromString(srv.Config.ServerID)
	cpBundle, err := x509bundle.Load(serverID.TrustDomain(), srv.Config.CA)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.DialTLS(srv.CP.Addr(), tlsconfig.MTLSClientConfig(src, cpBundle, tlsconfig.AuthorizeID(serverID)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pushed := make(chan struct{}, 16)
	pushCtx, stopPush := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- identity.PushOwnBundle(pushCtx, src, td, func(ctx context.Context, jwks []byte) error {
			_, err := conn.Gateway.PushBundle(ctx, &meshfedv1.PushBundleRequest{Cluster: "a", Bundle: &meshfedv1.Bundle{TrustDomain: "a.test", Jwks: jwks}})
			if err == nil {
				pushed <- struct{}{}
			}
			return err
		}, 50*time.Millisecond, 500*time.Millisecond, func(err error) { t.Logf("push: %v", err) })
	}()
	defer func() {
		stopPush()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("PushOwnBundle: %v", err)
		}
	}()
	select {
	case <-pushed:
	case <-ctx.Done():
		t.Fatal("first push did not happen")
	}
	wantStored := func(seq uint64, cas ...*devca.CA) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := admin.Admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "a.test"})
			if err == nil && got.GetBundle().GetSequence() == seq {
				sb, err := spiffebundle.Parse(td, got.GetBundle().GetJwks())
				if err != nil {
					t.Fatal(err)
				}
				if certs := sb.X509Authorities(); len(certs) != len(cas) {
					t.Fatalf("sequence %d holds %d authorities, want %d", seq, len(certs), len(cas))
				}
				for i, ca := range cas {
					if !sb.X509Bundle().HasX509Authority(ca.Certificate()) {
						t.Fatalf("sequence %d lacks authority %d", seq, i)
					}
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stored bundle: %v %v, want sequence %d", got, err, seq)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wantStored(1, ca1)

	// 3.
	both := x509bundle.FromX509Authorities(td, append(ca1.Bundle().X509Authorities(), ca2.Certificate()))
	wl.Set(t, svid1, both)
	wantStored(2, ca1, ca2)
	svid2, err := ca2.IssueSVID(gwID, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wl.Set(t, svid2, ca2.Bundle())
	wantStored(3, ca2)
}
