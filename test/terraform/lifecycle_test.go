package terraform_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if providerBuild.dir != "" {
		_ = os.RemoveAll(providerBuild.dir)
	}
	if code == 0 {
		if err := goleak.Find(etcdtest.IgnoreGoroutines()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// caPEM writes the PEM certificate of a new dev CA for td to path.
func caPEM(t *testing.T, td, path string) {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lifecycleConfig manages one of each resource. The bundle file is read
// with file() relative to the working directory.
const lifecycleConfig = `
provider "meshfed" {
  config_path = %q
}

resource "meshfed_trust_domain" "eu" {
  trust_domain = "eu-1.example.org"
  bundle       = file("eu-1-ca.pem")
}

resource "meshfed_trust_domain" "us" {
  trust_domain = "us-1.example.org"
  bundle_file  = "us-1-ca.pem"
}

resource "meshfed_trust_domain" "partner" {
  trust_domain = "partner.example"
  bundle_endpoint = {
    url     = "https://127.0.0.1:1/bundle"
    profile = "https_web"
  }
}

resource "meshfed_cluster" "eu" {
  name         = "eu-1"
  trust_domain = meshfed_trust_domain.eu.trust_domain
  locality = {
    provider = "aws"
    region   = "eu-west-1"
    zone     = "eu-west-1a"
  }
  labels            = { env = "prod" }
  gateway_addresses = ["10.0.0.1:15443"]
}

resource "meshfed_failover_policy" "api" {
  namespace = "demo"
  name      = "api"
  targets = [
    { region = "eu-west-1" },
    { cluster = meshfed_cluster.eu.name },
    { labels = { tier = "gold" } },
  ]
  never                = ["lab-1"]
  weights              = { "eu-1" = 3 }
  max_shift_per_second = 0.2
}

resource "meshfed_authorization_policy" "api" {
  namespace = "demo"
  name      = "api"
  allow = [
    { trust_domain = meshfed_trust_domain.eu.trust_domain },
    { spiffe_id = "spiffe://partner.example/ns/*" },
  ]
}
`

var lifecycleResources = []string{
	"meshfed_authorization_policy.api",
	"meshfed_cluster.eu",
	"meshfed_failover_policy.api",
	"meshfed_trust_domain.eu",
	"meshfed_trust_domain.partner",
	"meshfed_trust_domain.us",
}

func wantActions(t *testing.T, step string, p *jsonPlan, want map[string]string) {
	t.Helper()
	got := p.actions()
	for addr, a := range want {
		if got[addr] != a {
			t.Errorf("%s: %s planned %q, want %q (all: %v)", step, addr, got[addr], a, got)
		}
	}
}

func allActions(action string) map[string]string {
	m := map[string]string{}
	for _, r := range lifecycleResources {
		m[r] = action
	}
	return m
}

// TestLifecycle takes every resource through plan, apply, a clean plan,
// changes made with the meshfed CLI (drift), apply, import into a fresh
// state, destroy, and a plan after the objects are gone.
func TestLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform against a control plane")
	}
	t.Parallel()
	cp := controlplanetest.Start(t, controlplane.Config{})
	admin := cp.Dial(t).Admin
	ctx := context.Background()

	w := newWorkdir(t)
	caPEM(t, "eu-1.example.org", filepath.Join(w.dir, "eu-1-ca.pem"))
	caPEM(t, "us-1.example.org", filepath.Join(w.dir, "us-1-ca.pem"))
	config := header + fmt.Sprintf(lifecycleConfig, cp.ConfigPath)
	w.write("main.tf", config)

	// 1. Plan: everything is created.
	code, p, _ := w.plan()
	if code != 2 {
		t.Fatalf("1. first plan exited %d, want 2 (changes)", code)
	}
	wantActions(t, "1. plan", p, allActions("create"))

	// 2. Apply the plan; the control plane holds what the configuration says.
	w.mustRun("apply", "-no-color", "-input=false", "tfplan")
	c, err := admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: "eu-1"})
	if err != nil {
		t.Fatalf("2. cluster after apply: %v", err)
	}
	if l := c.GetCluster().GetLocality(); l.GetRegion() != "eu-west-1" || l.GetZone() != "eu-west-1a" || c.GetCluster().GetLabels()["env"] != "prod" {
		t.Errorf("2. cluster after apply = %v", c.GetCluster())
	}
	b, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "eu-1.example.org"})
	if err != nil || b.GetBundle().GetSequence() != 1 || b.GetBundle().GetSource() != "admin" {
		t.Errorf("2. bundle after apply = %v, %v; want sequence 1 written by admin", b.GetBundle(), err)
	}
	fp := policyDoc[schema.FailoverPolicy](t, admin, schema.PolicyFailover)
	if len(fp.Targets) != 3 || fp.Targets[1].Cluster != "eu-1" || fp.Weights["eu-1"] != 3 || fp.MaxShiftPerSecond != 0.2 || fp.Never[0] != "lab-1" {
		t.Errorf("2. failover document after apply = %+v", fp)
	}
	ap := policyDoc[schema.AuthorizationPolicy](t, admin, schema.PolicyAuthorization)
	if len(ap.Allow) != 2 || ap.Allow[0].TrustDomain != "eu-1.example.org" || ap.Allow[1].SPIFFEID != "spiffe://partner.example/ns/*" {
		t.Errorf("2. authorization document after apply = %+v", ap)
	}
	if e := endpoint(t, admin, "partner.example"); e == nil || e.GetUrl() != "https://127.0.0.1:1/bundle" {
		t.Errorf("2. partner endpoint after apply = %v", e)
	}

	// 3. Plan again: no changes.
	if code, p, out := w.plan(); code != 0 {
		t.Fatalf("3. plan after apply exited %d, want 0 (no changes); changes %v\n%s", code, p.actions(), out)
	}

	// 4. Change every object with the CLI, as an operator would.
	dir := t.TempDir()
	meshfed(t, cp.ConfigPath, "", "cluster", "remove", "eu-1")
	meshfed(t, cp.ConfigPath, "", "cluster", "add", "eu-1", "--trust-domain", "eu-1.example.org",
		"--provider", "aws", "--region", "eu-west-2", "--zone", "eu-west-2a", "--label", "env=staging",
		"--gateway-address", "10.0.0.1:15443")
	otherCA := filepath.Join(dir, "other-ca.pem")
	caPEM(t, "eu-1.example.org", otherCA)
	meshfed(t, cp.ConfigPath, "", "trust", "set", "eu-1.example.org", "--bundle", otherCA, "--sequence", "4")
	meshfed(t, cp.ConfigPath, "", "trust", "endpoint", "partner.example", "--url", "https://127.0.0.1:2/bundle", "--profile", "https_web")
	meshfed(t, cp.ConfigPath, "targets:\n- region: eu-west-1\nnever: [lab-1, lab-2]\nmax_shift_per_second: 0.5\n",
		"policy", "put", "demo/api", "--kind", "failover", "-f", "-")
	meshfed(t, cp.ConfigPath, `{"allow":[{"cluster":"eu-1"}]}`, "policy", "put", "demo/api", "--kind", "authorization", "-f", "-")

	// The CA of us-1 rotates: its bundle file changes, which only the
	// provider, reading the file at plan time, can notice.
	caPEM(t, "us-1.example.org", filepath.Join(w.dir, "us-1-ca.pem"))

	// 5. Plan: the drift is shown, attribute by attribute, and reverted.
	code, p, human := w.plan()
	if code != 2 {
		t.Fatalf("5. plan after CLI changes exited %d, want 2\n%s", code, human)
	}
	wantActions(t, "5. plan", p, allActions("update"))
	for _, d := range []struct {
		address, attr string
		drifted, want any
	}{
		{"meshfed_cluster.eu", "locality.region", "eu-west-2", "eu-west-1"},
		{"meshfed_cluster.eu", "locality.zone", "eu-west-2a", "eu-west-1a"},
		{"meshfed_cluster.eu", "labels.env", "staging", "prod"},
		{"meshfed_trust_domain.eu", "sequence", 4.0, nil}, // known after apply
		{"meshfed_trust_domain.partner", "bundle_endpoint.url", "https://127.0.0.1:2/bundle", "https://127.0.0.1:1/bundle"},
		{"meshfed_failover_policy.api", "max_shift_per_second", 0.5, 0.2},
		{"meshfed_failover_policy.api", "targets.1.cluster", nil, "eu-1"},
		{"meshfed_authorization_policy.api", "allow.0.cluster", "eu-1", nil},
		{"meshfed_authorization_policy.api", "allow.0.trust_domain", nil, "eu-1.example.org"},
	} {
		drift := p.drift(d.address)
		if drift == nil {
			t.Errorf("5. %s: no resource_drift entry", d.address)
			continue
		}
		if got := attr(drift.Change.After, d.attr); fmt.Sprint(got) != fmt.Sprint(d.drifted) {
			t.Errorf("5. %s.%s drifted to %v, want %v", d.address, d.attr, got, d.drifted)
		}
		change := p.change(d.address)
		if got := attr(change.Change.Before, d.attr); fmt.Sprint(got) != fmt.Sprint(d.drifted) {
			t.Errorf("5. %s.%s planned from %v, want %v", d.address, d.attr, got, d.drifted)
		}
		if got := attr(change.Change.After, d.attr); fmt.Sprint(got) != fmt.Sprint(d.want) {
			t.Errorf("5. %s.%s planned to %v, want %v", d.address, d.attr, got, d.want)
		}
	}
	// Terraform shows the drift it is about to undo as the update itself.
	for _, s := range []string{
		`~ region   = "eu-west-2" -> "eu-west-1"`,
		`~ "env" = "staging" -> "prod"`,
		`~ max_shift_per_second = 0.5 -> 0.2`,
		`~ url     = "https://127.0.0.1:2/bundle" -> "https://127.0.0.1:1/bundle"`,
		`- cluster      = "eu-1" -> null`,
		`~ sequence     = 4 -> (known after apply)`,
	} {
		if !strings.Contains(human, s) {
			t.Errorf("5. the plan output does not contain %q:\n%s", s, human)
		}
	}

	// 6. Apply: Terraform's values are back; the bundle is rewritten above
	// the CLI's sequence, so it is not refused as a rollback.
	w.mustRun("apply", "-no-color", "-input=false", "tfplan")
	if code, p, out := w.plan(); code != 0 {
		t.Fatalf("6. plan after reverting the drift exited %d; changes %v\n%s", code, p.actions(), out)
	}
	b, err = admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "eu-1.example.org"})
	if err != nil || b.GetBundle().GetSequence() != 5 {
		t.Errorf("6. bundle after reverting = %v, %v; want sequence 5", b.GetBundle(), err)
	}
	if e := endpoint(t, admin, "partner.example"); e.GetUrl() != "https://127.0.0.1:1/bundle" {
		t.Errorf("6. partner endpoint after reverting = %v", e)
	}
	us, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "us-1.example.org"})
	if err != nil || us.GetBundle().GetSequence() != 2 || !sameCA(t, us.GetBundle().GetJwks(), filepath.Join(w.dir, "us-1-ca.pem")) {
		t.Errorf("6. us-1 bundle after the file changed = %v, %v; want the new CA at sequence 2", us.GetBundle(), err)
	}

	// 7. Import everything into a fresh state: only bundle and
	// bundle_file, which the control plane cannot give back as written,
	// are planned (added to state without writing anything).
	imp := newWorkdir(t)
	copyFile(t, filepath.Join(w.dir, "eu-1-ca.pem"), filepath.Join(imp.dir, "eu-1-ca.pem"))
	copyFile(t, filepath.Join(w.dir, "us-1-ca.pem"), filepath.Join(imp.dir, "us-1-ca.pem"))
	imp.write("main.tf", config)
	for addr, id := range map[string]string{
		"meshfed_cluster.eu":               "eu-1",
		"meshfed_trust_domain.eu":          "eu-1.example.org",
		"meshfed_trust_domain.partner":     "partner.example",
		"meshfed_trust_domain.us":          "us-1.example.org",
		"meshfed_failover_policy.api":      "demo/api",
		"meshfed_authorization_policy.api": "demo/api",
	} {
		imp.mustRun("import", "-no-color", "-input=false", addr, id)
	}
	code, p, out := imp.plan()
	if code != 2 {
		t.Fatalf("7. plan after import exited %d, want 2 (bundle only)\n%s", code, out)
	}
	want := allActions("no-op")
	want["meshfed_trust_domain.eu"], want["meshfed_trust_domain.us"] = "update", "update"
	wantActions(t, "7. plan after import", p, want)
	for addr, only := range map[string]string{"meshfed_trust_domain.eu": "bundle", "meshfed_trust_domain.us": "bundle_file"} {
		c := p.change(addr)
		if c == nil {
			continue
		}
		for k, before := range c.Change.Before {
			if after := c.Change.After[k]; k != only && fmt.Sprint(before) != fmt.Sprint(after) {
				t.Errorf("7. imported %s: %s planned %v -> %v; only %s may change", addr, k, before, after, only)
			}
		}
	}
	imp.mustRun("apply", "-no-color", "-input=false", "tfplan")
	b2, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "eu-1.example.org"})
	if err != nil || b2.GetBundle().GetSequence() != 5 {
		t.Errorf("7. apply after import rewrote the bundle: %v, %v", b2.GetBundle(), err)
	}
	if code, p, out := imp.plan(); code != 0 {
		t.Fatalf("7. second plan after import exited %d; changes %v\n%s", code, p.actions(), out)
	}

	// 8. Destroy from the imported state: everything is gone.
	imp.mustRun("destroy", "-auto-approve", "-no-color", "-input=false")
	if _, err := admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: "eu-1"}); status.Code(err) != codes.NotFound {
		t.Errorf("8. cluster after destroy: %v, want NotFound", err)
	}
	for _, kind := range []string{schema.PolicyFailover, schema.PolicyAuthorization} {
		if _, err := admin.GetPolicy(ctx, &meshfedv1.GetPolicyRequest{Namespace: "demo", Name: "api", Kind: kind}); status.Code(err) != codes.NotFound {
			t.Errorf("8. %s policy after destroy: %v, want NotFound", kind, err)
		}
	}
	for _, td := range []string{"eu-1.example.org", "us-1.example.org", "partner.example"} {
		if _, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: td}); status.Code(err) != codes.NotFound {
			t.Errorf("8. bundle of %s after destroy: %v, want NotFound", td, err)
		}
		if e := endpoint(t, admin, td); e != nil {
			t.Errorf("8. endpoint of %s after destroy: %v", td, e)
		}
	}

	// 9. The first state still lists everything: its plan notices that it
	// is gone and creates it again.
	code, p, out = w.plan()
	if code != 2 {
		t.Fatalf("9. plan after the objects were deleted exited %d, want 2\n%s", code, out)
	}
	wantActions(t, "9. plan after deletion outside Terraform", p, allActions("create"))
}

// policyDoc reads the demo/api policy of kind and decodes its document.
func policyDoc[T any](t *testing.T, admin meshfedv1.AdminServiceClient, kind string) T {
	t.Helper()
	var doc T
	got, err := admin.GetPolicy(context.Background(), &meshfedv1.GetPolicyRequest{Namespace: "demo", Name: "api", Kind: kind})
	if err != nil {
		t.Fatalf("%s policy: %v", kind, err)
	}
	if err := json.Unmarshal(got.GetPolicy().GetDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// endpoint returns the bundle endpoint configured for td, or nil.
func endpoint(t *testing.T, admin meshfedv1.AdminServiceClient, td string) *meshfedv1.BundleEndpoint {
	t.Helper()
	got, err := admin.ListBundleEndpoints(context.Background(), &meshfedv1.ListBundleEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got.GetEndpoints() {
		if e.GetTrustDomain() == td {
			return e
		}
	}
	return nil
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sameCA reports whether a stored JWKS holds exactly the CA certificate
// in the PEM file.
func sameCA(t *testing.T, jwks []byte, pemFile string) bool {
	t.Helper()
	data, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	var doc struct {
		Keys []struct {
			X5C []string `json:"x5c"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatal(err)
	}
	return len(doc.Keys) == 1 && len(doc.Keys[0].X5C) == 1 && doc.Keys[0].X5C[0] == base64.StdEncoding.EncodeToString(block.Bytes)
}

// TestBootstrapBundle checks a bundle endpoint with profile https_spiffe
// and a bootstrap bundle: the bootstrap seeds a trust domain that has no
// bundle, and never replaces one the fetcher (or anybody) stored since.
func TestBootstrapBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform against a control plane")
	}
	t.Parallel()
	cp := controlplanetest.Start(t, controlplane.Config{})
	admin := cp.Dial(t).Admin
	ctx := context.Background()
	stored := func() *meshfedv1.Bundle {
		t.Helper()
		b, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "sp.example.org"})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return b.GetBundle()
	}

	w := newWorkdir(t)
	bootstrap := filepath.Join(w.dir, "bootstrap.pem")
	caPEM(t, "sp.example.org", bootstrap)
	w.write("main.tf", header+fmt.Sprintf(`
provider "meshfed" {
  config_path = %q
}

resource "meshfed_trust_domain" "sp" {
  trust_domain = "sp.example.org"
  bundle_file  = "bootstrap.pem"
  bundle_endpoint = {
    url                = "https://127.0.0.1:1/bundle"
    profile            = "https_spiffe"
    endpoint_spiffe_id = "spiffe://sp.example.org/spire/server"
  }
}
`, cp.ConfigPath))

	// 1. Apply: the endpoint is configured and the bootstrap bundle stored.
	w.mustRun("apply", "-auto-approve", "-no-color", "-input=false")
	if b := stored(); b == nil || !sameCA(t, b.GetJwks(), bootstrap) {
		t.Fatalf("1. bundle after apply = %v, want the bootstrap CA", b)
	}
	if e := endpoint(t, admin, "sp.example.org"); e.GetProfile() != "https_spiffe" || e.GetEndpointSpiffeId() != "spiffe://sp.example.org/spire/server" {
		t.Errorf("1. endpoint = %v", e)
	}

	// 2. A newer bundle arrives (as the fetcher would store it): it is not
	// drift, and the bootstrap does not replace it.
	rotated := filepath.Join(t.TempDir(), "rotated.pem")
	caPEM(t, "sp.example.org", rotated)
	meshfed(t, cp.ConfigPath, "", "trust", "set", "sp.example.org", "--bundle", rotated, "--sequence", "2")
	if code, p, out := w.plan(); code != 0 {
		t.Fatalf("2. plan after a new bundle arrived exited %d; changes %v\n%s", code, p.actions(), out)
	}

	// 3. With no bundle stored at all, the bootstrap seeds it again.
	meshfed(t, cp.ConfigPath, "", "trust", "delete", "sp.example.org")
	code, p, out := w.plan()
	if code != 2 || p.actions()["meshfed_trust_domain.sp"] != "update" {
		t.Fatalf("3. plan with no bundle stored exited %d, changes %v, want an update\n%s", code, p.actions(), out)
	}
	w.mustRun("apply", "-no-color", "-input=false", "tfplan")
	if b := stored(); b == nil || !sameCA(t, b.GetJwks(), bootstrap) {
		t.Errorf("3. bundle after apply = %v, want the bootstrap CA again", b)
	}
}
