package trust_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/cli"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

func meshfed(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("meshfed %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String()
}

// gateway is one cluster's gateway identity: its SVID from files written
// by `meshfed ca issue`, and the bundles it learns from the control plane.
type gateway struct {
	svid    *identity.FileSource
	bundles *identity.FederatedBundles
	td      spiffeid.TrustDomain
}

// newGateway makes a dev CA for cluster name, registers the cluster with
// its bundle, issues the gateway's SVID, and follows the control plane as
// that gateway (authenticated by its own SVID) to learn every bundle.
func newGateway(t *testing.T, ctx context.Context, srv *controlplanetest.Server, name string) *gateway {
	t.Helper()
	dir := t.TempDir()
	td := name + ".test"
	caDir := filepath.Join(dir, "ca")
	meshfed(t, "ca", "init", "--trust-domain", td, "--dir", caDir)
	meshfed(t, "--config", srv.ConfigPath, "cluster", "add", name, "--trust-domain", td, "--provider", "onprem", "--region", "dc1",
		"--bundle", filepath.Join(caDir, "bundle.json"))
	out := filepath.Join(dir, "gw")
	meshfed(t, "ca", "issue", "--dir", caDir, "--spiffe-id", "spiffe://"+td+"/meshfed/gateway/"+name+"/gw", "--out", out)

	svid, err := identity.NewFileSource(identity.FileSourceConfig{CertFile: out + ".pem", KeyFile: out + "-key.pem", BundleFile: filepath.Join(caDir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svid.Close() })
	g := &gateway{svid: svid, td: spiffeid.RequireTrustDomainFromString(td)}
	g.bundles = identity.NewFederatedBundles(g.td, svid)

	// The gateway talks to the control plane with its own SVID.
	serverID := spiffeid.RequireFromString(srv.Config.ServerID)
	cpBundle, err := x509bundle.Load(serverID.TrustDomain(), srv.Config.CA)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.DialTLS(srv.CP.Addr(), tlsconfig.MTLSClientConfig(svid, cpBundle, tlsconfig.AuthorizeID(serverID)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	state := client.NewState()
	var mu sync.Mutex
	followCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- client.Follow(followCtx, client.FollowConfig{Cluster: name, Clients: []meshfedv1.GatewayServiceClient{conn.Gateway},
			State: state, Lock: &mu, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			OnUpdate: func(*meshfedv1.WatchResponse) {
				if err := g.bundles.Update(state.Bundles); err != nil {
					t.Errorf("gateway %s: bundles: %v", name, err)
				}
			}})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("gateway %s: follow: %v", name, err)
		}
	})
	return g
}

// handshake makes one mTLS connection from client to server's listener
// and echoes a line; it returns the handshake or I/O error.
func handshake(server, client *gateway) error {
	l, err := tls.Listen("tcp", "127.0.0.1:0", identity.ServerConfig(server.svid, server.bundles, tlsconfig.AuthorizeMemberOf(client.td)))
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, io.LimitReader(c, 6))
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), identity.ClientConfig(client.svid, client.bundles, tlsconfig.AuthorizeMemberOf(server.td)))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return err
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	return nil
}

// TestClustersVerifyEachOtherThroughFederatedBundles is issue 3's scenario:
//
//  1. start a control plane with a bundle endpoint;
//  2. two clusters, each with its own `meshfed ca`, register with their
//     bundles; their gateways follow the control plane with their SVIDs;
//  3. once the control plane has federated both bundles, each gateway
//     verifies the other in both directions;
//  4. a gateway of a third, unfederated trust domain is refused by a
//     (it can verify a itself: it is given a's bundles);
//  5. an external client fetches a federated bundle from the control
//     plane's bundle endpoint with go-spiffe's federation.FetchBundle.
func TestClustersVerifyEachOtherThroughFederatedBundles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 1.
	srv := controlplanetest.Start(t, controlplane.Config{BundleEndpointListen: "127.0.0.1:0"})

	// 2.
	a := newGateway(t, ctx, srv, "a")
	b := newGateway(t, ctx, srv, "b")

	// 3.
	deadline := time.Now().Add(20 * time.Second)
	for {
		errAB, errBA := handshake(a, b), handshake(b, a)
		if errAB == nil && errBA == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateways do not verify each other: a<-b %v; b<-a %v", errAB, errBA)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seq, ok := a.bundles.Sequence(b.td); !ok || seq != 1 {
		t.Fatalf("gateway a holds b's bundle at sequence %d (ok=%v), want 1", seq, ok)
	}

	// 4. A gateway whose CA the control plane never federated.
	dir := t.TempDir()
	meshfed(t, "ca", "init", "--trust-domain", "rogue.test", "--dir", dir)
	meshfed(t, "ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://rogue.test/meshfed/gateway/rogue/gw", "--out", filepath.Join(dir, "gw"))
	rogueSVID, err := identity.NewFileSource(identity.FileSourceConfig{CertFile: filepath.Join(dir, "gw.pem"), KeyFile: filepath.Join(dir, "gw-key.pem"), BundleFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	defer rogueSVID.Close()
	rogueTD := spiffeid.RequireTrustDomainFromString("rogue.test")
	// The rogue trusts a (it holds a's bundles), so only a's check of the
	// rogue can fail the handshake.
	rogue := &gateway{svid: rogueSVID, td: rogueTD, bundles: a.bundles}
	if err := handshake(a, rogue); err == nil {
		t.Fatal("gateway a accepted a peer of an unfederated trust domain")
	}

	// 5.
	serverID := spiffeid.RequireFromString(srv.Config.ServerID)
	cpBundle, err := x509bundle.Load(serverID.TrustDomain(), srv.Config.CA)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + srv.CP.BundleEndpointAddr() + "/bundles/b.test"
	got, err := federation.FetchBundle(ctx, b.td, url, federation.WithSPIFFEAuth(cpBundle, serverID))
	if err != nil {
		t.Fatalf("FetchBundle %s: %v", url, err)
	}
	want, err := b.svid.GetX509BundleForTrustDomain(b.td)
	if err != nil {
		t.Fatal(err)
	}
	if !got.X509Bundle().Equal(want) {
		t.Fatalf("fetched bundle of b.test differs from b's CA")
	}
	if seq, ok := got.SequenceNumber(); !ok || seq != 1 {
		t.Fatalf("fetched bundle sequence %d (ok=%v), want 1", seq, ok)
	}
}
