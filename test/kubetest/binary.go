package kubetest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/toolbin"
)

// Version is the Kubernetes version of the kube-apiserver built from
// test/tools/kube. It must match the k8s.io/kubernetes requirement in that
// module's go.mod.
const Version = "v1.37.2"

// MCSVersion is the sigs.k8s.io/mcs-api version whose CRDs [Start] installs.
const MCSVersion = "v0.5.2"

// coldBuildTime is how long a build from an empty Go build cache takes on a
// loaded 2-core machine; a shorter test deadline gets a warning.
const coldBuildTime = 25 * time.Minute

// Binary returns the path of the kube-apiserver binary, building and caching
// it on first use. It skips the test, saying why, if the binary cannot be
// built.
func Binary(t testing.TB) string {
	t.Helper()
	if !cached() {
		warnDeadline(t)
	}
	start := time.Now()
	path, err := BinaryPath()
	if err != nil {
		t.Skipf("kubetest: no kube-apiserver %s binary, skipping: %v", Version, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("kubetest: waited %s for kube-apiserver %s to build: %s", d.Round(time.Second), Version, path)
	}
	return path
}

// warnDeadline warns on stderr, which a timeout panic does not swallow, if
// the test deadline is too close for a cold build.
func warnDeadline(t testing.TB) {
	d, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return
	}
	if deadline, ok := d.Deadline(); ok && time.Until(deadline) < coldBuildTime {
		fmt.Fprintf(os.Stderr, "kubetest: building kube-apiserver %s takes 15-25 minutes the first time; "+
			"the test deadline is in %s (rerun with -timeout 40m if it expires)\n",
			Version, time.Until(deadline).Round(time.Second))
	}
}

// tool is the kube-apiserver built from test/tools/kube.
func tool() toolbin.Tool {
	return toolbin.Tool{
		Name:        "kube-apiserver",
		Version:     Version,
		Module:      "test/tools/kube",
		Require:     "k8s.io/kubernetes " + Version,
		LDFlags:     ldflags(),
		Env:         []string{"CGO_ENABLED=0"},
		EnvOverride: "MESHFED_KUBE_APISERVER_BIN",
	}
}

// BinaryPath returns the path of the kube-apiserver binary:
// $MESHFED_KUBE_APISERVER_BIN if set, otherwise
// kube-apiserver-<Version>/kube-apiserver in the cache directory, which is
// built from the tools module when missing. Concurrent callers in different
// processes are serialised by a lock file and the binary is renamed into
// place atomically. It blocks for the whole build.
func BinaryPath() (string, error) {
	p, err := tool().Path()
	if err != nil {
		return "", fmt.Errorf("kubetest: %w", err)
	}
	return p, nil
}

// cached reports whether BinaryPath would return without building.
func cached() bool { return tool().Cached() }

// ldflags strips the binary and stamps the version, without which clients
// such as kubectl cannot parse the server's /version.
func ldflags() string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(Version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+Version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return strings.Join(flags, " ")
}
