package controlplane_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/auth"
	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// replica is a control plane running in this process.
type replica struct {
	cp   *controlplane.ControlPlane
	stop func()
	cfg  *client.Config
}

func startReplica(t *testing.T, cfg controlplane.Config) *replica {
	t.Helper()
	s := controlplanetest.Start(t, cfg)
	return &replica{cp: s.CP, stop: s.Stop, cfg: s.Config}
}

func dial(t *testing.T, cfg *client.Config) *client.Conn {
	t.Helper()
	c, err := client.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if contains != "" && !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("message %q does not contain %q", status.Convert(err).Message(), contains)
	}
}

func clusterRecord(name string) *meshfedv1.Cluster {
	return &meshfedv1.Cluster{Name: name, TrustDomain: name + ".test",
		Locality: &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"}}
}

// federate adds cluster name with its own CA and stores its bundle, and
// returns the CA.
func federate(t *testing.T, admin *client.Conn, name string) *devca.CA {
	t.Helper()
	if _, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord(name), CreateOnly: true}); err != nil {
		t.Fatal(err)
	}
	ca := newCA(t, name+".test")
	putBundleOf(t, admin, ca, 1)
	return ca
}

// newCA makes a dev CA for trust domain td.
func newCA(t *testing.T, td string) *devca.CA {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// gatewayConn dials as the holder of an SVID with id issued by ca.
func gatewayConn(t *testing.T, r *replica, ca *devca.CA, id spiffeid.ID) *client.Conn {
	t.Helper()
	svid, err := ca.IssueSVID(id, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serverID := spiffeid.RequireFromString(r.cfg.ServerID)
	cpBundle, err := x509bundle.Load(serverID.TrustDomain(), r.cfg.CA)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.DialTLS(r.cp.Addr(), tlsconfig.MTLSClientConfig(svid, cpBundle, tlsconfig.AuthorizeID(serverID)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func gwID(t *testing.T, td, cluster, gw string) spiffeid.ID {
	id, err := auth.GatewayID(spiffeid.RequireTrustDomainFromString(td), cluster, gw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{DataDir: t.TempDir()})
	admin := dial(t, r.cfg)
	caA := federate(t, admin, "a")
	federate(t, admin, "b")
	waitFor(t, "bundles in the view", func() bool {
		_, err := gatewayConn(t, r, caA, gwID(t, "a.test", "a", "gw")).Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw"})
		return status.Code(err) == codes.NotFound // authenticated, not registered yet
	})

	t.Run("admin token", func(t *testing.T) {
		tok := *r.cfg
		tok.Cert, tok.Key = "", ""
		tok.Token = readToken(t, filepath.Join(filepath.Dir(r.cfg.CA), controlplane.TokenFile))
		if _, err := dial(t, &tok).Admin.ListClusters(ctx(t), &meshfedv1.ListClustersRequest{}); err != nil {
			t.Fatal(err)
		}
		tok.Token = strings.Repeat("x", 64)
		_, err := dial(t, &tok).Admin.ListClusters(ctx(t), &meshfedv1.ListClustersRequest{})
		wantCode(t, err, codes.Unauthenticated, "token is not valid")
	})
	t.Run("no credentials gets nothing", func(t *testing.T) {
		serverID := spiffeid.RequireFromString(r.cfg.ServerID)
		b, err := x509bundle.Load(serverID.TrustDomain(), r.cfg.CA)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.DialTLS(r.cp.Addr(), tlsconfig.TLSClientConfig(b, tlsconfig.AuthorizeID(serverID)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Admin.ListClusters(ctx(t), &meshfedv1.ListClustersRequest{})
		wantCode(t, err, codes.Unauthenticated, "no credentials")
		stream, err := c.Gateway.Watch(ctx(t), &meshfedv1.WatchRequest{Cluster: "a"})
		if err == nil {
			_, err = stream.Recv()
		}
		wantCode(t, err, codes.Unauthenticated, "")
	})
	t.Run("replicas of one gateway register as instances", func(t *testing.T) {
		gw := gatewayConn(t, r, caA, gwID(t, "a.test", "a", "gw2"))
		for _, in := range []string{"pod-1", "pod-2"} {
			if _, err := gw.Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "a", Gateway: "gw2", Instance: in, Addresses: []string{"127.0.0.1:15443"}}); err != nil {
				t.Fatal(err)
			}
		}
		cl, err := admin.Admin.GetCluster(ctx(t), &meshfedv1.GetClusterRequest{Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range cl.GetGateways() {
			if p.GetGateway() == "gw2" {
				names = append(names, schema.PresenceName(p.GetGateway(), p.GetInstance()))
			}
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "gw2.pod-1,gw2.pod-2" {
			t.Fatalf("presence of gw2 = %v, want both instances", names)
		}
		if _, err := gw.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw2", Instance: "pod-2"}); err != nil {
			t.Fatalf("heartbeat of an instance: %v", err)
		}
		_, err = gw.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw2", Instance: "pod-3"})
		wantCode(t, err, codes.NotFound, "")
		_, err = gw.Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "a", Gateway: "gw2", Instance: "Pod_1"})
		wantCode(t, err, codes.InvalidArgument, `instance "Pod_1"`)
	})
	t.Run("gateway may act for its own cluster only", func(t *testing.T) {
		gw := gatewayConn(t, r, caA, gwID(t, "a.test", "a", "gw1"))
		if _, err := gw.Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "a", Gateway: "gw1", Addresses: []string{"127.0.0.1:15443"}}); err != nil {
			t.Fatal(err)
		}
		_, err := gw.Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "a", Gateway: "other"})
		wantCode(t, err, codes.PermissionDenied, `may not register as gateway "other"`)
		if _, err := gw.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw1"}); err != nil {
			t.Fatalf("heartbeat as itself: %v", err)
		}
		_, err = gw.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "other"})
		wantCode(t, err, codes.PermissionDenied, `may not heartbeat for gateway "other"`)
		_, err = gw.Gateway.PublishExports(ctx(t), &meshfedv1.PublishExportsRequest{Cluster: "b", Upserts: []*meshfedv1.Export{echoExport()}})
		wantCode(t, err, codes.PermissionDenied, `may not act for cluster "b"`)
		_, err = gw.Admin.ListClusters(ctx(t), &meshfedv1.ListClustersRequest{})
		wantCode(t, err, codes.PermissionDenied, "admin only")
		exports, err := admin.Admin.ListExports(ctx(t), &meshfedv1.ListExportsRequest{Cluster: "b"})
		if err != nil || len(exports.GetExports()) != 0 {
			t.Fatalf("cluster b's exports after a's attempt: %v %v", exports, err)
		}
	})
	t.Run("gateway ID in another cluster's trust domain is refused", func(t *testing.T) {
		// Signed by b's CA (so it verifies), but claims cluster a.
		caB := federateExisting(t, admin, "b")
		_, err := gatewayConn(t, r, caB, gwID(t, "b.test", "a", "gw")).Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "a", Gateway: "gw"})
		wantCode(t, err, codes.PermissionDenied, `whose trust domain is "a.test"`)
	})
	t.Run("unknown trust domain is refused", func(t *testing.T) {
		rogue, err := devca.New(spiffeid.RequireTrustDomainFromString("rogue.test"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = gatewayConn(t, r, rogue, gwID(t, "rogue.test", "rogue", "gw")).Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "rogue", Gateway: "gw"})
		if err == nil || (status.Code(err) != codes.Unavailable && status.Code(err) != codes.Unauthenticated) {
			t.Fatalf("rogue trust domain: got %v, want a refused handshake", err)
		}
	})
	t.Run("forged SVID for a federated trust domain is refused", func(t *testing.T) {
		forger, err := devca.New(spiffeid.RequireTrustDomainFromString("a.test"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = gatewayConn(t, r, forger, gwID(t, "a.test", "a", "gw")).Gateway.Register(ctx(t), &meshfedv1.RegisterRequest{Cluster: "a", Gateway: "gw"})
		if err == nil {
			t.Fatal("SVID from a CA not in a.test's bundle was accepted")
		}
	})
}

// federateExisting rotates cluster name's bundle to a new CA (sequence 2).
func federateExisting(t *testing.T, admin *client.Conn, name string) *devca.CA {
	t.Helper()
	ca := newCA(t, name+".test")
	putBundleOf(t, admin, ca, 2)
	return ca
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func echoExport() *meshfedv1.Export {
	return &meshfedv1.Export{Namespace: "demo", Name: "echo", Ports: []*meshfedv1.ServicePort{{Name: "http", Port: 80, AppProtocol: "http"}},
		Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "eu-west-1a", Ready: 3}}}
}

func TestValidationNamesTheBadValueAndSparesTheRest(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{DataDir: t.TempDir()})
	admin := dial(t, r.cfg)

	bad := clusterRecord("eu-1")
	bad.TrustDomain = "x y"
	_, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: bad})
	wantCode(t, err, codes.InvalidArgument, `cluster "eu-1": trust_domain "x y" is not a valid SPIFFE trust domain name`)
	_, err = admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("Bad_Name")})
	wantCode(t, err, codes.InvalidArgument, `cluster name "Bad_Name" is not a valid DNS-1123 label`)
	own := clusterRecord("own")
	own.TrustDomain = controlplane.DefaultTrustDomain
	_, err = admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: own})
	wantCode(t, err, codes.InvalidArgument, "control plane's own trust domain")

	if _, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("eu-1")}); err != nil {
		t.Fatal(err)
	}
	badPort := echoExport()
	badPort.Name = "bad"
	badPort.Ports[0].Port = 70000
	other := echoExport()
	other.Name = "api"
	resp, err := admin.Gateway.PublishExports(ctx(t), &meshfedv1.PublishExportsRequest{Cluster: "eu-1",
		Upserts: []*meshfedv1.Export{echoExport(), badPort, other}, Withdrawals: []string{"demo/never-existed", "Bad/x"}})
	if err != nil {
		t.Fatal(err)
	}
	var oks []bool
	for _, res := range resp.GetResults() {
		oks = append(oks, res.GetOk())
	}
	if fmt.Sprint(oks) != "[true false true true false]" {
		t.Fatalf("results %v", resp.GetResults())
	}
	if msg := resp.GetResults()[1].GetError(); !strings.Contains(msg, `port "70000" is outside 1-65535`) {
		t.Fatalf("bad export error %q", msg)
	}
	list, err := admin.Admin.ListExports(ctx(t), &meshfedv1.ListExportsRequest{})
	if err != nil || len(list.GetExports()) != 2 {
		t.Fatalf("exports %v %v, want echo and api", list, err)
	}
	_, err = admin.Admin.PutPolicy(ctx(t), &meshfedv1.PutPolicyRequest{Policy: &meshfedv1.Policy{Namespace: "demo", Name: "echo", Kind: "failover",
		Document: []byte(`{"targets":[{"region":"eu-west-1"}],"unknown":1}`)}})
	wantCode(t, err, codes.InvalidArgument, `unknown field "unknown"`)
	_, err = admin.Admin.PutPolicy(ctx(t), &meshfedv1.PutPolicyRequest{Policy: &meshfedv1.Policy{Namespace: "demo", Name: "echo", Kind: "failover",
		Document: []byte(`{"targets":[{"region":"eu-west-1"},{"cluster":"us-1"}],"never":["cn-1"]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.Admin.PutBundle(ctx(t), &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: "eu-1.test", Jwks: []byte(`{"keys":[]}`)}})
	wantCode(t, err, codes.InvalidArgument, "holds no keys")
}

func TestWatchSnapshotChangesAndImportConflicts(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{DataDir: t.TempDir()})
	admin := dial(t, r.cfg)
	caA := federate(t, admin, "a")
	federate(t, admin, "b")
	gw := gatewayConn(t, r, caA, gwID(t, "a.test", "a", "gw"))
	var stream meshfedv1.GatewayService_WatchClient
	waitFor(t, "gateway a authenticates", func() bool {
		var err error
		stream, err = gw.Gateway.Watch(ctx(t), &meshfedv1.WatchRequest{Cluster: "a"})
		if err != nil {
			return false
		}
		first, err := stream.Recv()
		return err == nil && first.GetSnapshot() != nil && len(first.GetSnapshot().GetClusters()) == 2 && len(first.GetSnapshot().GetBundles()) == 2
	})

	// b exports echo on 80 first; a then exports it on 8080 under the same
	// port name: b is older and wins, a carries the conflict.
	if _, err := admin.Gateway.PublishExports(ctx(t), &meshfedv1.PublishExportsRequest{Cluster: "b", Upserts: []*meshfedv1.Export{echoExport()}}); err != nil {
		t.Fatal(err)
	}
	young := echoExport()
	young.Ports[0].Port = 8080
	if _, err := gw.Gateway.PublishExports(ctx(t), &meshfedv1.PublishExportsRequest{Cluster: "a", Upserts: []*meshfedv1.Export{young}}); err != nil {
		t.Fatal(err)
	}
	var last *meshfedv1.Import
	var lastVersion int64
	for last == nil || len(last.GetClusters()) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.GetChanges() {
			if c.GetVersion() <= lastVersion {
				t.Fatalf("change version %d after %d: not increasing", c.GetVersion(), lastVersion)
			}
			lastVersion = c.GetVersion()
			if c.GetKind() == meshfedv1.Change_KIND_IMPORT {
				last = c.GetImport()
			}
		}
	}
	if last.GetPorts()[0].GetPort() != 80 || last.GetClusters()[0].GetConditions()[0].GetStatus() != "True" {
		t.Fatalf("import %v: want port 80 (b's, older) and a conflicting", last)
	}
	imps, err := admin.Admin.ListImports(ctx(t), &meshfedv1.ListImportsRequest{})
	if err != nil || len(imps.GetImports()) != 1 || !strings.Contains(imps.GetImports()[0].GetConditions()[0].GetMessage(), `"a"`) {
		t.Fatalf("admin imports %v %v", imps, err)
	}
}

func TestHTTPEndpointsAndMetrics(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{DataDir: t.TempDir()})
	admin := dial(t, r.cfg)
	if _, err := admin.Admin.ListClusters(ctx(t), &meshfedv1.ListClustersRequest{}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ok",
		"/metrics": `meshfed_api_requests_total{code="OK",method="/meshfed.v1.AdminService/ListClusters"} 1`,
	} {
		resp, err := http.Get("http://" + r.cp.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d, body does not contain %q:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := startReplica(t, controlplane.Config{DataDir: dir})
	if _, err := dial(t, r.cfg).Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("eu-1")}); err != nil {
		t.Fatal(err)
	}
	r.stop()
	r2 := startReplica(t, controlplane.Config{DataDir: dir})
	got, err := dial(t, r2.cfg).Admin.GetCluster(ctx(t), &meshfedv1.GetClusterRequest{Name: "eu-1"})
	if err != nil || got.GetCluster().GetTrustDomain() != "eu-1.test" {
		t.Fatalf("after restart: %v %v", got, err)
	}
	_, err = dial(t, r2.cfg).Admin.GetCluster(ctx(t), &meshfedv1.GetClusterRequest{Name: "nope"})
	wantCode(t, err, codes.NotFound, `cluster "nope"`)
}
