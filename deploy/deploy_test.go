package deploy_test

import (
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/devca"
)

// TestGeneratedFilesUpToDate fails while deploy/manifests or
// deploy/helm/meshfed differ from what the Go source generates.
func TestGeneratedFilesUpToDate(t *testing.T) {
	diffs, err := deploy.Diff(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("generated deployment files are out of date:\n  %s\nrun `go generate ./deploy` (or `make deploy`) and commit the result",
			strings.Join(diffs, "\n  "))
	}
}

// caPEM is a real CA certificate, as the control plane's ca.pem.
func caPEM(t testing.TB) string {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("meshfed.local"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}))
}

func minimal(ca string) deploy.Values {
	return deploy.Values{
		Cluster:      "east",
		ControlPlane: deploy.ControlPlane{Address: "cp.example.com:15012", CA: ca},
	}
}

// valueSets are the values the chart is checked against: the minimum,
// every value changed, and a mix.
func valueSets(ca string) map[string]deploy.Values {
	full := deploy.Values{
		Cluster:         "west-2",
		Namespace:       "mesh",
		Image:           "registry.example.com/meshfed:dev",
		ImagePullPolicy: corev1.PullAlways,
		ControlPlane: deploy.ControlPlane{
			Address:  "[2001:db8::1]:443",
			CA:       ca + ca,
			ServerID: "spiffe://cp.example.org/meshfed/controlplane",
		},
		Gateway: deploy.Gateway{
			Name:        "gw-1",
			Replicas:    3,
			InboundPort: 16443,
			Advertise:   []string{"203.0.113.7:16443", "gw.west-2.example.com:16443"},
			Service: deploy.Service{
				Type: corev1.ServiceTypeNodePort,
				Annotations: map[string]string{
					"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
					"example.com/note": "a \"quoted\" value: with a colon",
				},
			},
			IdentitySecret: "gw-identity",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
			ServiceAccount: deploy.ServiceAccount{Annotations: map[string]string{
				"azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000001",
				"azure.workload.identity/tenant-id": "00000000-0000-0000-0000-000000000002",
				"example.com/Multi-Line":            "line one\nline two: with a colon\n",
			}},
			PodLabels: map[string]string{
				"azure.workload.identity/use": "true",
				"team":                        "",
				"example.com/tier":            "1",
			},
			PodAnnotations: map[string]string{
				"prometheus.io/scrape": "true",
				"example.com/note":     "a \"quoted\" value: with a colon",
			},
		},
		Agent: deploy.Agent{
			Replicas:         1,
			CreateNamespaces: true,
			IdentitySecret:   "agent.identity",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
			},
			ServiceAccount: deploy.ServiceAccount{Annotations: map[string]string{
				"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/meshfed-agent",
			}},
			PodLabels:      map[string]string{"example.com/owner": "platform-team", "null": "null"},
			PodAnnotations: map[string]string{"example.com/empty": ""},
		},
		ImportPorts:   deploy.PortRange{First: 20000, Last: 20099},
		ClusterDomain: "corp.local",
	}
	mixed := minimal(ca)
	mixed.Gateway.Service.Type = corev1.ServiceTypeClusterIP
	mixed.Gateway.Advertise = []string{"10.0.0.9:15443"}
	mixed.Agent.CreateNamespaces = true
	mixed.Gateway.ServiceAccount.Annotations = map[string]string{"iam.gke.io/gcp-service-account": "meshfed-east@my-project.iam.gserviceaccount.com"}
	mixed.Agent.PodLabels = map[string]string{"example.com/on": "yes"}
	return map[string]deploy.Values{"minimal": minimal(ca), "full": full, "mixed": mixed}
}

func find[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			var typed T
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &typed); err != nil {
				t.Fatalf("%s/%s: %v", kind, name, err)
			}
			return &typed
		}
	}
	t.Fatalf("no %s/%s among the objects", kind, name)
	return nil
}

func TestObjects(t *testing.T) {
	objs, err := deploy.Objects(minimal(caPEM(t)))
	if err != nil {
		t.Fatal(err)
	}
	// 1. Apply order: what others depend on comes first.
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := []string{
		"Namespace/meshfed-system",
		"CustomResourceDefinition/serviceexports.multicluster.x-k8s.io",
		"CustomResourceDefinition/serviceimports.multicluster.x-k8s.io",
		"ServiceAccount/meshfed-gateway", "ServiceAccount/meshfed-agent",
		"ClusterRole/meshfed-gateway", "ClusterRole/meshfed-agent",
		"ClusterRoleBinding/meshfed-gateway", "ClusterRoleBinding/meshfed-agent",
		"Role/meshfed-agent", "RoleBinding/meshfed-agent",
		"ConfigMap/meshfed-controlplane", "ConfigMap/meshfed-gateway",
		"Deployment/meshfed-gateway", "Deployment/meshfed-agent",
		"Service/meshfed-gateway", "Service/meshfed-gateway-inbound",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("objects:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// 2. Both MCS API versions are served.
	for _, name := range []string{"serviceexports.multicluster.x-k8s.io", "serviceimports.multicluster.x-k8s.io"} {
		crd := find[unstructured.Unstructured](t, objs, "CustomResourceDefinition", name)
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		var served []string
		for _, v := range versions {
			if m := v.(map[string]any); m["served"] == true {
				served = append(served, m["name"].(string))
			}
		}
		if !slices.Equal(served, []string{"v1alpha1", "v1beta1"}) {
			t.Errorf("%s serves %v, want v1alpha1 and v1beta1", name, served)
		}
	}

	// 3. The agent runs what the lead specified, as its service account.
	agent := find[appsv1.Deployment](t, objs, "Deployment", "meshfed-agent")
	pod := agent.Spec.Template.Spec
	wantArgs := "agent --cluster east --controlplane-config /etc/meshfed/controlplane/meshfed.yaml " +
		"--lease-namespace $(POD_NAMESPACE) --lease-name meshfed-agent --gateway-service meshfed-system/meshfed-gateway " +
		"--import-ports 17000-17999 --admin :15022"
	if got := strings.Join(pod.Containers[0].Args, " "); got != wantArgs {
		t.Errorf("agent args:\n  %s\nwant\n  %s", got, wantArgs)
	}
	if pod.ServiceAccountName != "meshfed-agent" || *agent.Spec.Replicas != 2 {
		t.Errorf("agent: service account %q, replicas %d; want meshfed-agent, 2", pod.ServiceAccountName, *agent.Spec.Replicas)
	}
	gw := find[appsv1.Deployment](t, objs, "Deployment", "meshfed-gateway")
	if sa := gw.Spec.Template.Spec.ServiceAccountName; sa != "meshfed-gateway" {
		t.Errorf("gateway service account %q, want meshfed-gateway", sa)
	}

	// 4. Restricted pod security for both.
	for _, d := range []*appsv1.Deployment{agent, gw} {
		ps := d.Spec.Template.Spec.SecurityContext
		cs := d.Spec.Template.Spec.Containers[0].SecurityContext
		if !*ps.RunAsNonRoot || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
			!*cs.ReadOnlyRootFilesystem || *cs.AllowPrivilegeEscalation || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: pod security %+v, container security %+v: want non-root, RuntimeDefault seccomp, read-only root, no escalation, all capabilities dropped", d.Name, ps, cs)
		}
	}

	// 5. Namespaces are read-only for the agent unless asked.
	role := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "meshfed-agent")
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "namespaces") && slices.Contains(r.Verbs, "create") {
			t.Errorf("agent may create namespaces without agent.createNamespaces: %+v", r)
		}
		if slices.Contains(r.Resources, "secrets") || slices.Contains(r.Verbs, "*") {
			t.Errorf("agent rule broader than needed: %+v", r)
		}
	}
	v := minimal(caPEM(t))
	v.Agent.CreateNamespaces = true
	objs, err = deploy.Objects(v)
	if err != nil {
		t.Fatal(err)
	}
	role = find[rbacv1.ClusterRole](t, objs, "ClusterRole", "meshfed-agent")
	if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "namespaces") && slices.Contains(r.Verbs, "create")
	}) {
		t.Errorf("agent.createNamespaces: the agent may not create namespaces: %+v", role.Rules)
	}
	agent = find[appsv1.Deployment](t, objs, "Deployment", "meshfed-agent")
	if !slices.Contains(agent.Spec.Template.Spec.Containers[0].Args, "--create-namespaces") {
		t.Errorf("agent.createNamespaces: args %v lack --create-namespaces", agent.Spec.Template.Spec.Containers[0].Args)
	}
}

// TestPodLabelsAndServiceAccountAnnotations checks where the new maps
// land: ServiceAccount annotations, pod template labels next to the
// chart's, pod template annotations; never the Deployments' own metadata
// or selectors. Empty, they add nothing.
func TestPodLabelsAndServiceAccountAnnotations(t *testing.T) {
	ca := caPEM(t)
	chartLabels := func(name, component string) map[string]string {
		return map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "meshfed"}
	}
	with := func(m map[string]string, extra map[string]string) map[string]string {
		out := maps.Clone(m)
		maps.Copy(out, extra)
		return out
	}
	t.Run("set", func(t *testing.T) {
		v := minimal(ca)
		v.Gateway.ServiceAccount.Annotations = map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"}
		v.Gateway.PodLabels = map[string]string{"azure.workload.identity/use": "true"}
		v.Gateway.PodAnnotations = map[string]string{"example.com/a": "1"}
		v.Agent.ServiceAccount.Annotations = map[string]string{"iam.gke.io/gcp-service-account": "a@p.iam.gserviceaccount.com"}
		v.Agent.PodLabels = map[string]string{"team": "mesh"}
		v.Agent.PodAnnotations = map[string]string{"example.com/b": "2"}
		objs, err := deploy.Objects(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, component string
			comp            func(deploy.Values) (sa, labels, ann map[string]string)
		}{
			{"meshfed-gateway", "gateway", func(v deploy.Values) (map[string]string, map[string]string, map[string]string) {
				return v.Gateway.ServiceAccount.Annotations, v.Gateway.PodLabels, v.Gateway.PodAnnotations
			}},
			{"meshfed-agent", "agent", func(v deploy.Values) (map[string]string, map[string]string, map[string]string) {
				return v.Agent.ServiceAccount.Annotations, v.Agent.PodLabels, v.Agent.PodAnnotations
			}},
		} {
			saAnn, podLabels, podAnn := c.comp(v)
			sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", c.name)
			if !maps.Equal(sa.Annotations, saAnn) || !maps.Equal(sa.Labels, chartLabels(c.name, c.component)) {
				t.Errorf("ServiceAccount %s: annotations %v, labels %v; want %v and the chart's", c.name, sa.Annotations, sa.Labels, saAnn)
			}
			d := find[appsv1.Deployment](t, objs, "Deployment", c.name)
			if want := with(chartLabels(c.name, c.component), podLabels); !maps.Equal(d.Spec.Template.Labels, want) {
				t.Errorf("Deployment %s: pod labels %v, want %v", c.name, d.Spec.Template.Labels, want)
			}
			if !maps.Equal(d.Spec.Template.Annotations, podAnn) {
				t.Errorf("Deployment %s: pod annotations %v, want %v", c.name, d.Spec.Template.Annotations, podAnn)
			}
			if !maps.Equal(d.Labels, chartLabels(c.name, c.component)) || len(d.Annotations) > 0 {
				t.Errorf("Deployment %s: own labels %v, annotations %v; want only the chart's labels", c.name, d.Labels, d.Annotations)
			}
			if want := map[string]string{"app.kubernetes.io/name": c.name}; !maps.Equal(d.Spec.Selector.MatchLabels, want) || len(d.Spec.Selector.MatchExpressions) > 0 {
				t.Errorf("Deployment %s: selector %+v, want %v", c.name, d.Spec.Selector, want)
			}
		}
		// The Services still select the gateway pods by name alone.
		for _, name := range []string{"meshfed-gateway", "meshfed-gateway-inbound"} {
			if sel := find[corev1.Service](t, objs, "Service", name).Spec.Selector; !maps.Equal(sel, map[string]string{"app.kubernetes.io/name": "meshfed-gateway"}) {
				t.Errorf("Service %s selects %v", name, sel)
			}
		}
	})
	t.Run("empty", func(t *testing.T) {
		objs, err := deploy.Objects(minimal(ca))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"meshfed-gateway", "meshfed-agent"} {
			sa := find[unstructured.Unstructured](t, objs, "ServiceAccount", name)
			if _, ok, _ := unstructured.NestedFieldNoCopy(sa.Object, "metadata", "annotations"); ok {
				t.Errorf("ServiceAccount %s has annotations without any set: %v", name, sa.Object["metadata"])
			}
			d := find[unstructured.Unstructured](t, objs, "Deployment", name)
			if _, ok, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "template", "metadata", "annotations"); ok {
				t.Errorf("Deployment %s has pod annotations without any set", name)
			}
			labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
			if len(labels) != 3 {
				t.Errorf("Deployment %s: pod labels %v, want the chart's 3", name, labels)
			}
		}
	})
}

func TestGatewayConfig(t *testing.T) {
	v := minimal(caPEM(t))
	v.Gateway.Advertise = []string{"203.0.113.7:15443"}
	objs, err := deploy.Objects(v)
	if err != nil {
		t.Fatal(err)
	}
	cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "meshfed-gateway")
	want := `cluster: "east"
name: "gw"
data_dir: "/var/lib/meshfed"
controlplane:
  address: "cp.example.com:15012"
  ca: "/etc/meshfed/controlplane/ca.pem"
  server_id: "spiffe://meshfed.local/meshfed/controlplane"
identity:
  cert: "/etc/meshfed/identity/tls.crt"
  key: "/etc/meshfed/identity/tls.key"
  bundle: "/etc/meshfed/identity/bundle.pem"
listen:
  inbound: "0.0.0.0:15443"
  advertise: ["203.0.113.7:15443"]
  outbound: "0.0.0.0:15001"
  admin: "0.0.0.0:15021"
kubernetes:
  cluster_domain: "cluster.local"
`
	if got := cm.Data["gateway.yaml"]; got != want {
		t.Errorf("gateway.yaml:\n%s\nwant:\n%s", got, want)
	}
	// The gateway itself accepts it (its config parser is strict).
	gc, err := gateway.ParseConfig([]byte(cm.Data["gateway.yaml"]))
	if err != nil {
		t.Fatalf("the gateway refuses the generated config: %v", err)
	}
	gc.SetDefaults()
	gc.Identity = gateway.IdentityConfig{WorkloadAPI: "(checked at start)"}
	if err := gc.Validate(); err != nil || gc.Kubernetes == nil || gc.Kubernetes.ClusterDomain != "cluster.local" {
		t.Fatalf("generated gateway config: %v (kubernetes %+v)", err, gc.Kubernetes)
	}
	cp := find[corev1.ConfigMap](t, objs, "ConfigMap", "meshfed-controlplane")
	if cp.Data["ca.pem"] != v.ControlPlane.CA || !strings.Contains(cp.Data["meshfed.yaml"], `server: "cp.example.com:15012"`) {
		t.Errorf("controlplane ConfigMap: %v", cp.Data)
	}
}

func TestValidate(t *testing.T) {
	ca := caPEM(t)
	for _, tc := range []struct {
		name  string
		edit  func(*deploy.Values)
		field string // named in the error
	}{
		{"no cluster", func(v *deploy.Values) { v.Cluster = "" }, "cluster"},
		{"cluster not a label", func(v *deploy.Values) { v.Cluster = "East_1" }, `cluster "East_1"`},
		{"namespace", func(v *deploy.Values) { v.Namespace = "a.b" }, "namespace"},
		{"image with a space", func(v *deploy.Values) { v.Image = "a b" }, "image"},
		{"pull policy", func(v *deploy.Values) { v.ImagePullPolicy = "Sometimes" }, "imagePullPolicy"},
		{"no address", func(v *deploy.Values) { v.ControlPlane.Address = "" }, "controlPlane.address"},
		{"address without port", func(v *deploy.Values) { v.ControlPlane.Address = "cp.example.com" }, "controlPlane.address"},
		{"no CA", func(v *deploy.Values) { v.ControlPlane.CA = "" }, "controlPlane.ca"},
		{"CA not PEM", func(v *deploy.Values) { v.ControlPlane.CA = "hello" }, "controlPlane.ca"},
		{"CA is a key", func(v *deploy.Values) {
			v.ControlPlane.CA = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}, "controlPlane.ca"},
		{"CA with trailing text", func(v *deploy.Values) { v.ControlPlane.CA = ca + "junk" }, "controlPlane.ca"},
		{"server ID", func(v *deploy.Values) { v.ControlPlane.ServerID = "https://cp" }, "controlPlane.serverID"},
		{"server ID without path", func(v *deploy.Values) { v.ControlPlane.ServerID = "spiffe://meshfed.local" }, "controlPlane.serverID"},
		{"gateway name", func(v *deploy.Values) { v.Gateway.Name = "GW" }, "gateway.name"},
		{"negative replicas", func(v *deploy.Values) { v.Gateway.Replicas = -1 }, "gateway.replicas"},
		{"inbound port", func(v *deploy.Values) { v.Gateway.InboundPort = 70000 }, "gateway.inboundPort"},
		{"inbound port on admin", func(v *deploy.Values) { v.Gateway.InboundPort = 15021 }, "gateway.inboundPort"},
		{"advertise", func(v *deploy.Values) { v.Gateway.Advertise = []string{"ok.example.com:1", "nope"} }, "gateway.advertise[1]"},
		{"service type", func(v *deploy.Values) { v.Gateway.Service.Type = "ExternalName" }, "gateway.service.type"},
		{"annotation key", func(v *deploy.Values) { v.Gateway.Service.Annotations = map[string]string{"a b": ""} }, `gateway.service.annotations "a b": is not an annotation name`},
		{"service account annotation key", func(v *deploy.Values) {
			v.Gateway.ServiceAccount.Annotations = map[string]string{"-eks.amazonaws.com/role-arn": "x"}
		}, `gateway.serviceAccount.annotations "-eks.amazonaws.com/role-arn": is not an annotation name`},
		{"service account annotations too large", func(v *deploy.Values) {
			v.Gateway.ServiceAccount.Annotations = map[string]string{"a": strings.Repeat("x", 200<<10), "b": strings.Repeat("y", 100<<10)}
		}, `gateway.serviceAccount.annotations "307202 bytes": are more than the 262144 bytes (256 KiB)`},
		{"pod annotation key", func(v *deploy.Values) { v.Gateway.PodAnnotations = map[string]string{"a/b/c": ""} }, `gateway.podAnnotations "a/b/c"`},
		{"pod label key", func(v *deploy.Values) { v.Gateway.PodLabels = map[string]string{"Example.com/x": "y"} }, `gateway.podLabels "Example.com/x": is not a label key`},
		{"pod label value", func(v *deploy.Values) {
			v.Gateway.PodLabels = map[string]string{"azure.workload.identity/use": "yes please"}
		}, `gateway.podLabels.azure\.workload\.identity/use "yes please": is not a label value`},
		{"pod label value too long", func(v *deploy.Values) { v.Gateway.PodLabels = map[string]string{"team": strings.Repeat("a", 64)} }, "gateway.podLabels.team"},
		{"pod label replacing the selector's", func(v *deploy.Values) {
			v.Gateway.PodLabels = map[string]string{"app.kubernetes.io/name": "other"}
		}, `gateway.podLabels.app\.kubernetes\.io/name "other": is a label the chart sets on the gateway pods (app.kubernetes.io/name selects them): remove it from gateway.podLabels`},
		{"pod label replacing the chart's", func(v *deploy.Values) {
			v.Agent.PodLabels = map[string]string{"app.kubernetes.io/part-of": "x"}
		}, `agent.podLabels.app\.kubernetes\.io/part-of "x": is a label the chart sets on the agent pods`},
		{"agent service account annotation key", func(v *deploy.Values) {
			v.Agent.ServiceAccount.Annotations = map[string]string{"": "x"}
		}, `agent.serviceAccount.annotations "": is not an annotation name`},
		{"agent pod label value", func(v *deploy.Values) { v.Agent.PodLabels = map[string]string{"team": "-x"} }, `agent.podLabels.team "-x"`},
		{"agent pod annotation key", func(v *deploy.Values) { v.Agent.PodAnnotations = map[string]string{"x y": ""} }, `agent.podAnnotations "x y"`},
		{"secret name", func(v *deploy.Values) { v.Gateway.IdentitySecret = "Gw" }, "gateway.identitySecret"},
		{"request above limit", func(v *deploy.Values) {
			v.Gateway.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")},
			}
		}, "gateway.resources.requests.memory"},
		{"agent replicas", func(v *deploy.Values) { v.Agent.Replicas = -2 }, "agent.replicas"},
		{"agent secret", func(v *deploy.Values) { v.Agent.IdentitySecret = "-x" }, "agent.identitySecret"},
		{"import range reversed", func(v *deploy.Values) { v.ImportPorts = deploy.PortRange{First: 18000, Last: 17000} }, "importPorts"},
		{"import range privileged", func(v *deploy.Values) { v.ImportPorts = deploy.PortRange{First: 80, Last: 90} }, "importPorts"},
		{"import range over inbound", func(v *deploy.Values) { v.ImportPorts = deploy.PortRange{First: 15000, Last: 16000} }, "importPorts"},
		{"cluster domain", func(v *deploy.Values) { v.ClusterDomain = "Cluster Local" }, "clusterDomain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := minimal(ca)
			tc.edit(&v)
			err := v.Validate()
			if err == nil {
				t.Fatal("valid; want an error")
			}
			if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q: want errors.Is ErrInvalid, naming %s", err, tc.field)
			}
			if _, err := deploy.Objects(v); err == nil {
				t.Fatal("Objects accepted invalid values")
			}
		})
	}
	t.Run("valid maps", func(t *testing.T) {
		v := minimal(ca)
		v.Gateway.ServiceAccount.Annotations = map[string]string{"Example.COM/Upper": "annotation names may have capitals"}
		v.Gateway.PodLabels = map[string]string{"app.kubernetes.io/version": "v1", "empty": "", "x": strings.Repeat("a", 63)}
		v.Agent.PodAnnotations = map[string]string{"a": strings.Repeat("x", 250<<10)}
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("every error at once", func(t *testing.T) {
		err := deploy.Values{Cluster: "A", Gateway: deploy.Gateway{InboundPort: -1}}.Validate()
		var ve *deploy.ValuesError
		if !errors.As(err, &ve) || len(ve.Fields) != 4 {
			t.Fatalf("error %v: want 4 fields (cluster, address, ca, inboundPort)", err)
		}
	})
}

// TestValuesFile checks that values.yaml holds exactly the defaults and
// that ParseValues is strict.
func TestValuesFile(t *testing.T) {
	files, err := deploy.Files()
	if err != nil {
		t.Fatal(err)
	}
	v, err := deploy.ParseValues(files[deploy.ChartDir+"/values.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	v.Namespace = deploy.DefaultNamespace
	a, _ := deploy.HelmValues(v)
	b, _ := deploy.HelmValues(deploy.Values{})
	if string(a) != string(b) {
		t.Errorf("values.yaml:\n%s\nwant the defaults:\n%s", a, b)
	}
	for _, bad := range []string{"clustr: east\n", "gateway:\n  replicas: two\n", "cluster: a\ncluster: b\n"} {
		if _, err := deploy.ParseValues([]byte(bad)); err == nil {
			t.Errorf("ParseValues(%q) accepted it", bad)
		}
	}
}

func TestSet(t *testing.T) {
	var v deploy.Values
	for _, s := range []string{
		"cluster=east",
		"gateway.replicas=3",
		"gateway.advertise={a.example.com:1,b.example.com:2}",
		`gateway.service.annotations.service\.beta\.kubernetes\.io/aws-load-balancer-type=nlb`,
		"agent.createNamespaces=true",
		"gateway.resources.requests.cpu=250m",
		"controlPlane.address=cp:1",
		"gateway.podLabels.x=y",
		`gateway.podLabels.azure\.workload\.identity/use=true`, // a string, as the map wants
		"gateway.podLabels.tier=1",
		`gateway.serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::123456789012:role/a=b`,
		`gateway.podAnnotations.example\.com/note=hello`,
		`agent.serviceAccount.annotations.iam\.gke\.io/gcp-service-account=a@p.iam.gserviceaccount.com`,
		"agent.podLabels.team=mesh",
		"agent.podAnnotations.a=b",
	} {
		if err := v.Set(s); err != nil {
			t.Fatalf("Set(%q): %v", s, err)
		}
	}
	if v.Cluster != "east" || v.Gateway.Replicas != 3 || !v.Agent.CreateNamespaces ||
		!slices.Equal(v.Gateway.Advertise, []string{"a.example.com:1", "b.example.com:2"}) ||
		v.Gateway.Service.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"] != "nlb" ||
		v.Gateway.Resources.Requests.Cpu().String() != "250m" || v.ControlPlane.Address != "cp:1" {
		t.Fatalf("after Set: %+v", v)
	}
	if want := map[string]string{"x": "y", "azure.workload.identity/use": "true", "tier": "1"}; !maps.Equal(v.Gateway.PodLabels, want) {
		t.Errorf("gateway.podLabels %v, want %v", v.Gateway.PodLabels, want)
	}
	if got := v.Gateway.ServiceAccount.Annotations; !maps.Equal(got, map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/a=b"}) {
		t.Errorf("gateway.serviceAccount.annotations %v", got)
	}
	if v.Gateway.PodAnnotations["example.com/note"] != "hello" || v.Agent.PodLabels["team"] != "mesh" || v.Agent.PodAnnotations["a"] != "b" ||
		v.Agent.ServiceAccount.Annotations["iam.gke.io/gcp-service-account"] != "a@p.iam.gserviceaccount.com" {
		t.Errorf("after Set: agent %+v, gateway pod annotations %v", v.Agent, v.Gateway.PodAnnotations)
	}
	for _, tc := range []struct{ expr, want string }{
		{"cluster", "KEY=VALUE"},
		{"=x", "KEY=VALUE"},
		{"gateway.replica=2", `"gateway.replica"`},
		{"gateway.replicas=two", "gateway.replicas"},
		{"cluster.name=x", `"cluster"`},
		{"gateway=x", "gateway"},
		{"gateway.podLabels={a,b}", "gateway.podLabels"},
		{"gateway.podLabels.x.y=z", "gateway.podLabels"},
		{"gateway.serviceAccount.name=x", "gateway.serviceAccount"},
	} {
		v := deploy.Values{}
		if err := v.Set(tc.expr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%q): error %v, want one naming %s", tc.expr, err, tc.want)
		}
	}
}

func ExampleObjects() {
	objs, err := deploy.Objects(deploy.Values{
		Cluster: "east",
		ControlPlane: deploy.ControlPlane{
			Address: "controlplane.example.com:15012",
			CA:      exampleCA,
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range objs[:5] {
		fmt.Println(o.GetKind(), o.GetName())
	}
	// Output:
	// Namespace meshfed-system
	// CustomResourceDefinition serviceexports.multicluster.x-k8s.io
	// CustomResourceDefinition serviceimports.multicluster.x-k8s.io
	// ServiceAccount meshfed-gateway
	// ServiceAccount meshfed-agent
}

// exampleCA is a self-signed CA certificate (spiffe://meshfed.local, valid
// until 2125) standing for the control plane's ca.pem.
const exampleCA = `-----BEGIN CERTIFICATE-----
MIIBizCCATCgAwIBAgIBATAKBggqhkjOPQQDAjAaMRgwFgYDVQQKEw9tZXNoZmVk
IGV4YW1wbGUwIBcNMjUwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMBoxGDAW
BgNVBAoTD21lc2hmZWQgZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BGkCzCdvgRD0prtz2/VVv/cuYQLbzJE0FiWZ2yatsPFiW0Q7snDmAese9SnpSeBq
wl7mSmaNiZYSWQTOnjR0+SmjZTBjMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMBAf8E
BTADAQH/MB0GA1UdDgQWBBQLczwPWKKia13jsFK1NsK+SQZzGTAhBgNVHREEGjAY
hhZzcGlmZmU6Ly9tZXNoZmVkLmxvY2FsMAoGCCqGSM49BAMCA0kAMEYCIQC/7Z+b
1AUBT5PaWHA/2o7Turr3porVxO2KrstPSrivPwIhAIp5gG7q3qp20qp6tvTtPySW
ocM4pyA1RdcxfelevwNL
-----END CERTIFICATE-----
`
