package tfmodules_test

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/test/helmtest"
)

// TestChartValuesRender applies the chart-values example (no provider
// needed) and renders the repository's chart with the values it outputs:
// helm checks them against the chart's values.schema.json, and the
// rendered objects carry what the module set. This is what keeps the
// modules' values in step with the chart.
func TestChartValuesRender(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform and helm; skipped with -short")
	}
	w := newWorkdirWithCLIConfig(t, "chart-values/examples/argocd", "")
	caFile := filepath.Join(t.TempDir(), "cp-ca.pem")
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("meshfed.local"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	// 1. Apply the example: nothing but the module's locals and outputs.
	w.mustRun("get", "-no-color")
	w.mustRun("apply", "-auto-approve", "-no-color", "-input=false", "-var", "control_plane_ca_file="+caFile)
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesFile, []byte(w.mustRun("output", "-raw", "values_yaml")), 0o600); err != nil {
		t.Fatal(err)
	}

	// 2. Render the chart with them; helm validates the values' schema.
	chart := filepath.Join(filepath.Dir(filepath.Dir(modulesDir(t))), "deploy", "helm", "meshfed")
	out := helmtest.Run(t, "template", "meshfed", chart, "--namespace", "meshfed-system", "-f", valuesFile)
	objects := map[string]map[string]any{}
	for _, doc := range bytes.Split(out, []byte("\n---")) {
		var o map[string]any
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("helm template output: %v\n%s", err, doc)
		}
		if o == nil {
			continue
		}
		md, _ := o["metadata"].(map[string]any)
		objects[o["kind"].(string)+"/"+md["name"].(string)] = o
	}

	// 3. The objects carry the module's values.
	svc := objects["Service/meshfed-gateway-inbound"]
	if svc == nil {
		t.Fatalf("no Service meshfed-gateway-inbound among %d objects", len(objects))
	}
	ann, _ := svc["metadata"].(map[string]any)["annotations"].(map[string]any)
	for k, v := range map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-type":            "external",
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
		"service.beta.kubernetes.io/aws-load-balancer-scheme":          "internal",
	} {
		if ann[k] != v {
			t.Errorf("inbound Service annotation %s = %v, want %q", k, ann[k], v)
		}
	}
	if typ := svc["spec"].(map[string]any)["type"]; typ != "LoadBalancer" {
		t.Errorf("inbound Service type %v, want LoadBalancer", typ)
	}
	gw := configData(t, objects, "meshfed-gateway")["gateway.yaml"]
	for _, want := range []string{`cluster: "east"`, `address: "cp.example.org:15012"`, `advertise: ["gw.east.example.org:15443"]`,
		`server_id: "spiffe://meshfed.local/meshfed/controlplane"`, `inbound: "0.0.0.0:15443"`} {
		if !strings.Contains(gw, want) {
			t.Errorf("gateway.yaml lacks %s:\n%s", want, gw)
		}
	}
	if got := configData(t, objects, "meshfed-controlplane")["ca.pem"]; got != string(caPEM) {
		t.Errorf("meshfed-controlplane ca.pem = %q, want the control plane's CA", got)
	}
}

func configData(t *testing.T, objects map[string]map[string]any, name string) map[string]string {
	t.Helper()
	cm := objects["ConfigMap/"+name]
	if cm == nil {
		t.Fatalf("no ConfigMap %s", name)
	}
	out := map[string]string{}
	for k, v := range cm["data"].(map[string]any) {
		out[k], _ = v.(string)
	}
	return out
}
