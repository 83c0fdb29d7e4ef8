package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/test/helmtest"
)

// TestHelmChartRendersObjects lints the generated chart with the real helm
// and renders it for several values sets: every rendering must equal
// deploy.Objects for the same values, object by object, after decoding
// (the Namespace aside, which Helm's --create-namespace makes).
func TestHelmChartRendersObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("runs helm (built on first use)")
	}
	helmtest.Binary(t)
	ca := caPEM(t)
	for name, v := range valueSets(ca) {
		t.Run(name, func(t *testing.T) {
			valuesFile := writeValues(t, v)
			helmtest.Run(t, "lint", "--strict", deploy.ChartDir, "-f", valuesFile)
			ns := v.WithDefaults().Namespace
			out := helmtest.Run(t, "template", "meshfed", deploy.ChartDir, "--namespace", ns, "--include-crds", "-f", valuesFile)
			got := decodeDocs(t, out)

			objs, err := deploy.Objects(v)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{}
			for _, o := range objs {
				if o.GetKind() == "Namespace" {
					continue
				}
				want[key(o)] = normalize(t, o.Object)
			}
			for _, k := range slices.Sorted(mapKeys(want)) {
				g, ok := got[k]
				if !ok {
					t.Errorf("helm did not render %s", k)
					continue
				}
				if !reflect.DeepEqual(g, want[k]) {
					gy, _ := yaml.Marshal(g)
					wy, _ := yaml.Marshal(want[k])
					t.Errorf("%s differs.\nhelm:\n%s\ndeploy.Objects:\n%s", k, gy, wy)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("helm rendered %s, which deploy.Objects does not have", k)
				}
			}
		})
	}
}

// TestHelmSchemaRefusesBadValues checks that values.schema.json stops, at
// `helm template`, the bad values Validate refuses that it can express.
func TestHelmSchemaRefusesBadValues(t *testing.T) {
	if testing.Short() {
		t.Skip("runs helm (built on first use)")
	}
	helmtest.Binary(t)
	ca := caPEM(t)
	for _, tc := range []struct {
		name string
		set  []string
		want string // in helm's message
	}{
		{"no cluster", nil, "/cluster"},
		{"cluster not a label", []string{"cluster=East"}, "/cluster"},
		{"unknown key", []string{"cluster=east", "gateway.replica=2"}, "replica"},
		{"address with a quote", []string{"cluster=east", `controlPlane.address=cp"x:1`}, "/controlPlane/address"},
		{"server ID", []string{"cluster=east", "controlPlane.serverID=https://cp"}, "/controlPlane/serverID"},
		{"replicas", []string{"cluster=east", "gateway.replicas=0"}, "/gateway/replicas"},
		{"inbound port", []string{"cluster=east", "gateway.inboundPort=70000"}, "/gateway/inboundPort"},
		{"service type", []string{"cluster=east", "gateway.service.type=ExternalName"}, "/gateway/service/type"},
		{"advertise", []string{"cluster=east", "gateway.advertise={nope}"}, "/gateway/advertise"},
		{"import ports", []string{"cluster=east", "importPorts.first=80"}, "/importPorts/first"},
		{"create namespaces", []string{"cluster=east", "agent.createNamespaces=yes"}, "/agent/createNamespaces"},
		{"service account annotation not a string", []string{"cluster=east", `gateway.serviceAccount.annotations.eks\.amazonaws\.com/role-arn=1`}, "/gateway/serviceAccount/annotations"},
		// helm reports a bad property name at a wrong location, so these
		// look for the name itself.
		{"service account annotation name", []string{"cluster=east", "gateway.serviceAccount.annotations.a b=x"}, "invalid propertyName 'a b'"},
		{"service account unknown key", []string{"cluster=east", "agent.serviceAccount.name=x"}, "name"},
		{"pod label not a string", []string{"cluster=east", `gateway.podLabels.azure\.workload\.identity/use=true`}, "/gateway/podLabels"},
		{"pod label value", []string{"cluster=east", "gateway.podLabels.team=a b"}, "/gateway/podLabels"},
		{"pod label key", []string{"cluster=east", "agent.podLabels.-x=y"}, "invalid propertyName '-x'"},
		{"pod label replacing the selector's", []string{"cluster=east", `gateway.podLabels.app\.kubernetes\.io/name=other`}, "/gateway/podLabels"},
		{"pod label replacing the chart's", []string{"cluster=east", `agent.podLabels.app\.kubernetes\.io/component=x`}, "/agent/podLabels"},
		{"pod annotation not a string", []string{"cluster=east", "agent.podAnnotations.a=1"}, "/agent/podAnnotations"},
		{"pod annotations not a map", []string{"cluster=east", "gateway.podAnnotations=x"}, "/gateway/podAnnotations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := minimal(ca)
			v.Cluster = ""
			args := []string{"template", "meshfed", deploy.ChartDir, "-f", writeValues(t, v)}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := helmtest.Try(t, args...)
			if err == nil {
				t.Fatalf("helm accepted the values:\n%s", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm failed without naming %s: %v", tc.want, err)
			}
		})
	}
}

// TestPlainManifestsAreTheDefaults checks that the plain manifests are
// deploy.Objects of ManifestValues, in apply order.
func TestPlainManifestsAreTheDefaults(t *testing.T) {
	data, err := os.ReadFile(deploy.ManifestsPath)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, doc := range strings.Split(string(data), "\n---\n")[1:] {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, key(&unstructured.Unstructured{Object: m}))
	}
	v := deploy.ManifestValues()
	v.ControlPlane.CA = caPEM(t) // the placeholder does not validate
	objs, err := deploy.Objects(v)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range objs {
		want = append(want, key(o))
	}
	if !slices.Equal(docs, want) {
		t.Fatalf("manifests hold\n  %s\nwant\n  %s", strings.Join(docs, "\n  "), strings.Join(want, "\n  "))
	}
}

func writeValues(t *testing.T, v deploy.Values) string {
	t.Helper()
	data, err := deploy.HelmValues(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// decodeDocs splits helm's output into objects keyed by kind, namespace
// and name, normalised like normalize.
func decodeDocs(t *testing.T, out []byte) map[string]any {
	t.Helper()
	got := map[string]any{}
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("helm rendered invalid YAML: %v\n%s", err, doc)
		}
		var m map[string]any
		if err := json.Unmarshal(j, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			continue // only comments
		}
		got[key(&unstructured.Unstructured{Object: m})] = normalize(t, m)
	}
	return got
}

// normalize round-trips an object through JSON so that numbers and maps
// compare equal whichever decoder produced them.
func normalize(t *testing.T, m map[string]any) any {
	t.Helper()
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
