package terraform_test

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

	"github.com/meshfed/meshfed/internal/cli"
	"github.com/meshfed/meshfed/test/terraform"
)

// The harness runs the real terraform binary on a configuration in a
// temporary directory, with the provider built from this repository and
// installed through a CLI config with dev_overrides: no registry, no
// `terraform init`.

// envProviderRace, when set, builds the provider with the race detector.
// It is off by default: a race-enabled provider starts about ten times
// slower, and Terraform starts it for every command (the suite goes from
// ~20 s to ~90 s). The provider's code also runs in process, with the
// race detector, in internal/tfprovider's tests.
const envProviderRace = "MESHFED_TF_PROVIDER_RACE"

// providerBuild builds the provider once per test binary.
var providerBuild struct {
	once sync.Once
	dir  string
	err  error
}

// providerDir returns the directory holding terraform-provider-meshfed,
// built from source.
func providerDir(t *testing.T) string {
	t.Helper()
	providerBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "meshfed-tfprovider-")
		if err != nil {
			providerBuild.err = err
			return
		}
		providerBuild.dir = dir
		args := []string{"build", "-o", filepath.Join(dir, "terraform-provider-meshfed")}
		if os.Getenv(envProviderRace) != "" {
			args = append(args, "-race")
		}
		args = append(args, "github.com/meshfed/meshfed/cmd/terraform-provider-meshfed")
		cmd := exec.Command("go", args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			providerBuild.err = fmt.Errorf("go build terraform-provider-meshfed: %w\n%s", err, out)
		}
	})
	if providerBuild.err != nil {
		t.Fatal(providerBuild.err)
	}
	return providerBuild.dir
}

// workdir is one Terraform working directory: a configuration and its
// state.
type workdir struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

// newWorkdir makes a working directory with a CLI config that points
// meshfed/meshfed at the freshly built provider. extraEnv (KEY=VALUE) is
// added to terraform's environment.
func newWorkdir(t *testing.T, extraEnv ...string) *workdir {
	t.Helper()
	bin := terraform.Binary(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, ".terraformrc")
	cliConfig := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "meshfed/meshfed" = %q
  }
  direct {}
}
`, providerDir(t))
	if err := os.WriteFile(rc, []byte(cliConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing from the caller's environment may steer terraform or the
	// provider: TF_CLI_CONFIG_FILE in particular is preset on CI machines.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TF_") || strings.HasPrefix(k, "CHECKPOINT_") || strings.HasPrefix(k, "MESHFED_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"TF_CLI_CONFIG_FILE="+rc,
		"TF_DATA_DIR="+filepath.Join(dir, ".terraform"),
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"HOME="+dir,
	)
	if os.Getenv(envProviderRace) != "" {
		// A race makes the provider exit, which fails the Terraform command.
		env = append(env, "GORACE=halt_on_error=1")
	}
	return &workdir{t: t, bin: bin, dir: dir, env: append(env, extraEnv...)}
}

// write writes a file into the working directory.
func (w *workdir) write(name, content string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// header is the terraform block every configuration starts with.
const header = `terraform {
  required_providers {
    meshfed = {
      source = "meshfed/meshfed"
    }
  }
}
`

// run runs terraform with args and returns its exit code and output. It
// fails the test only if terraform cannot be run at all.
func (w *workdir) run(args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	w.t.Logf("terraform %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
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

// mustRun runs terraform and fails the test unless it exits 0.
func (w *workdir) mustRun(args ...string) string {
	w.t.Helper()
	code, out, errOut := w.run(args...)
	if code != 0 {
		w.t.Fatalf("terraform %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// plan runs `terraform plan -detailed-exitcode` into a plan file and
// returns the exit code (0: no changes, 2: changes), the plan as
// `terraform show -json` prints it, and the human-readable plan.
func (w *workdir) plan() (int, *jsonPlan, string) {
	w.t.Helper()
	code, out, errOut := w.run("plan", "-detailed-exitcode", "-no-color", "-input=false", "-out=tfplan")
	if code != 0 && code != 2 {
		w.t.Fatalf("terraform plan exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var p jsonPlan
	if err := json.Unmarshal([]byte(w.mustRun("show", "-json", "tfplan")), &p); err != nil {
		w.t.Fatalf("terraform show -json: %v", err)
	}
	return code, &p, out
}

// jsonPlan is the part of Terraform's JSON plan format the tests read.
type jsonPlan struct {
	ResourceDrift   []jsonChange `json:"resource_drift"`
	ResourceChanges []jsonChange `json:"resource_changes"`
}

type jsonChange struct {
	Address string `json:"address"`
	Change  struct {
		Actions []string       `json:"actions"`
		Before  map[string]any `json:"before"`
		After   map[string]any `json:"after"`
	} `json:"change"`
}

func (p *jsonPlan) change(address string) *jsonChange {
	for i := range p.ResourceChanges {
		if p.ResourceChanges[i].Address == address {
			return &p.ResourceChanges[i]
		}
	}
	return nil
}

func (p *jsonPlan) drift(address string) *jsonChange {
	for i := range p.ResourceDrift {
		if p.ResourceDrift[i].Address == address {
			return &p.ResourceDrift[i]
		}
	}
	return nil
}

// actions returns address -> actions of every resource change.
func (p *jsonPlan) actions() map[string]string {
	out := map[string]string{}
	for _, c := range p.ResourceChanges {
		out[c.Address] = strings.Join(c.Change.Actions, ",")
	}
	return out
}

// attr returns the value at a dotted path (locality.region, allow.0.cluster)
// of a before or after object.
func attr(obj map[string]any, dotted string) any {
	var v any = obj
	for _, part := range strings.Split(dotted, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// meshfed runs the meshfed CLI in process against the control plane
// whose admin config is at configPath, as an operator would from a shell.
func meshfed(t *testing.T, configPath, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--config", configPath}, args...)
	if code := cli.Main(context.Background(), full, strings.NewReader(stdin), &out, &errOut); code != 0 {
		t.Fatalf("meshfed %s exited %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String()
}
