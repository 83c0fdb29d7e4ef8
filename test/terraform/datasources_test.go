package terraform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestDataSources reads a cluster and the clusterset's imports, with the
// provider configured by $MESHFED_CONFIG alone.
func TestDataSources(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform against a control plane")
	}
	t.Parallel()
	cp := controlplanetest.Start(t, controlplane.Config{})
	conn := cp.Dial(t)

	// 1. Two clusters, added with the CLI, export demo/echo; one also
	// exports other/db.
	meshfed(t, cp.ConfigPath, "", "cluster", "add", "eu-1", "--trust-domain", "eu-1.example.org",
		"--provider", "aws", "--region", "eu-west-1", "--zone", "eu-west-1a", "--label", "env=prod",
		"--gateway-address", "10.0.0.1:15443")
	meshfed(t, cp.ConfigPath, "", "cluster", "add", "us-1", "--trust-domain", "us-1.example.org",
		"--provider", "gcp", "--region", "us-east1", "--zone", "us-east1-b")
	publish := func(cluster string, exports ...*meshfedv1.Export) {
		t.Helper()
		resp, err := conn.Gateway.PublishExports(context.Background(), &meshfedv1.PublishExportsRequest{Cluster: cluster, Upserts: exports})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetResults() {
			if !r.GetOk() {
				t.Fatalf("publish %s/%s from %s: %s", r.GetNamespace(), r.GetName(), cluster, r.GetError())
			}
		}
	}
	echo := func(cluster string, ready uint32) *meshfedv1.Export {
		return &meshfedv1.Export{Cluster: cluster, Namespace: "demo", Name: "echo",
			Ports:     []*meshfedv1.ServicePort{{Name: "http", Port: 8080, AppProtocol: "http"}},
			Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "z1", Ready: ready}}}
	}
	publish("eu-1", echo("eu-1", 3), &meshfedv1.Export{Cluster: "eu-1", Namespace: "other", Name: "db", Ports: []*meshfedv1.ServicePort{{Port: 5432}}})
	publish("us-1", echo("us-1", 2))

	// 2. Read them through Terraform.
	w := newWorkdir(t, "MESHFED_CONFIG="+cp.ConfigPath)
	w.write("main.tf", header+`
provider "meshfed" {}

data "meshfed_cluster" "eu" {
  name = "eu-1"
}

data "meshfed_imports" "demo" {
  namespace = "demo"
}

data "meshfed_imports" "all" {}

output "cluster" {
  value = data.meshfed_cluster.eu
}

output "demo" {
  value = data.meshfed_imports.demo.imports
}

output "all_names" {
  value = [for i in data.meshfed_imports.all.imports : "${i.namespace}/${i.name}"]
}
`)
	w.mustRun("apply", "-auto-approve", "-no-color", "-input=false")
	var outputs map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(w.mustRun("output", "-json")), &outputs); err != nil {
		t.Fatal(err)
	}
	cluster := outputs["cluster"].Value.(map[string]any)
	for path, want := range map[string]any{
		"trust_domain":        "eu-1.example.org",
		"locality.provider":   "aws",
		"locality.region":     "eu-west-1",
		"locality.zone":       "eu-west-1a",
		"labels.env":          "prod",
		"gateway_addresses.0": "10.0.0.1:15443",
		"live":                false,
	} {
		if got := attr(cluster, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("2. data.meshfed_cluster.eu.%s = %v, want %v", path, got, want)
		}
	}
	if gws, ok := cluster["gateways"].([]any); !ok || len(gws) != 0 {
		t.Errorf("2. gateways = %v, want an empty list (no gateway is live)", cluster["gateways"])
	}
	if created, _ := cluster["created_at"].(string); !strings.HasPrefix(created, "20") {
		t.Errorf("2. created_at = %q", cluster["created_at"])
	}

	demo := map[string]any{"imports": outputs["demo"].Value}
	for path, want := range map[string]any{
		"imports.0.namespace":               "demo",
		"imports.0.name":                    "echo",
		"imports.0.ports.0.name":            "http",
		"imports.0.ports.0.port":            8080,
		"imports.0.ports.0.protocol":        "TCP",
		"imports.0.ports.0.app_protocol":    "http",
		"imports.0.clusters.0.cluster":      "eu-1",
		"imports.0.clusters.0.ready":        3,
		"imports.0.clusters.0.zones.0.zone": "z1",
		"imports.0.clusters.1.cluster":      "us-1",
		"imports.0.clusters.1.ready":        2,
		"imports.0.conflict":                false,
		"imports.1":                         nil, // only demo
	} {
		if got := attr(demo, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("2. data.meshfed_imports.demo.%s = %v, want %v", path, got, want)
		}
	}
	if got := fmt.Sprint(outputs["all_names"].Value); got != "[demo/echo other/db]" {
		t.Errorf("2. all imports = %s, want [demo/echo other/db]", got)
	}

	// 3. A cluster that does not exist is an error naming it.
	w.write("main.tf", header+`
provider "meshfed" {}

data "meshfed_cluster" "nope" {
  name = "nope"
}
`)
	code, _, errOut := w.run("plan", "-no-color", "-input=false")
	if code != 1 || !strings.Contains(errOut, `Cannot read cluster "nope"`) || !strings.Contains(errOut, "not found") {
		t.Errorf("3. plan reading a missing cluster exited %d:\n%s", code, errOut)
	}
}
