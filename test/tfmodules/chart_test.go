package tfmodules_test

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/test/helmtest"
)

// TestChartValuesRender applies the chart-values example (no provider
// needed) and renders the repository's chart with the values it outputs:
// helm checks them against the chart's values.schema.json, and the
// rendered objects carry what the module set. It then does the same with
// the workload identity each cloud module passes to the chart, taken from
// the cloud module's own HCL. This is what keeps the modules' values in
// step with the chart.
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

	// 2. Render the chart with them; helm validates the values' schema.
	objects := renderChart(t, w.mustRun("output", "-raw", "values_yaml"))

	// 3. The objects carry the module's values.
	svc := objects["Service/meshfed-gateway-inbound"]
	if svc == nil {
		t.Fatalf("no Service meshfed-gateway-inbound among %d objects", len(objects))
	}
	ann := stringMap(svc, "metadata", "annotations")
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
	checkIdentity(t, objects, "meshfed-gateway", map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/meshfed-east-plugin"}, nil)
	checkIdentity(t, objects, "meshfed-agent", nil, map[string]string{"example.org/team": "platform"})

	// 4. Each cloud module's workload identity, as its HCL passes it to
	// ../install, with stand-ins for the cloud's resources: one
	// configuration calling chart-values once per cloud.
	clouds := []struct {
		name     string
		stubs    map[string]string // reference -> HCL literal
		wantSA   map[string]string // gateway ServiceAccount annotations
		wantPods map[string]string // gateway pod labels besides the chart's
	}{
		{"aws", map[string]string{"aws_iam_role.plugin[0].arn": `"arn:aws:iam::123456789012:role/meshfed-east-plugin"`},
			map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/meshfed-east-plugin", "eks.amazonaws.com/sts-regional-endpoints": "true"},
			nil},
		{"gcp", map[string]string{"google_service_account.plugin[0].email": `"meshfed-east@my-project.iam.gserviceaccount.com"`},
			map[string]string{"iam.gke.io/gcp-service-account": "meshfed-east@my-project.iam.gserviceaccount.com"},
			nil},
		{"azure", map[string]string{
			"azurerm_user_assigned_identity.plugin[0].client_id": `"11111111-1111-1111-1111-111111111111"`,
			"azurerm_user_assigned_identity.plugin[0].tenant_id": `"22222222-2222-2222-2222-222222222222"`,
		},
			map[string]string{"azure.workload.identity/client-id": "11111111-1111-1111-1111-111111111111", "azure.workload.identity/tenant-id": "22222222-2222-2222-2222-222222222222"},
			map[string]string{"azure.workload.identity/use": "true"}},
	}
	cw := newWorkdirWithCLIConfig(t, "chart-values", "")
	cw.dir = filepath.Join(cw.dir, "examples", "clouds")
	if err := os.MkdirAll(cw.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("variable \"control_plane_ca_file\" {\n  type = string\n}\n")
	for _, c := range clouds {
		stubs := map[string]string{"var.create_plugin_identity": "true"}
		maps.Copy(stubs, c.stubs)
		args := installArgs(t, filepath.Join(modulesDir(t), c.name, "main.tf"), identityArgs, stubs)
		if len(args) == 0 {
			t.Fatalf("%s/main.tf passes none of %v to module \"install\"", c.name, identityArgs)
		}
		fmt.Fprintf(&cfg, "\nmodule %q {\n  source = \"../..\"\n\n  cluster_name  = \"east\"\n"+
			"  control_plane = { address = \"cp.example.org:15012\", ca_pem = file(var.control_plane_ca_file) }\n", c.name)
		for _, name := range slices.Sorted(maps.Keys(args)) {
			fmt.Fprintf(&cfg, "  %s = %s\n", name, args[name])
		}
		fmt.Fprintf(&cfg, "}\n\noutput %q {\n  value = module.%s.yaml\n}\n", c.name, c.name)
	}
	cw.write("main.tf", cfg.String())
	cw.mustRun("get", "-no-color")
	cw.mustRun("apply", "-auto-approve", "-no-color", "-input=false", "-var", "control_plane_ca_file="+caFile)
	for _, c := range clouds {
		t.Run(c.name, func(t *testing.T) {
			objects := renderChart(t, cw.mustRun("output", "-raw", c.name))
			checkIdentity(t, objects, "meshfed-gateway", c.wantSA, c.wantPods)
			checkIdentity(t, objects, "meshfed-agent", nil, nil)
		})
	}

	// 5. Labels the chart sets itself, or that Kubernetes would refuse,
	// are refused at plan time, naming them.
	cw.write("main.tf", `module "bad" {
  source = "../.."

  cluster_name       = "east"
  control_plane      = { address = "cp.example.org:15012", ca_pem = "-----BEGIN CERTIFICATE-----" }
  gateway_pod_labels = { "app.kubernetes.io/name" = "other" }
  agent_pod_labels   = { "team" = "a b" }

  gateway_service_account_annotations = { "a b" = "x" }
}
`)
	cw.mustRun("get", "-no-color")
	code, out, errOut := cw.run("plan", "-no-color", "-input=false")
	if code == 0 {
		t.Fatalf("plan accepted bad labels and annotations:\n%s", out)
	}
	msg := strings.Join(strings.Fields(errOut), " ") // terraform wraps long messages
	for _, want := range []string{
		`gateway_pod_labels sets ["app.kubernetes.io/name"], which the chart sets on the gateway pods itself`,
		`agent_pod_labels {"team":"a b"} are not Kubernetes labels`,
		`gateway_service_account_annotations ["a b"] are not annotation names`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("plan error lacks %s:\n%s", want, errOut)
		}
	}
}

// identityArgs are the arguments of ../install through which a cloud
// module gives the chart its workload identity.
var identityArgs = []string{"gateway_service_account_annotations", "gateway_pod_labels", "gateway_pod_annotations"}

// installArgs reads the module "install" block of the .tf file at path and
// returns the HCL of each of names it sets, with every reference replaced
// by its stand-in from stubs (a reference without one fails the test).
func installArgs(t *testing.T, path string, names []string, stubs map[string]string) map[string]string {
	t.Helper()
	file, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var install *hclsyntax.Block
	for _, b := range file.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "module" && len(b.Labels) == 1 && b.Labels[0] == "install" {
			install = b
		}
	}
	if install == nil {
		t.Fatalf("%s has no module \"install\"", path)
	}
	out := map[string]string{}
	for _, name := range names {
		attr, ok := install.Body.Attributes[name]
		if !ok {
			continue
		}
		start, end := attr.Expr.Range().Start.Byte, attr.Expr.Range().End.Byte
		text := string(file.Bytes[start:end])
		refs := attr.Expr.Variables()
		// From the last, so that earlier offsets stay valid.
		slices.SortFunc(refs, func(a, b hcl.Traversal) int { return b.SourceRange().Start.Byte - a.SourceRange().Start.Byte })
		for _, ref := range refs {
			r := ref.SourceRange()
			src := string(file.Bytes[r.Start.Byte:r.End.Byte])
			stub, ok := stubs[src]
			if !ok {
				t.Fatalf("%s: module \"install\" argument %s refers to %s: give the test a stand-in for it", path, name, src)
			}
			text = text[:r.Start.Byte-start] + stub + text[r.End.Byte-start:]
		}
		out[name] = text
	}
	return out
}

// renderChart renders the repository's chart with a values file and
// returns its objects by kind and name.
func renderChart(t *testing.T, values string) map[string]map[string]any {
	t.Helper()
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesFile, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
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
	return objects
}

// checkIdentity checks the rendered ServiceAccount and Deployment name:
// the ServiceAccount's annotations are exactly sa, the pods' labels the
// chart's plus podLabels, the Deployment's selector the chart's alone,
// and the pods carry a checksum of sa exactly when sa is not empty (a
// change of it replaces them).
func checkIdentity(t *testing.T, objects map[string]map[string]any, name string, sa, podLabels map[string]string) {
	t.Helper()
	account, deploy := objects["ServiceAccount/"+name], objects["Deployment/"+name]
	if account == nil || deploy == nil {
		t.Fatalf("no ServiceAccount or Deployment %s", name)
	}
	if got := stringMap(account, "metadata", "annotations"); !maps.Equal(got, sa) {
		t.Errorf("ServiceAccount %s annotations %v, want %v", name, got, sa)
	}
	want := maps.Clone(podLabels)
	if want == nil {
		want = map[string]string{}
	}
	component := strings.TrimPrefix(name, "meshfed-")
	maps.Copy(want, map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "meshfed"})
	if got := stringMap(deploy, "spec", "template", "metadata", "labels"); !maps.Equal(got, want) {
		t.Errorf("Deployment %s pod labels %v, want %v", name, got, want)
	}
	if got := stringMap(deploy, "spec", "selector", "matchLabels"); !maps.Equal(got, map[string]string{"app.kubernetes.io/name": name}) {
		t.Errorf("Deployment %s selector %v, want app.kubernetes.io/name alone", name, got)
	}
	_, hasChecksum := stringMap(deploy, "spec", "template", "metadata", "annotations")["meshfed.io/service-account-checksum"]
	if hasChecksum != (len(sa) > 0) {
		t.Errorf("Deployment %s: pod annotation meshfed.io/service-account-checksum present %v, want %v", name, hasChecksum, len(sa) > 0)
	}
}

// stringMap returns the map of strings at path in o; a value that is not a
// string (a label "true" decoded as a boolean, say) shows as "!(type)".
func stringMap(o map[string]any, path ...string) map[string]string {
	var cur any = o
	for _, p := range path {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	m, _ := cur.(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprintf("!(%T)", v)
		}
		out[k] = s
	}
	return out
}

func configData(t *testing.T, objects map[string]map[string]any, name string) map[string]string {
	t.Helper()
	cm := objects["ConfigMap/"+name]
	if cm == nil {
		t.Fatalf("no ConfigMap %s", name)
	}
	return stringMap(cm, "data")
}
