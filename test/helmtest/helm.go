package helmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/toolbin"
)

// Version is the helm version built from test/tools/helm; it must match the
// helm.sh/helm/v3 requirement in that module's go.mod.
const Version = "v3.22.0"

// kubeMinor is the Kubernetes minor version helm reports as the cluster's
// to templates without a cluster (.Capabilities.KubeVersion); helm's own
// Makefile derives it from its client-go version.
const kubeMinor = "37"

func tool() toolbin.Tool {
	var flags []string
	flags = append(flags, "-s", "-w",
		"-X", "helm.sh/helm/v3/internal/version.version="+Version,
		"-X", "helm.sh/helm/v3/internal/version.metadata=",
		"-X", "helm.sh/helm/v3/internal/version.gitTreeState=clean",
	)
	for _, pkg := range []string{"helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"} {
		flags = append(flags, "-X", pkg+".k8sVersionMajor=1", "-X", pkg+".k8sVersionMinor="+kubeMinor)
	}
	return toolbin.Tool{
		Name:        "helm",
		Version:     Version,
		Module:      "test/tools/helm",
		Require:     "helm.sh/helm/v3 " + Version,
		Package:     "helm.sh/helm/v3/cmd/helm",
		LDFlags:     strings.Join(flags, " "),
		Env:         []string{"CGO_ENABLED=0"},
		EnvOverride: "MESHFED_HELM_BIN",
	}
}

// BinaryPath returns the path of the helm binary, building it first when it
// is not cached; it blocks for the whole build.
func BinaryPath() (string, error) {
	p, err := tool().Path()
	if err != nil {
		return "", fmt.Errorf("helmtest: %w", err)
	}
	return p, nil
}

// Binary returns the path of the helm binary, building it on first use. It
// skips the test, saying why, if it cannot be built (no network for the
// module download, for example).
func Binary(t testing.TB) string {
	t.Helper()
	start := time.Now()
	p, err := BinaryPath()
	if err != nil {
		t.Skipf("helmtest: no helm %s binary, skipping: %v", Version, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("helmtest: waited %s for helm %s to build: %s", d.Round(time.Second), Version, p)
	}
	return p
}

// Run runs helm with args in an empty home (no repositories, plugins or
// kubeconfig of the user) and returns its standard output; it fails the
// test if helm fails.
func Run(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := Try(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Try is Run that returns helm's failure, with its standard error, instead
// of failing the test.
func Try(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	bin := Binary(t)
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data",
		"KUBECONFIG="+home+"/kubeconfig",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}
