package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestOperatorVerbsAgainstARealControlPlane walks the operator flow:
//
//  1. add two clusters, one with a trust bundle from a PEM file;
//  2. list them as a table and as JSON;
//  3. a cluster publishes an export that conflicts with another's, and
//     `import list` shows the conflict;
//  4. put, get, list and delete a policy from a YAML file;
//  5. remove a cluster, and see not-found and unreachable errors.
func TestOperatorVerbsAgainstARealControlPlane(t *testing.T) {
	srv := controlplanetest.Start(t, controlplane.Config{})
	cfgPath, stop := srv.ConfigPath, srv.Stop
	dir := t.TempDir()
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, "", append([]string{"--config", cfgPath}, args...)...)
	}
	mustOK := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(args...)
		if code != 0 {
			t.Fatalf("meshfed %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	// 1.
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("eu-1.example.org"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bundle := writeFile(t, dir, "eu-1.pem", pemCerts(ca.Certificate()))
	out := mustOK("cluster", "add", "eu-1", "--trust-domain", "eu-1.example.org", "--provider", "aws", "--region", "eu-west-1", "--zone", "eu-west-1a", "--label", "tier=gold", "--bundle", bundle)
	if !strings.Contains(out, `cluster "eu-1" added`) {
		t.Fatalf("add output: %q", out)
	}
	mustOK("cluster", "add", "us-1", "--trust-domain", "us-1.example.org", "--provider", "gcp", "--region", "us-east1", "--zone", "us-east1-b")
	if code, _, errOut := cli("cluster", "add", "us-1", "--trust-domain", "us-1.example.org", "--provider", "gcp", "--region", "us-east1"); code != 1 || !strings.Contains(errOut, "us-1") {
		t.Fatalf("adding us-1 twice: exit %d: %s", code, errOut)
	}

	// 2.
	table := mustOK("cluster", "list")
	for _, want := range []string{"NAME", "eu-1", "eu-1.example.org", "us-east1-b"} {
		if !strings.Contains(table, want) {
			t.Fatalf("cluster list lacks %q:\n%s", want, table)
		}
	}
	var list struct {
		Clusters []struct {
			Cluster struct {
				Name        string            `json:"name"`
				TrustDomain string            `json:"trust_domain"`
				Labels      map[string]string `json:"labels"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(mustOK("cluster", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Clusters) != 2 || list.Clusters[0].Cluster.Name != "eu-1" || list.Clusters[0].Cluster.Labels["tier"] != "gold" {
		t.Fatalf("cluster list -o json: %+v", list)
	}
	if !strings.Contains(mustOK("trust", "list"), "eu-1.example.org") {
		t.Fatal("trust list lacks the bundle added with cluster add --bundle")
	}

	// 3.
	conn := srv.Dial(t)
	publish := func(cluster string, port uint32) {
		t.Helper()
		resp, err := conn.Gateway.PublishExports(context.Background(), &meshfedv1.PublishExportsRequest{Cluster: cluster, Upserts: []*meshfedv1.Export{{
			Namespace: "demo", Name: "echo", Ports: []*meshfedv1.ServicePort{{Name: "http", Port: port}},
			Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "z1", Ready: 2}}}}})
		if err != nil || !resp.GetResults()[0].GetOk() {
			t.Fatalf("publish: %v %v", resp, err)
		}
	}
	publish("eu-1", 80)
	publish("us-1", 8080)
	if out := mustOK("export", "list"); !strings.Contains(out, "http:80/TCP") || !strings.Contains(out, "http:8080/TCP") {
		t.Fatalf("export list:\n%s", out)
	}
	imports := mustOK("import", "list")
	if !strings.Contains(imports, "eu-1(2)") || !strings.Contains(imports, `"us-1"`) {
		t.Fatalf("import list does not show both clusters and the conflict:\n%s", imports)
	}

	// 4.
	policy := writeFile(t, dir, "failover.yaml", "targets:\n- region: eu-west-1\n- cluster: us-1\nnever: [cn-1]\n")
	mustOK("policy", "put", "demo/echo", "--kind", "failover", "-f", policy)
	if out := mustOK("policy", "get", "demo/echo", "--kind", "failover"); !strings.Contains(out, "eu-west-1") {
		t.Fatalf("policy get:\n%s", out)
	}
	if out := mustOK("policy", "list"); !strings.Contains(out, "echo") {
		t.Fatalf("policy list:\n%s", out)
	}
	mustOK("policy", "delete", "demo/echo", "--kind", "failover")
	if code, _, errOut := cli("policy", "get", "demo/echo", "--kind", "failover"); code != 1 || !strings.Contains(errOut, "demo/echo") {
		t.Fatalf("policy get after delete: exit %d: %s", code, errOut)
	}

	// 5.
	if out := mustOK("cluster", "remove", "us-1"); !strings.Contains(out, "us-1") {
		t.Fatalf("remove output: %q", out)
	}
	if code, _, errOut := cli("cluster", "get", "us-1"); code != 1 || !strings.Contains(errOut, `"us-1" not found`) {
		t.Fatalf("get removed cluster: exit %d: %s", code, errOut)
	}
	if out := mustOK("export", "list", "-o", "json"); strings.Contains(out, `"us-1"`) {
		t.Fatalf("us-1's export survived its removal:\n%s", out)
	}
	stop()
	if code, _, errOut := cli("--timeout", "2s", "cluster", "list"); code != 1 || !strings.Contains(errOut, "cannot reach the control plane") {
		t.Fatalf("control plane down: exit %d: %s", code, errOut)
	}
}
