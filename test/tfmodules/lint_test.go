package tfmodules_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/test/tfmodules"
)

var lineNumber = regexp.MustCompile(`:[0-9]+: `)

func modulesDir(t *testing.T) string {
	t.Helper()
	dir, err := tfmodules.ModulesDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestModulesLint checks every module and example offline: typed and
// described variables, described outputs, exactly and consistently pinned
// providers, module calls and examples that pass only declared variables
// and every required one, sensitive secrets, validation messages naming
// the bad value, the cloud modules' shared variables declared alike.
func TestModulesLint(t *testing.T) {
	t.Parallel()
	problems, err := tfmodules.Lint(modulesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestModulesExpected pins the set of modules and their examples, so that a
// module dropped by mistake (and with it its checks) fails here.
func TestModulesExpected(t *testing.T) {
	t.Parallel()
	root := modulesDir(t)
	dirs, err := tfmodules.List(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dirs {
		got = append(got, filepath.Base(d))
	}
	want := []string{"aws", "azure", "chart-values", "controlplane", "gcp", "install", "register"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("modules under %s: got %v, want %v", root, got, want)
	}
}

// TestLintFindsProblems runs Lint on a broken copy of the modules: every
// rule must report what was broken, and nothing else.
func TestLintFindsProblems(t *testing.T) {
	t.Parallel()
	root := copyModules(t, modulesDir(t))
	edit := func(rel, old, new string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s does not contain %q", rel, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A variable without description, one without type, a secret that is
	// not sensitive, a validation message that hides the value.
	edit("register/variables.tf", `description = "Labels of the cluster in the control plane`, `# description = "Labels of the cluster in the control plane`)
	edit("register/variables.tf", "  type        = list(string)\n", "")
	edit("controlplane/variables.tf", "  sensitive   = true\n  description = \"The admin bearer token", "  description = \"The admin bearer token")
	edit("controlplane/variables.tf", `error_message = "log_level \"${var.log_level}\" is not`, `error_message = "log_level is not`)
	// An output without description.
	edit("install/outputs.tf", `description = "Name of the Helm release."`, ``)
	// A provider pinned loosely, and one pinned differently elsewhere.
	edit("install/versions.tf", `version = "= 2.17.0"`, `version = ">= 2.17.0"`)
	edit("controlplane/versions.tf", `version = "= 2.38.0"`, `version = "= 2.37.1"`)
	// A module block passing an unknown variable and missing a required one.
	edit("aws/main.tf", "  trust_bundle      = var.trust_bundle\n", "  trust_bundl       = var.trust_bundle\n")
	edit("gcp/main.tf", "  cluster_name      = var.cluster_name\n  trust_domain", "  trust_domain")
	// An example that sets a variable its module lacks.
	edit("azure/examples/aks/main.tf", "  internal_load_balancer = false\n", "  internal_lb = false\n")
	// Shared cloud variables declared differently.
	edit("gcp/variables.tf", `description = "Create the namespace. Set to false`, `description = "Create the namespace, or not. Set to false`)
	// References to a variable, a local, a module output (through a splat)
	// and a resource that do not exist.
	edit("aws/main.tf", "${var.namespace}:${local.gateway_service_account}", "${var.namespac}:${local.gateway_service_acount}")
	edit("gcp/outputs.tf", "one(module.install[*].namespace)", "one(module.install[*].namespce)")
	edit("azure/main.tf", "azurerm_user_assigned_identity.plugin[0].id", "azurerm_user_assigned_identity.plugins[0].id")
	// Provider configuration inside a module.
	edit("register/main.tf", "resource \"meshfed_trust_domain\"", "provider \"meshfed\" {}\n\nresource \"meshfed_trust_domain\"")

	problems, err := tfmodules.Lint(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`register/variables.tf: variable "labels" has no description`,
		`register/variables.tf: variable "gateway_addresses" has no type`,
		`controlplane/variables.tf: variable "admin_token" holds a secret but is not sensitive = true`,
		// (and, no longer sensitive, its message should now name it)
		`controlplane/variables.tf: validation of variable "admin_token" does not name the bad value: refer to var.admin_token in error_message`,
		`controlplane/variables.tf: validation of variable "log_level" does not name the bad value: refer to var.log_level in error_message`,
		`install/outputs.tf: output "release_name" has no description`,
		`install: module requires provider "helm" with version ">= 2.17.0": pin one exact version ("= X.Y.Z")`,
		`provider hashicorp/kubernetes is pinned to different versions: "= 2.37.1" in controlplane; "= 2.38.0" in aws, aws/examples/eks, azure, azure/examples/aks, controlplane/examples/external-etcd, gcp, gcp/examples/gke, install, install/examples/any-cluster`,
		`aws/main.tf: module "register" sets "trust_bundl", which register does not declare`,
		`gcp/main.tf: module "register" does not set "cluster_name", which register requires`,
		`azure/examples/aks/main.tf: module "meshfed_north" sets "internal_lb", which azure does not declare`,
		`gcp/variables.tf: variable "create_namespace" is declared differently in aws and gcp (description): the cloud modules' shared variables must be identical`,
		`aws/main.tf: module refers to var.namespac, which is not declared`,
		`aws/main.tf: module refers to local.gateway_service_acount, which is not declared`,
		`gcp/outputs.tf: module refers to module.install.namespce, which is not declared`,
		`azure/main.tf: module refers to azurerm_user_assigned_identity.plugins, which is not declared`,
		`register: module configures provider "meshfed": leave provider configuration to the caller (a module with provider blocks cannot take count or for_each)`,
	}
	// Line numbers left out, so that editing a module does not break this.
	got := map[string]bool{}
	for _, p := range problems {
		got[lineNumber.ReplaceAllString(p, ": ")] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing problem %s", w)
		}
		delete(got, w)
	}
	for p := range got {
		t.Errorf("unexpected problem %s", p)
	}
}

// copyModules copies the .tf and README.md files of the modules tree into
// a temporary directory and returns its copy of modules/.
func copyModules(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "modules")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != src {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		if !strings.HasSuffix(p, ".tf") && d.Name() != "README.md" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
