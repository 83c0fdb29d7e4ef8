package tfmodules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/test/terraform"
)

// The harness runs the real terraform binary (test/terraform builds and
// caches it) in a copy of terraform/modules, with the meshfed provider
// built from this repository.

// workdir runs terraform in a copy of one configuration of the modules
// tree, with the meshfed provider built from source through dev_overrides.
type workdir struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

// newWorkdir copies terraform/modules into a temporary directory (so that
// relative module sources resolve and nothing is written into the
// repository) and returns a working directory at rel inside the copy,
// where terraform uses the meshfed provider built from source.
func newWorkdir(t *testing.T, rel string) *workdir {
	t.Helper()
	return newWorkdirWithCLIConfig(t, rel, fmt.Sprintf(`provider_installation {
  dev_overrides {
    "registry.terraform.io/meshfed/meshfed" = %q
  }
  direct {}
}
`, providerDir(t)))
}

// newWorkdirWithCLIConfig is newWorkdir with the given CLI config.
func newWorkdirWithCLIConfig(t *testing.T, rel, cliConfig string) *workdir {
	t.Helper()
	bin := terraform.Binary(t)
	root := copyModules(t, modulesDir(t))
	rc := writeCLIConfig(t, cliConfig)
	dir := filepath.Join(root, filepath.FromSlash(rel))
	home := t.TempDir()
	env := terraformEnv(t, rc, "TF_DATA_DIR="+filepath.Join(home, ".terraform"), "HOME="+home)
	return &workdir{t: t, bin: bin, dir: dir, env: env}
}

func (w *workdir) write(name, content string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// run runs terraform and returns its exit code and output; it fails the
// test only when terraform cannot be run.
func (w *workdir) run(args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	w.t.Logf("terraform %s: %s", args[0], time.Since(start).Round(time.Millisecond))
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		w.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return code, out.String(), errOut.String()
}

func (w *workdir) mustRun(args ...string) string {
	w.t.Helper()
	code, out, errOut := w.run(args...)
	if code != 0 {
		w.t.Fatalf("terraform %s exited %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// plan runs `terraform plan -detailed-exitcode -out=tfplan` and returns its
// exit code (0 no changes, 2 changes) and the plan as `terraform show
// -json` prints it.
func (w *workdir) plan(vars ...string) (int, *jsonPlan) {
	w.t.Helper()
	args := append([]string{"plan", "-detailed-exitcode", "-no-color", "-input=false", "-out=tfplan"}, vars...)
	code, out, errOut := w.run(args...)
	if code != 0 && code != 2 {
		w.t.Fatalf("terraform plan exited %d\n%s\n%s", code, out, errOut)
	}
	var p jsonPlan
	if err := json.Unmarshal([]byte(w.mustRun("show", "-json", "tfplan")), &p); err != nil {
		w.t.Fatalf("terraform show -json: %v", err)
	}
	return code, &p
}

// jsonPlan is the part of Terraform's JSON plan the tests read.
type jsonPlan struct {
	ResourceChanges []struct {
		Address string `json:"address"`
		Change  struct {
			Actions []string `json:"actions"`
		} `json:"change"`
	} `json:"resource_changes"`
}

// actions maps the address of every resource with a change to its actions.
func (p *jsonPlan) actions() map[string]string {
	out := map[string]string{}
	for _, c := range p.ResourceChanges {
		if a := strings.Join(c.Change.Actions, ","); a != "no-op" {
			out[c.Address] = a
		}
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// providerBuild is the provider built once per test binary.
var providerBuild struct {
	once sync.Once
	dir  string
	err  error
}

// providerDir builds terraform-provider-meshfed once per test binary into
// a temporary directory and returns the directory.
func providerDir(t *testing.T) string {
	t.Helper()
	providerBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "meshfed-tfmodules-provider-")
		if err != nil {
			providerBuild.err = err
			return
		}
		providerBuild.dir = dir
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "terraform-provider-meshfed"), "github.com/meshfed/meshfed/cmd/terraform-provider-meshfed")
		if out, err := cmd.CombinedOutput(); err != nil {
			providerBuild.err = fmt.Errorf("go build terraform-provider-meshfed: %w\n%s", err, out)
		}
	})
	if providerBuild.err != nil {
		t.Fatal(providerBuild.err)
	}
	return providerBuild.dir
}

func dialAdmin(t *testing.T, cfg *client.Config) meshfedv1.AdminServiceClient {
	t.Helper()
	conn, err := client.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn.Admin
}
