package tfmodules_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/test/terraform"
)

// TestTerraformFmt runs `terraform fmt -check -recursive` on terraform/
// with the real terraform binary.
func TestTerraformFmt(t *testing.T) {
	t.Parallel()
	bin := terraform.Binary(t)
	dir := filepath.Dir(modulesDir(t))
	cmd := exec.Command(bin, "fmt", "-check", "-recursive", "-diff", "-no-color", dir)
	cmd.Env = terraformEnv(t, writeCLIConfig(t, ""))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("terraform fmt -check -recursive %s: %v: run `terraform fmt -recursive terraform/`\n%s%s", dir, err, out.String(), errOut.String())
	}
}

// writeCLIConfig writes a Terraform CLI config file with content and
// returns its path.
func writeCLIConfig(t *testing.T, content string) string {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(rc, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return rc
}

// terraformEnv is the environment terraform runs in: the CLI config rc,
// and nothing from the caller's TF_*, CHECKPOINT_* or MESHFED_* variables
// (TF_CLI_CONFIG_FILE is preset to a missing file on CI machines).
func terraformEnv(t *testing.T, rc string, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TF_") || strings.HasPrefix(k, "CHECKPOINT_") || strings.HasPrefix(k, "MESHFED_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	return append(env, extra...)
}
