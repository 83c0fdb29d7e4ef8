package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity"
	"github.com/meshfed/meshfed/trustbundle/identity/workloadapitest"
)

// Gateway A gets its SVID from the Workload API, which rotates it; gateway
// B, of another trust domain, keeps one connection open across the
// rotation and opens another after it.
func TestWorkloadAPISourceFollowsRotationWithoutDroppingConnections(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caA, caB := newCA(t, "a.test"), newCA(t, "b.test")
	svidA1 := issue(t, caA, "/meshfed/gateway/a/gw")
	svidB := issue(t, caB, "/meshfed/gateway/b/gw")

	// 1. Start the Workload API with A's first SVID; A's source follows it.
	wl := workloadapitest.Start(t, t.TempDir(), svidA1, caA.Bundle())
	srcA, err := identity.NewWorkloadAPISource(ctx, wl.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer srcA.Close()

	// 2. Federate: each gateway holds the other's bundle from the control plane.
	peersA := identity.NewFederatedBundles(caA.TrustDomain(), srcA)
	if err := peersA.Update(map[string]*meshfedv1.Bundle{"b.test": bundleOf(t, 1, caB)}); err != nil {
		t.Fatal(err)
	}
	peersB := identity.NewFederatedBundles(caB.TrustDomain(), caB.Bundle())
	if err := peersB.Update(map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 1, caA)}); err != nil {
		t.Fatal(err)
	}
	srv := startEcho(t, identity.ServerConfig(srcA, peersA, tlsconfig.AuthorizeMemberOf(caB.TrustDomain())), nil)
	clientCfg := identity.ClientConfig(svidB, peersB, tlsconfig.AuthorizeID(svidA1.ID))

	// 3. B connects and sees A's first SVID.
	before, err := dial(srv.addr(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if err := roundTrip(before, "before rotation"); err != nil {
		t.Fatal(err)
	}
	if got := peerSerial(before); got.Cmp(serial(svidA1)) != 0 {
		t.Fatalf("first connection: peer serial %v, want %v", got, serial(svidA1))
	}

	// 4. The Workload API rotates A's SVID; the source follows.
	svidA2 := issue(t, caA, "/meshfed/gateway/a/gw")
	wl.Set(t, svidA2, caA.Bundle())
	eventually(t, "the source serves the rotated SVID", func() bool {
		s, err := srcA.GetX509SVID()
		return err == nil && serial(s).Cmp(serial(svidA2)) == 0
	})

	// 5. The connection opened before the rotation still carries data both ways.
	for i := range 3 {
		if err := roundTrip(before, "after rotation "+string(rune('0'+i))); err != nil {
			t.Fatalf("connection opened before the rotation broke after it: %v", err)
		}
	}

	// 6. A new handshake presents the new SVID.
	after, err := dial(srv.addr(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if err := roundTrip(after, "new connection"); err != nil {
		t.Fatal(err)
	}
	if got := peerSerial(after); got.Cmp(serial(svidA2)) != 0 {
		t.Fatalf("new connection: peer serial %v, want the rotated %v", got, serial(svidA2))
	}
}

func TestWorkloadAPISourceAddress(t *testing.T) {
	// Not parallel: it sets SPIFFE_ENDPOINT_SOCKET.
	ca := newCA(t, "a.test")
	svid := issue(t, ca, "/meshfed/gateway/a/gw")
	wl := workloadapitest.Start(t, t.TempDir(), svid, ca.Bundle())

	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("SPIFFE_ENDPOINT_SOCKET", wl.Addr())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		src, err := identity.NewWorkloadAPISource(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		got, err := src.GetX509SVID()
		if err != nil || got.ID != svid.ID {
			t.Fatalf("GetX509SVID = %v, %v; want %v", got, err, svid.ID)
		}
		b, err := src.GetX509BundleForTrustDomain(ca.TrustDomain())
		if err != nil || !b.HasX509Authority(ca.Certificate()) {
			t.Fatalf("own bundle: %v", err)
		}
	})

	for _, tc := range []struct {
		name, env, addr string
		wantIs          error
		wantText        string
	}{
		{name: "none", wantIs: identity.ErrNoWorkloadAPIAddr, wantText: "SPIFFE_ENDPOINT_SOCKET"},
		{name: "bad scheme", addr: "http://127.0.0.1:1", wantText: `"http://127.0.0.1:1"`},
		{name: "tcp host name", addr: "tcp://localhost:1", wantText: "IP:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SPIFFE_ENDPOINT_SOCKET", tc.env)
			_, err := identity.NewWorkloadAPISource(context.Background(), tc.addr)
			if err == nil || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("got %v, want an error (is %v) containing %q", err, tc.wantIs, tc.wantText)
			}
		})
	}

	t.Run("nobody listening: bounded by ctx", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := identity.NewWorkloadAPISource(ctx, "unix://"+filepath.Join(t.TempDir(), "none.sock"))
		if err == nil {
			t.Fatal("got a source from a socket nobody listens on")
		}
	})
}
