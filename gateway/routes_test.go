package gateway

import (
	"encoding/json"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/globallb"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func testState(t *testing.T, policies ...*meshfedv1.Policy) *client.State {
	t.Helper()
	st := client.NewState()
	st.Version = 7
	for _, c := range []*meshfedv1.Cluster{
		{Name: "east", TrustDomain: "east.test", Locality: &meshfedv1.Locality{Provider: "aws", Region: "r1", Zone: "z1"}},
		{Name: "west", TrustDomain: "west.test", Locality: &meshfedv1.Locality{Provider: "aws", Region: "r1", Zone: "z2"}, GatewayAddresses: []string{"10.0.0.9:15443"}},
		{Name: "far", TrustDomain: "far.test", Locality: &meshfedv1.Locality{Provider: "gcp", Region: "r9"}},
	} {
		st.Clusters[c.Name] = c
	}
	st.Presence["west/gw"] = &meshfedv1.Presence{Cluster: "west", Gateway: "gw", Addresses: []string{"127.0.0.1:1"}}
	st.Presence["far/gw"] = &meshfedv1.Presence{Cluster: "far", Gateway: "gw", Addresses: []string{"127.0.0.1:2"}}
	st.Imports["demo/echo"] = &meshfedv1.Import{Namespace: "demo", Name: "echo",
		Ports: []*meshfedv1.ServicePort{{Name: "http", Port: 8080}, {Name: "udp", Port: 53, Protocol: "UDP"}},
		Clusters: []*meshfedv1.ImportCluster{
			{Cluster: "far", Ready: 3},
			{Cluster: "west", Ready: 1},
			{Cluster: "east", Ready: 2, Conditions: []*meshfedv1.Condition{{Type: "Conflict", Status: "True"}}},
		}}
	for _, p := range policies {
		st.Policies[p.GetNamespace()+"/"+p.GetName()+"/"+p.GetKind()] = p
	}
	return st
}

func authz(t *testing.T, ns, name string, rules ...map[string]string) *meshfedv1.Policy {
	t.Helper()
	doc, err := json.Marshal(map[string]any{"allow": rules})
	if err != nil {
		t.Fatal(err)
	}
	return &meshfedv1.Policy{Namespace: ns, Name: name, Kind: "authorization", Document: doc}
}

func TestBuildRoutes(t *testing.T) {
	r := buildRoutes(testState(t), "east", "controlplane", nil)
	if r.version != 7 || r.local.Zone != "z1" {
		t.Fatalf("version %d locality %+v", r.version, r.local)
	}
	west := r.clusters["west"]
	if !west.alive || len(west.addrs) != 2 || west.addrs[0] != "127.0.0.1:1" || west.addrs[1] != "10.0.0.9:15443" {
		t.Fatalf("west: %+v (want presence addresses first, then the registered ones)", west)
	}
	if r.clusters["east"].alive {
		t.Fatal("east has no presence but is alive")
	}
	// east's own export lost a conflict: never picked; west (same region)
	// beats far.
	targets := r.services["demo/echo"].targets
	if len(targets) != 2 {
		t.Fatalf("targets %+v: the conflicted export must not be one", targets)
	}
	tb := globallb.Compute(globallb.Config{}, globallb.Input{From: "east", Local: r.local, Targets: targets})
	for _, row := range tb.Rows {
		if want := map[string]float64{"west": 1, "far": 0}[row.Cluster]; row.Share != want {
			t.Fatalf("%s share %v, want %v\n%s", row.Cluster, row.Share, want, globallb.Explain(tb))
		}
	}
	imp := r.services["demo/echo"].imp
	if p, ok := resolvePort(imp, 0); ok {
		t.Fatalf("port 0 with two ports and no 80 resolved to %v", p)
	}
	if p, ok := resolvePort(imp, 8080); !ok || p.GetName() != "http" {
		t.Fatal("8080 not resolved")
	}
	if _, ok := resolvePort(imp, 53); ok {
		t.Fatal("a UDP port resolved for a TCP tunnel")
	}
}

func TestAuthorization(t *testing.T) {
	eastGW := spiffeid.RequireFromString("spiffe://east.test/meshfed/gateway/east/gw")
	farGW := spiffeid.RequireFromString("spiffe://far.test/meshfed/gateway/far/gw")
	r := buildRoutes(testState(t,
		authz(t, "demo", "echo", map[string]string{"cluster": "east"}),
		authz(t, "demo", "td", map[string]string{"trust_domain": "far.test"}),
		authz(t, "demo", "id", map[string]string{"spiffe_id": "spiffe://east.test/meshfed/gateway/east/*"}),
		authz(t, "demo", "both", map[string]string{"cluster": "east", "trust_domain": "far.test"}),
		authz(t, "demo", "none"),
		&meshfedv1.Policy{Namespace: "demo", Name: "bad", Kind: "authorization", Document: []byte("{")},
		&meshfedv1.Policy{Namespace: "demo", Name: "fo", Kind: "failover", Document: []byte(`{}`)},
	), "west", "controlplane", nil)
	cases := []struct {
		key     string
		id      spiffeid.ID
		cluster string
		want    bool
	}{
		{"demo/echo", eastGW, "east", true},
		{"demo/echo", farGW, "far", false},
		{"demo/td", farGW, "far", true},
		{"demo/td", eastGW, "east", false},
		{"demo/id", eastGW, "east", true},
		{"demo/id", farGW, "far", false},
		{"demo/both", eastGW, "east", false}, // every set field must match
		{"demo/none", eastGW, "east", false}, // an empty allow list denies all
		{"demo/bad", eastGW, "east", false},  // unparsable: fail closed
		{"demo/fo", eastGW, "east", true},    // no authorization policy: default allow
		{"other/svc", farGW, "far", true},
	}
	for _, c := range cases {
		if got := r.allowed(c.key, c.id, c.cluster); got != c.want {
			t.Errorf("allowed(%s, %s) = %v, want %v", c.key, c.id, got, c.want)
		}
	}
	if matchID("spiffe://a/b/*", "spiffe://a/bc") || !matchID("spiffe://a/b/*", "spiffe://a/b/c/d") || matchID("spiffe://a/b", "spiffe://a/b/c") {
		t.Error("matchID prefix rules")
	}
}

func TestGatewayCluster(t *testing.T) {
	for id, want := range map[string]string{
		"spiffe://td/meshfed/gateway/east/gw":   "east",
		"spiffe://td/meshfed/gateway/east":      "",
		"spiffe://td/meshfed/gateway/east/gw/x": "",
		"spiffe://td/workload":                  "",
	} {
		if got := gatewayCluster(spiffeid.RequireFromString(id)); got != want {
			t.Errorf("gatewayCluster(%s) = %q, want %q", id, got, want)
		}
	}
}

// TestLastKnownAddressesOutliveLeases: when a cluster's presence leases
// expire (a control-plane outage expires them all), the gateway keeps the
// addresses it last saw, so it can still probe and reach the cluster.
func TestLastKnownAddressesOutliveLeases(t *testing.T) {
	st := testState(t)
	prev := buildRoutes(st, "east", "controlplane", nil)
	delete(st.Presence, "west/gw")
	r := buildRoutes(st, "east", "controlplane", prev)
	west := r.clusters["west"]
	if west.alive || len(west.addrs) != 2 || west.addrs[0] != "127.0.0.1:1" {
		t.Fatalf("west after its lease expired: %+v, want dead with its last address kept", west)
	}
	// A new lease with a new address replaces the remembered one.
	st.Presence["west/gw"] = &meshfedv1.Presence{Cluster: "west", Gateway: "gw", Addresses: []string{"127.0.0.1:9"}}
	if got := buildRoutes(st, "east", "controlplane", r).clusters["west"].addrs[0]; got != "127.0.0.1:9" {
		t.Fatalf("address %q, want the new lease's", got)
	}
}
