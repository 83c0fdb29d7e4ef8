package etcdcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Version is the etcd server version built from test/tools/etcd. It must match
// the go.etcd.io/etcd/server/v3 requirement in that module's go.mod.
const Version = "v3.7.3"

// Binary returns the path of the etcd server binary, building and caching it on
// first use. It fails the test if the binary cannot be provided.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// BinaryPath returns the path of the etcd server binary: $MESHFED_ETCD_BIN if
// set, otherwise etcd-<Version>/etcd in the cache directory, which is built from
// the tools module when missing. Concurrent callers in different processes are
// serialised by a lock file and the binary is renamed into place atomically.
func BinaryPath() (string, error) {
	if bin := os.Getenv("MESHFED_ETCD_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("etcdcluster: MESHFED_ETCD_BIN: %w", err)
		}
		return bin, nil
	}
	base := os.Getenv("MESHFED_CACHE_DIR")
	if base == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("etcdcluster: locate cache dir: %w", err)
		}
		base = filepath.Join(userCache, "meshfed")
	}
	dir := filepath.Join(base, "etcd-"+Version)
	bin := filepath.Join(dir, "etcd")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("etcdcluster: create cache dir: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("etcdcluster: lock cache dir: %w", err)
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("etcdcluster: stat cached binary: %w", err)
	}
	if err := build(dir, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// build compiles the tools module into a temporary file in dir and renames it
// to bin.
func build(dir, bin string) error {
	toolsDir, err := toolsModuleDir()
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(toolsDir, "go.mod"))
	if err != nil {
		return fmt.Errorf("etcdcluster: read tools go.mod: %w", err)
	}
	if !bytes.Contains(gomod, []byte("go.etcd.io/etcd/server/v3 "+Version)) {
		return fmt.Errorf("etcdcluster: %s/go.mod does not require etcd server %s", toolsDir, Version)
	}
	tmp, err := os.CreateTemp(dir, "etcd-*.tmp")
	if err != nil {
		return fmt.Errorf("etcdcluster: create temp binary: %w", err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpPath) // no-op after a successful rename

	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmpPath, ".")
	cmd.Dir = toolsDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false",
		"GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("etcdcluster: go build etcd in %s: %w\n%s", toolsDir, err, out)
	}
	if err := os.Rename(tmpPath, bin); err != nil {
		return fmt.Errorf("etcdcluster: install etcd binary: %w", err)
	}
	return nil
}

// toolsModuleDir locates test/tools/etcd, first relative to this source file
// and then, for -trimpath builds, relative to the main module's go.mod.
func toolsModuleDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "tools", "etcd")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("etcdcluster: go env GOMOD: %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("etcdcluster: cannot locate test/tools/etcd: not inside the main module")
	}
	return filepath.Join(filepath.Dir(gomod), "test", "tools", "etcd"), nil
}
