package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestRouteExplain: three clusters, echo.demo exported by a same-region
// cluster whose gateway is down and by another provider's live one.
// `route explain` from the caller shows the spill-over (1.4 x 50% healthy
// weight = 70% stays) and why, and a failover policy reorders it.
func TestRouteExplain(t *testing.T) {
	srv := controlplanetest.Start(t, controlplane.Config{})
	conn := srv.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []*meshfedv1.Cluster{
		{Name: "caller", TrustDomain: "caller.test", Locality: &meshfedv1.Locality{Provider: "aws", Region: "us-east-1", Zone: "a"}},
		{Name: "near", TrustDomain: "near.test", Locality: &meshfedv1.Locality{Provider: "aws", Region: "us-east-1", Zone: "b"}},
		{Name: "near2", TrustDomain: "near2.test", Locality: &meshfedv1.Locality{Provider: "aws", Region: "us-east-1", Zone: "c"}},
		{Name: "far", TrustDomain: "far.test", Locality: &meshfedv1.Locality{Provider: "gcp", Region: "europe-west1", Zone: "b"}},
	} {
		if _, err := conn.Admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: c}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"near", "near2", "far"} {
		exp := &meshfedv1.Export{Cluster: c, Namespace: "demo", Name: "echo", Ports: []*meshfedv1.ServicePort{{Port: 8080}},
			Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "z", Ready: 2}}}
		if _, err := conn.Gateway.PublishExports(ctx, &meshfedv1.PublishExportsRequest{Cluster: c, Upserts: []*meshfedv1.Export{exp}}); err != nil {
			t.Fatal(err)
		}
	}
	// near and far have live gateways; near2's is down.
	for _, c := range []string{"near", "far"} {
		if _, err := conn.Gateway.Register(ctx, &meshfedv1.RegisterRequest{Cluster: c, Gateway: "gw", Addresses: []string{"127.0.0.1:1"}}); err != nil {
			t.Fatal(err)
		}
	}
	// The control plane serves watches from a view that trails etcd by
	// a few milliseconds; wait until it has every export and gateway, as
	// the CLI cannot know what it should wait for.
	waitView(t, ctx, conn, "caller", func(st *client.State) bool {
		return len(st.Imports["demo/echo"].GetClusters()) == 3 && len(st.Presence) == 2
	})
	explain := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(t, "", append([]string{"--config", srv.ConfigPath, "route", "explain"}, args...)...)
		if code != 0 {
			t.Fatalf("route explain %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	out := explain("echo.demo", "--from", "caller")
	for _, want := range []string{"near ", "same region", "70.0%", "near2", "no live gateway", "far", "other provider", "30.0%", "priority 0 health 70%"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	var e struct {
		Targets []struct {
			Cluster string  `json:"cluster"`
			Share   float64 `json:"share"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(explain("echo.demo.svc.clusterset.local", "--from", "caller", "-o", "json")), &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Targets) != 3 {
		t.Fatalf("json targets: %+v", e.Targets)
	}

	doc := `{"targets":[{"region":"europe-west1"}]}`
	if code, _, errOut := run(t, doc, "--config", srv.ConfigPath, "policy", "put", "demo/echo", "--kind", "failover", "-f", "-"); code != 0 {
		t.Fatalf("policy put: %s", errOut)
	}
	// The replica's view trails the write by milliseconds: poll.
	deadline := time.Now().Add(10 * time.Second)
	for out = explain("echo.demo", "--from", "caller"); !strings.Contains(out, "policy step 1: region europe-west1"); out = explain("echo.demo", "--from", "caller") {
		if time.Now().After(deadline) {
			t.Fatalf("policy order not explained:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "100.0%") {
		t.Fatalf("policy order: far should take everything:\n%s", out)
	}

	for _, bad := range [][]string{{"echo", "--from", "caller"}, {"echo.demo"}, {"nope.demo", "--from", "caller"}, {"echo.demo", "--from", "nobody"}} {
		code, _, errOut := run(t, "", append([]string{"--config", srv.ConfigPath, "route", "explain"}, bad...)...)
		if code == 0 || errOut == "" {
			t.Errorf("route explain %v: exit %d, %q", bad, code, errOut)
		}
	}
}

// waitView watches the control plane as cluster from until ok holds.
func waitView(t *testing.T, ctx context.Context, conn *client.Conn, from string, ok func(*client.State) bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := conn.Gateway.Watch(ctx, &meshfedv1.WatchRequest{Cluster: from})
	if err != nil {
		t.Fatal(err)
	}
	st := client.NewState()
	for !ok(st) {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for the control plane's view: %v", err)
		}
		if err := st.Apply(resp); err != nil {
			t.Fatal(err)
		}
	}
}
