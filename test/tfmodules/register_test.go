package tfmodules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Why the register module, and not a cloud module with its cloud parts
// turned off: Terraform installs every provider a configuration requires,
// whatever count says, and dev_overrides skip installation only for the
// overridden provider. A configuration calling the aws module needs
// hashicorp/aws, helm and kubernetes installed, which takes the registry.
// The cloud modules register their cluster by calling terraform/modules/
// register, so that is the HCL tested here for real; TestModulesLint checks
// that the cloud modules call it with variables it declares.

// TestRegisterModuleApply plans, applies, re-plans and destroys the
// register module's example with the real terraform and the meshfed
// provider built from this repository, against a real control plane, and
// checks what the control plane holds after each step.
func TestRegisterModuleApply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the provider and runs terraform; skipped with -short")
	}
	w := newWorkdir(t, "register/examples/onprem")
	cp := controlplanetest.Start(t, controlplane.Config{})
	admin := dialAdmin(t, cp.Config)
	ctx := context.Background()

	// The trust domain's bundle, as `meshfed ca init` writes it.
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("dc-1.example.org"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.WriteBundleJSON(bundle, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	vars := []string{"-var", "meshfed_config=" + cp.ConfigPath, "-var", "bundle_file=" + bundle}

	// 1. Install the local module (no registry involved) and validate.
	w.mustRun("get", "-no-color")
	w.mustRun("validate", "-no-color")

	// 2. Plan: the cluster and its trust domain are created, nothing else.
	code, plan := w.plan(vars...)
	if code != 2 {
		t.Fatalf("first plan exited %d, want 2 (changes)", code)
	}
	if got, want := plan.actions(), map[string]string{
		"module.dc_1.meshfed_cluster.this":         "create",
		"module.dc_1.meshfed_trust_domain.this[0]": "create",
	}; !sameMap(got, want) {
		t.Fatalf("planned %v, want %v", got, want)
	}

	// 3. Apply the plan; the control plane holds the cluster as declared.
	w.mustRun("apply", "-no-color", "-input=false", "tfplan")
	got, err := admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: "dc-1"})
	if err != nil {
		t.Fatalf("after apply, GetCluster dc-1: %v", err)
	}
	c := got.GetCluster()
	l := c.GetLocality()
	if c.GetTrustDomain() != "dc-1.example.org" || l.GetProvider() != "onprem" || l.GetRegion() != "fra" || l.GetZone() != "fra-2" ||
		c.GetLabels()["tier"] != "production" || len(c.GetLabels()) != 1 ||
		strings.Join(c.GetGatewayAddresses(), ",") != "gw.dc-1.example.org:15443" {
		t.Errorf("after apply, the control plane holds %v", c)
	}
	b, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "dc-1.example.org"})
	if err != nil {
		t.Fatalf("after apply, GetBundle dc-1.example.org: %v", err)
	}
	if b.GetBundle().GetSource() != "admin" {
		t.Errorf("bundle source %q, want admin", b.GetBundle().GetSource())
	}
	var out struct {
		Cluster struct {
			Value struct {
				Name        string `json:"name"`
				TrustDomain string `json:"trust_domain"`
				Locality    struct {
					Provider, Region, Zone string
				} `json:"locality"`
			} `json:"value"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(w.mustRun("output", "-json")), &out); err != nil {
		t.Fatal(err)
	}
	if v := out.Cluster.Value; v.Name != "dc-1" || v.TrustDomain != "dc-1.example.org" || v.Locality.Zone != "fra-2" {
		t.Errorf("output cluster = %+v", v)
	}

	// 4. Plan again: the control plane matches the configuration.
	if code, plan := w.plan(vars...); code != 0 {
		t.Errorf("plan after apply exited %d with %v, want 0 (no changes)", code, plan.actions())
	}

	// 5. Destroy: the cluster and the bundle are gone.
	w.mustRun(append([]string{"destroy", "-auto-approve", "-no-color", "-input=false"}, vars...)...)
	if _, err := admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: "dc-1"}); status.Code(err) != codes.NotFound {
		t.Errorf("after destroy, GetCluster dc-1: %v, want NotFound", err)
	}
	if _, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: "dc-1.example.org"}); status.Code(err) != codes.NotFound {
		t.Errorf("after destroy, GetBundle dc-1.example.org: %v, want NotFound", err)
	}
}

// TestRegisterModuleRefusesBadInput runs `terraform validate` on a call of
// the register module with one bad value per variable: each is refused by
// the module's validation, with the value named, before anything reaches
// the control plane.
func TestRegisterModuleRefusesBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the provider and runs terraform; skipped with -short")
	}
	w := newWorkdir(t, "register/examples/onprem")
	w.write("main.tf", `terraform {
  required_providers {
    meshfed = { source = "meshfed/meshfed" }
  }
}

provider "meshfed" {
  server    = "127.0.0.1:15012"
  ca_file   = "ca.pem"
  server_id = "spiffe://meshfed.local/meshfed/controlplane"
  token     = "unused"
}

module "bad" {
  source = "../.."

  cluster_name      = "Eu_1"
  trust_domain      = "spiffe://eu-1.example.org"
  locality          = { provider = "AWS", region = "eu-west-1" }
  labels            = { "tier" = "gold", "bad key" = "x" }
  gateway_addresses = ["gw.example.org:15443", "gw.example.org:99999", "no-port"]
  trust_bundle      = "not a bundle"
}
`)
	w.mustRun("get", "-no-color")
	code, stdout, stderr := w.run("validate", "-no-color")
	if code == 0 {
		t.Fatalf("terraform validate accepted bad values:\n%s", stdout)
	}
	msg := strings.Join(strings.Fields(stdout+stderr), " ") // terraform wraps lines
	for _, want := range []string{
		`cluster_name "Eu_1" is not a DNS-1123 label`,
		`trust_domain "spiffe://eu-1.example.org" is not a SPIFFE trust domain name`,
		`locality {provider = "AWS", region = "eu-west-1", zone = null} is not valid`,
		`labels {"bad key":"x"} are not valid`,
		`gateway_addresses ["gw.example.org:99999","no-port"] are not host:port addresses`,
		`trust_bundle is neither a SPIFFE bundle document`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("terraform validate output lacks %q:\n%s", want, msg)
		}
	}
}

// TestRegisterModuleInitFromMirror installs the meshfed provider the way
// docs/terraform.md says a configuration that also needs registry
// providers must (a filesystem mirror holding it as version 0.1.0, since
// `terraform init` does not skip dev_overrides providers), and checks that
// `terraform init` resolves the modules' pin "= 0.1.0" from it.
func TestRegisterModuleInitFromMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the provider and runs terraform; skipped with -short")
	}
	mirror := t.TempDir()
	platform := runtime.GOOS + "_" + runtime.GOARCH
	pkg := filepath.Join(mirror, "registry.terraform.io", "meshfed", "meshfed", "0.1.0", platform)
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(providerDir(t), "terraform-provider-meshfed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "terraform-provider-meshfed_v0.1.0"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	w := newWorkdirWithCLIConfig(t, "register/examples/onprem", fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/meshfed/meshfed"]
  }
  direct {
    exclude = ["registry.terraform.io/meshfed/meshfed"]
  }
}
`, mirror))
	w.mustRun("init", "-no-color", "-input=false")
	lock, err := os.ReadFile(filepath.Join(w.dir, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lock), `provider "registry.terraform.io/meshfed/meshfed" {`) || !strings.Contains(string(lock), `version     = "0.1.0"`) {
		t.Errorf("terraform init did not lock meshfed/meshfed 0.1.0:\n%s", lock)
	}
	w.mustRun("validate", "-no-color")
}
