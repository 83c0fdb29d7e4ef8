package install_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/cli"
	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/internal/etcdtest"
	"github.com/meshfed/meshfed/kube/mcsapi"
	"github.com/meshfed/meshfed/test/kubetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// meshfed runs the CLI in this process.
func meshfed(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// files are a control plane's client config and a cluster's identities,
// as an operator would have them.
type files struct {
	cpConfig                string
	gwCert, gwKey, gwBundle string
	agCert, agKey           string
	otherCert, otherKey     string // the gateway SVID of another cluster
	foreignBundle           string // another trust domain's CA
}

func writeFiles(t *testing.T) files {
	t.Helper()
	dir := t.TempDir()
	cp, err := devca.New(spiffeid.RequireTrustDomainFromString("meshfed.local"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.WriteBundlePEM(filepath.Join(dir, "cp-ca.pem")); err != nil {
		t.Fatal(err)
	}
	cfg := "server: controlplane.example.com:15012\nca: cp-ca.pem\nserver_id: spiffe://meshfed.local/meshfed/controlplane\ntoken: admin-token\n"
	f := files{cpConfig: filepath.Join(dir, "meshfed.yaml"), gwBundle: filepath.Join(dir, "east-ca.pem"), foreignBundle: filepath.Join(dir, "cp-ca.pem")}
	if err := os.WriteFile(f.cpConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString("east.example.org")
	east, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := east.WriteBundlePEM(f.gwBundle); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		path       string
		cert, key  *string
		clusterEnd string
	}{
		{"/meshfed/gateway/east/gw", &f.gwCert, &f.gwKey, "gw"},
		{"/meshfed/gateway/east/agent", &f.agCert, &f.agKey, "agent"},
		{"/meshfed/gateway/west/gw", &f.otherCert, &f.otherKey, "other"},
	} {
		svid, err := east.IssueSVID(spiffeid.RequireFromPath(td, s.path), time.Hour, devca.SVIDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		*s.cert, *s.key = filepath.Join(dir, s.clusterEnd+".pem"), filepath.Join(dir, s.clusterEnd+"-key.pem")
		if err := devca.WriteSVID(*s.cert, *s.key, svid); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f files) identityArgs() []string {
	return []string{
		"--gateway-cert", f.gwCert, "--gateway-key", f.gwKey, "--gateway-bundle", f.gwBundle,
		"--agent-cert", f.agCert, "--agent-key", f.agKey,
	}
}

var resultLine = regexp.MustCompile(`^([a-z]+)/(\S+)(?: \((\S+)\))? (created|configured|unchanged)$`)

// results parses install's lines "kind/name (namespace) result" into
// "kind/name" -> result.
func results(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if m := resultLine.FindStringSubmatch(line); m != nil {
			got[m[1]+"/"+m[2]] = m[4]
		}
	}
	return got
}

// TestInstall installs meshfed into a real kube-apiserver and checks the
// objects, idempotence, changes, least privilege and uninstall:
//
//  1. start an API server and delete the CRDs kubetest installs; write a
//     control plane config and identities;
//  2. install: every object is created, the CRDs established before the
//     rest, and the Secrets hold the files;
//  3. install again: every object unchanged;
//  4. the objects have the fields of deploy.Objects: service accounts,
//     images, config, Service types;
//  5. RBAC: SubjectAccessReviews for both service accounts;
//  6. change values: only the objects they touch are configured, and the
//     agent may now create namespaces;
//  7. a CRD field owned by another manager: a conflict, unless
//     --force-conflicts;
//  8. uninstall: the objects go, the namespace and the CRDs stay.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a kube-apiserver")
	}
	// 1.
	kube := kubetest.Start(t, 1)[0]
	f := writeFiles(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(kube.Config())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(kube.Config())
	if err != nil {
		t.Fatal(err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, name := range []string{"serviceexports.multicluster.x-k8s.io", "serviceimports.multicluster.x-k8s.io"} {
		if err := dyn.Resource(crdGVR).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("CRD %s not deleted: %v", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	install := func(t *testing.T, extra ...string) (int, string, string) {
		t.Helper()
		args := append([]string{"install", "--kubeconfig", kube.Kubeconfig(), "--cluster", "east",
			"--controlplane-config", f.cpConfig}, f.identityArgs()...)
		start := time.Now()
		code, out, errOut := meshfed(t, append(args, extra...)...)
		t.Logf("meshfed install %s: exit %d in %s\n%s%s", strings.Join(extra, " "), code, time.Since(start).Round(time.Millisecond), out, errOut)
		return code, out, errOut
	}

	// 2.
	code, out, errOut := install(t)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s%s", code, out, errOut)
	}
	got := results(t, out)
	if len(got) != 19 { // 17 objects and 2 Secrets
		t.Fatalf("install printed %d object lines, want 19:\n%s", len(got), out)
	}
	for obj, res := range got {
		if res != "created" {
			t.Errorf("%s %s, want created", obj, res)
		}
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("install warned: %s", errOut)
	}
	secret, err := cs.CoreV1().Secrets("meshfed-system").Get(ctx, "meshfed-gateway-identity", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for key, file := range map[string]string{"tls.crt": f.gwCert, "tls.key": f.gwKey, "bundle.pem": f.gwBundle} {
		data, _ := os.ReadFile(file)
		if !bytes.Equal(secret.Data[key], data) {
			t.Errorf("secret meshfed-gateway-identity %s differs from %s", key, file)
		}
	}

	// 3.
	code, out, errOut = install(t)
	if code != 0 {
		t.Fatalf("second install: exit %d\n%s%s", code, out, errOut)
	}
	for obj, res := range results(t, out) {
		if res != "unchanged" {
			t.Errorf("second install: %s %s, want unchanged", obj, res)
		}
	}
	if !strings.Contains(out, "(0 created, 0 configured, 19 unchanged)") {
		t.Errorf("second install summary:\n%s", out)
	}

	// 4.
	gw, err := cs.AppsV1().Deployments("meshfed-system").Get(ctx, "meshfed-gateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := cs.AppsV1().Deployments("meshfed-system").Get(ctx, "meshfed-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sa := gw.Spec.Template.Spec.ServiceAccountName; sa != "meshfed-gateway" {
		t.Errorf("gateway runs as %q", sa)
	}
	if sa := agent.Spec.Template.Spec.ServiceAccountName; sa != "meshfed-agent" {
		t.Errorf("agent runs as %q", sa)
	}
	if img := agent.Spec.Template.Spec.Containers[0].Image; img != deploy.DefaultImage {
		t.Errorf("agent image %q, want %q", img, deploy.DefaultImage)
	}
	if *agent.Spec.Replicas != 2 || *gw.Spec.Replicas != 1 {
		t.Errorf("replicas: agent %d, gateway %d; want 2, 1", *agent.Spec.Replicas, *gw.Spec.Replicas)
	}
	cm, err := cs.CoreV1().ConfigMaps("meshfed-system").Get(ctx, "meshfed-gateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := cm.Data["gateway.yaml"]; !strings.Contains(c, `cluster: "east"`) || !strings.Contains(c, `address: "controlplane.example.com:15012"`) {
		t.Errorf("gateway.yaml:\n%s", c)
	}
	cp, err := cs.CoreV1().ConfigMaps("meshfed-system").Get(ctx, "meshfed-controlplane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if caPEM, _ := os.ReadFile(f.foreignBundle); cp.Data["ca.pem"] != string(caPEM) {
		t.Errorf("meshfed-controlplane ca.pem is not the control plane's CA")
	}
	for name, want := range map[string]corev1.ServiceType{"meshfed-gateway": corev1.ServiceTypeClusterIP, "meshfed-gateway-inbound": corev1.ServiceTypeLoadBalancer} {
		svc, err := cs.CoreV1().Services("meshfed-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != want || svc.Spec.Selector["app.kubernetes.io/name"] != "meshfed-gateway" {
			t.Errorf("service %s: type %s, selector %v", name, svc.Spec.Type, svc.Spec.Selector)
		}
	}

	// 5.
	agentSA, gatewaySA := "system:serviceaccount:meshfed-system:meshfed-agent", "system:serviceaccount:meshfed-system:meshfed-gateway"
	for _, c := range []struct {
		user  string
		attr  authorizationv1.ResourceAttributes
		allow bool
	}{
		{agentSA, mcs("shop", "update", "serviceexports", "status"), true},
		{agentSA, mcs("shop", "update", "serviceexports", ""), true}, // finalizers
		{agentSA, mcs("", "watch", "serviceexports", ""), true},
		{agentSA, mcs("shop", "delete", "serviceexports", ""), false},
		{agentSA, mcs("shop", "create", "serviceimports", ""), true},
		{agentSA, core("shop", "create", "services", ""), true},
		{agentSA, authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "delete", Group: "discovery.k8s.io", Resource: "endpointslices"}, true},
		{agentSA, core("", "list", "namespaces", ""), true},
		{agentSA, core("", "create", "namespaces", ""), false},
		{agentSA, core("", "get", "secrets", ""), false},
		{agentSA, core("meshfed-system", "get", "secrets", ""), false},
		{agentSA, core("", "list", "pods", ""), false},
		{agentSA, lease("meshfed-system", "update", "meshfed-agent"), true},
		{agentSA, lease("meshfed-system", "create", ""), true},
		{agentSA, lease("meshfed-system", "update", "someone-else"), false},
		{agentSA, lease("kube-system", "get", "meshfed-agent"), false},
		{agentSA, authorizationv1.ResourceAttributes{Verb: "update", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, false},
		{gatewaySA, mcs("", "watch", "serviceimports", ""), true},
		{gatewaySA, mcs("shop", "update", "serviceimports", ""), false},
		{gatewaySA, core("", "list", "services", ""), false},
		{gatewaySA, core("meshfed-system", "get", "secrets", ""), false},
	} {
		if got := allowed(t, cs, c.user, c.attr); got != c.allow {
			t.Errorf("%s may %s %s/%s %s in %q: %v, want %v", c.user, c.attr.Verb, c.attr.Resource, c.attr.Subresource, c.attr.Name, c.attr.Namespace, got, c.allow)
		}
	}

	// 6.
	code, out, errOut = install(t, "--set", "gateway.replicas=3", "--set", "agent.createNamespaces=true")
	if code != 0 {
		t.Fatalf("install with --set: exit %d\n%s%s", code, out, errOut)
	}
	changed := map[string]bool{}
	for obj, res := range results(t, out) {
		if res != "unchanged" {
			changed[obj+" "+res] = true
		}
	}
	want := map[string]bool{"deployment/meshfed-gateway configured": true, "deployment/meshfed-agent configured": true, "clusterrole/meshfed-agent configured": true}
	if !mapsEqual(changed, want) {
		t.Errorf("install with --set changed %v, want %v", changed, want)
	}
	if gw, _ = cs.AppsV1().Deployments("meshfed-system").Get(ctx, "meshfed-gateway", metav1.GetOptions{}); *gw.Spec.Replicas != 3 {
		t.Errorf("gateway replicas %d, want 3", *gw.Spec.Replicas)
	}
	if !allowed(t, cs, agentSA, core("", "create", "namespaces", "")) {
		t.Error("agent.createNamespaces: the agent may not create namespaces")
	}

	// 7.
	patch := []byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"serviceexports.multicluster.x-k8s.io","labels":{"multicluster.x-k8s.io/release-version":"v9.9.9"}}}`)
	force := true
	if _, err := dyn.Resource(crdGVR).Patch(ctx, "serviceexports.multicluster.x-k8s.io", types.ApplyPatchType, patch, metav1.PatchOptions{FieldManager: "other-mcs", Force: &force}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = install(t)
	if code != 1 || !strings.Contains(errOut, "customresourcedefinition/serviceexports.multicluster.x-k8s.io") || !strings.Contains(errOut, "--force-conflicts") {
		t.Fatalf("install over another manager's CRD field: exit %d, want 1 with an error naming the CRD and --force-conflicts\n%s%s", code, out, errOut)
	}
	code, out, errOut = install(t, "--force-conflicts")
	if code != 0 || results(t, out)["customresourcedefinition/serviceexports.multicluster.x-k8s.io"] != "configured" {
		t.Fatalf("install --force-conflicts: exit %d\n%s%s", code, out, errOut)
	}
	crd, err := dyn.Resource(crdGVR).Get(ctx, "serviceexports.multicluster.x-k8s.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := crd.GetLabels()["multicluster.x-k8s.io/release-version"]; v != kubetest.MCSVersion {
		t.Errorf("CRD release label %q after --force-conflicts, want %q", v, kubetest.MCSVersion)
	}

	// 8. A ServiceExport the agent had finalized must not be left
	// undeletable once the agent is gone.
	seGVR := schema.GroupVersionResource{Group: "multicluster.x-k8s.io", Version: "v1beta1", Resource: "serviceexports"}
	se := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
		"metadata": map[string]any{"name": "cart", "namespace": "default", "finalizers": []any{mcsapi.Finalizer, "example.com/other"}},
	}}
	if _, err := dyn.Resource(seGVR).Namespace("default").Create(ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = meshfed(t, "install", "--uninstall", "--kubeconfig", kube.Kubeconfig())
	t.Logf("meshfed install --uninstall: exit %d\n%s%s", code, out, errOut)
	if !strings.Contains(out, "released 1 ServiceExport(s) from the finalizer "+mcsapi.Finalizer) {
		t.Errorf("uninstall did not report releasing the ServiceExport:\n%s", out)
	}
	if got, err := dyn.Resource(seGVR).Namespace("default").Get(ctx, "cart", metav1.GetOptions{}); err != nil || !slices.Equal(got.GetFinalizers(), []string{"example.com/other"}) {
		t.Errorf("ServiceExport finalizers after uninstall: %v (%v), want only example.com/other", got.GetFinalizers(), err)
	}
	if code != 0 || strings.Count(out, " deleted\n") != 14 {
		t.Fatalf("uninstall: exit %d, want 0 and 14 objects deleted\n%s%s", code, out, errOut)
	}
	if _, err := cs.AppsV1().Deployments("meshfed-system").Get(ctx, "meshfed-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("agent Deployment after uninstall: %v, want NotFound", err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, "meshfed-agent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("agent ClusterRole after uninstall: %v, want NotFound", err)
	}
	if _, err := cs.CoreV1().Secrets("meshfed-system").Get(ctx, "meshfed-agent-identity", metav1.GetOptions{}); err != nil {
		t.Errorf("identity Secret after uninstall: %v, want kept", err)
	}
	if _, err := dyn.Resource(crdGVR).Get(ctx, "serviceimports.multicluster.x-k8s.io", metav1.GetOptions{}); err != nil {
		t.Errorf("CRD after uninstall: %v, want kept", err)
	}
	code, out, _ = meshfed(t, "install", "--uninstall", "--kubeconfig", kube.Kubeconfig())
	if code != 0 || strings.Count(out, " not found\n") != 14 {
		t.Errorf("second uninstall: exit %d, want 0 and 14 not found\n%s", code, out)
	}
}

// allowed asks the API server's authorizer (RBAC) whether user may do attr.
func allowed(t *testing.T, cs kubernetes.Interface, user string, attr authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{"system:serviceaccounts", "system:authenticated"}, ResourceAttributes: &attr,
	}}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status.Allowed
}

func mcs(ns, verb, resource, sub string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: "multicluster.x-k8s.io", Resource: resource, Subresource: sub}
}

func core(ns, verb, resource, name string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource, Name: name}
}

func lease(ns, verb, name string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: "coordination.k8s.io", Resource: "leases", Name: name}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestInstallDryRun prints the objects without a cluster: they are
// deploy.Objects for the flags, with the identity Secrets.
func TestInstallDryRun(t *testing.T) {
	f := writeFiles(t)
	args := append([]string{"install", "--dry-run", "--cluster", "east", "--namespace", "mesh",
		"--controlplane-config", f.cpConfig, "--controlplane-address", "10.1.2.3:15012",
		"--kubeconfig", filepath.Join(t.TempDir(), "none"), "--set", "gateway.service.type=NodePort"}, f.identityArgs()...)
	code, out, errOut := meshfed(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var kinds []string
	for _, doc := range strings.Split(strings.TrimPrefix(out, "---\n"), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, u.GetKind()+"/"+u.GetName())
		if u.GetKind() == "Service" && u.GetName() == "meshfed-gateway-inbound" {
			if typ, _, _ := unstructured.NestedString(u.Object, "spec", "type"); typ != "NodePort" {
				t.Errorf("inbound Service type %q, want NodePort", typ)
			}
		}
		if u.GetKind() != "Namespace" && u.GetKind() != "CustomResourceDefinition" && !slices.Contains([]string{"", "mesh"}, u.GetNamespace()) {
			t.Errorf("%s/%s in namespace %q, want mesh", u.GetKind(), u.GetName(), u.GetNamespace())
		}
	}
	if len(kinds) != 19 || kinds[0] != "Namespace/mesh" || !slices.Contains(kinds, "Secret/meshfed-agent-identity") {
		t.Errorf("dry run printed %v", kinds)
	}
	if !strings.Contains(errOut, "private keys") {
		t.Errorf("no note about private keys on stderr: %q", errOut)
	}
	if strings.Contains(errOut, "loopback") {
		t.Errorf("warned about a loopback address that --controlplane-address replaced: %q", errOut)
	}
	code, out, _ = meshfed(t, "install", "--dry-run", "-o", "json", "--cluster", "east", "--controlplane-config", f.cpConfig)
	if code != 0 || !strings.HasPrefix(out, "{") || !strings.Contains(out, `"kind": "List"`) {
		t.Errorf("-o json: exit %d\n%.200s", code, out)
	}
}

// TestInstallRefusesBadInput checks that bad input stops install before it
// reaches a cluster (the kubeconfig does not exist), naming what is wrong.
func TestInstallRefusesBadInput(t *testing.T) {
	f := writeFiles(t)
	dir := t.TempDir()
	noKube := filepath.Join(dir, "no-kubeconfig")
	badValues := filepath.Join(dir, "bad-values.yaml")
	if err := os.WriteFile(badValues, []byte("gateway:\n  replica: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"install", "--kubeconfig", noKube, "--controlplane-config", f.cpConfig}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no cluster", nil, 2, "--cluster is required"},
		{"bad cluster", []string{"--cluster", "East"}, 1, `cluster "East"`},
		{"bad namespace", []string{"--cluster", "east", "-n", "a_b"}, 1, `namespace "a_b"`},
		{"unknown --set key", []string{"--cluster", "east", "--set", "gateway.replica=2"}, 2, `"gateway.replica"`},
		{"unknown values key", []string{"--cluster", "east", "-f", badValues}, 1, "replica"},
		{"bad address", []string{"--cluster", "east", "--controlplane-address", "nohost"}, 1, "controlPlane.address"},
		{"missing control plane config", []string{"--cluster", "east", "--controlplane-config", filepath.Join(dir, "none.yaml")}, 1, "--controlplane-config"},
		{"gateway cert without key", []string{"--cluster", "east", "--gateway-cert", f.gwCert}, 2, "go together"},
		{"another cluster's gateway", []string{"--cluster", "east", "--gateway-cert", f.otherCert, "--gateway-key", f.otherKey, "--gateway-bundle", f.gwBundle}, 1, "/meshfed/gateway/east/gw"},
		{"key of another cert", []string{"--cluster", "east", "--gateway-cert", f.gwCert, "--gateway-key", f.agKey, "--gateway-bundle", f.gwBundle}, 1, "--gateway-cert"},
		{"bundle of another trust domain", []string{"--cluster", "east", "--gateway-cert", f.gwCert, "--gateway-key", f.gwKey, "--gateway-bundle", f.foreignBundle}, 1, "does not chain"},
		{"agent SVID for the gateway", []string{"--cluster", "east", "--agent-cert", f.gwCert, "--agent-key", f.gwKey}, 1, "/meshfed/gateway/east/agent"},
		{"dry run and uninstall", []string{"--uninstall", "--dry-run"}, 2, "--dry-run"},
		{"no kubeconfig", []string{"--cluster", "east"}, 1, "kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := meshfed(t, append(base, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d naming %s\nstdout: %s", code, errOut, tc.code, tc.want, out)
			}
		})
	}
}
