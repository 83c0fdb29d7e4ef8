package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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

// BinaryPath returns the path of the kube-apiserver binary:
// $MESHFED_KUBE_APISERVER_BIN if set, otherwise
// kube-apiserver-<Version>/kube-apiserver in the cache directory, which is
// built from the tools module when missing. Concurrent callers in different
// processes are serialised by a lock file and the binary is renamed into
// place atomically. It blocks for the whole build.
func BinaryPath() (string, error) {
	if bin := os.Getenv("MESHFED_KUBE_APISERVER_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("kubetest: MESHFED_KUBE_APISERVER_BIN: %w", err)
		}
		return bin, nil
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kube-apiserver")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kubetest: create cache dir: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("kubetest: lock cache dir: %w", err)
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("kubetest: stat cached binary: %w", err)
	}
	if err := build(dir, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// cached reports whether BinaryPath would return without building.
func cached() bool {
	if os.Getenv("MESHFED_KUBE_APISERVER_BIN") != "" {
		return true
	}
	dir, err := cacheDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "kube-apiserver"))
	return err == nil
}

func cacheDir() (string, error) {
	base := os.Getenv("MESHFED_CACHE_DIR")
	if base == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("kubetest: locate cache dir: %w", err)
		}
		base = filepath.Join(userCache, "meshfed")
	}
	return filepath.Join(base, "kube-apiserver-"+Version), nil
}

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

// build compiles the tools module into a temporary file in dir and renames it
// to bin. The caller holds the build lock.
func build(dir, bin string) error {
	toolsDir, err := toolsModuleDir()
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(toolsDir, "go.mod"))
	if err != nil {
		return fmt.Errorf("kubetest: read tools go.mod: %w", err)
	}
	if !bytes.Contains(gomod, []byte("k8s.io/kubernetes "+Version)) {
		return fmt.Errorf("kubetest: %s/go.mod does not require k8s.io/kubernetes %s", toolsDir, Version)
	}
	// Leftovers of builds whose test binary was killed; nobody else holds the lock.
	if stale, _ := filepath.Glob(filepath.Join(dir, "kube-apiserver-*.tmp")); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	tmp, err := os.CreateTemp(dir, "kube-apiserver-*.tmp")
	if err != nil {
		return fmt.Errorf("kubetest: create temp binary: %w", err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpPath) // no-op after a successful rename

	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags(), "-o", tmpPath, ".")
	cmd.Dir = toolsDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=0",
		"GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubetest: go build kube-apiserver in %s: %w\n%s", toolsDir, err, out)
	}
	if err := os.Rename(tmpPath, bin); err != nil {
		return fmt.Errorf("kubetest: install kube-apiserver binary: %w", err)
	}
	return nil
}

// toolsModuleDir locates test/tools/kube, first relative to this source file
// and then, for -trimpath builds, relative to the main module's go.mod.
func toolsModuleDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "tools", "kube")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("kubetest: go env GOMOD: %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("kubetest: cannot locate test/tools/kube: not inside the main module")
	}
	return filepath.Join(filepath.Dir(gomod), "test", "tools", "kube"), nil
}
