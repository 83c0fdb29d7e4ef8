package tfmodules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/test/tfmodules"
)

// TestREADMETables fails while a module's README.md tables differ from
// what its variables and outputs say; `go run ./test/tfmodules/gen`
// rewrites them.
func TestREADMETables(t *testing.T) {
	t.Parallel()
	dirs, err := tfmodules.List(modulesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := tfmodules.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tfmodules.ReplaceTables(string(readme), tfmodules.Tables(m))
			if err != nil {
				t.Fatal(err)
			}
			if want != string(readme) {
				t.Errorf("%s/README.md: the inputs/outputs tables are out of date: run `go run ./test/tfmodules/gen`", filepath.Base(dir))
			}
		})
	}
}

// TestTablesListEveryInput checks the generator itself on one module: every
// variable and output appears once, required ones marked, sensitive ones
// flagged, defaults shown as HCL-compatible JSON.
func TestTablesListEveryInput(t *testing.T) {
	t.Parallel()
	m, err := tfmodules.Load(filepath.Join(modulesDir(t), "install"))
	if err != nil {
		t.Fatal(err)
	}
	tables := tfmodules.Tables(m)
	inputs, outputs, ok := strings.Cut(tables, "## Outputs")
	if !ok {
		t.Fatalf("no outputs section:\n%s", tables)
	}
	for name := range m.Config.Variables {
		if n := strings.Count(inputs, "| `"+name+"` |"); n != 1 {
			t.Errorf("variable %q appears %d times in the inputs table", name, n)
		}
	}
	for name := range m.Config.Outputs {
		if n := strings.Count(outputs, "| `"+name+"` |"); n != 1 {
			t.Errorf("output %q appears %d times in the outputs table", name, n)
		}
	}
	for _, row := range []string{
		"| `cluster_name` | This cluster's name in the clusterset",
		"| `namespace` | Namespace of the gateway, the agent, their identity Secrets and the Helm release. | `string` | `\"meshfed-system\"` | no |",
		"| `gateway_inbound_port` | The east-west mTLS port, on the gateway pods and on the inbound Service (and so on its load balancer). | `number` | `15443` | no |",
		"(the key is then in the Terraform state). Null: the Secret is made some other way. (sensitive) | `object({ cert_pem = string, key_pem = string })` | `null` | no |",
		"| helm (`hashicorp/helm`) | `= 2.17.0` |",
	} {
		if !strings.Contains(tables, row) {
			t.Errorf("tables lack %q:\n%s", row, tables)
		}
	}
	// Required inputs come first.
	if strings.Index(tables, "| `cluster_name` |") > strings.Index(tables, "| `agent_identity` |") {
		t.Error("required input cluster_name is not listed before optional agent_identity")
	}
}
