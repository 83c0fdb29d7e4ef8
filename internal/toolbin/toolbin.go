package toolbin

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Tool is one binary built from a tools module, or installed with
// `go install PATH@VERSION` (GoInstall). Name and Version are required,
// and either Module and Require or GoInstall; the others have the
// documented defaults.
type Tool struct {
	// Name is the binary's file name, e.g. "kube-apiserver".
	Name string
	// Version is the version built; it names the cache directory.
	Version string
	// Module is the tools module's directory relative to the repository
	// root, e.g. "test/tools/kube".
	Module string
	// Require is text the module's go.mod must contain, normally
	// "MODULE VERSION", so that Version and go.mod cannot drift apart.
	Require string
	// Package is the package to build, relative to the module or a full
	// import path of a dependency listed by a `tool` directive; default ".".
	Package string
	// LDFlags are passed to go build -ldflags; default "-s -w".
	LDFlags string
	// Env is added to the go build environment, e.g. "CGO_ENABLED=0".
	Env []string
	// EnvOverride names an environment variable that, when set, holds the
	// path of a binary to use instead of building one.
	EnvOverride string
	// GoInstall, instead of a tools module, is a package path with a
	// version ("github.com/hashicorp/terraform@v1.5.7"), built with `go
	// install` outside any module, for tools whose own go.mod pins their
	// dependencies (replace directives a tools module could not honour).
	GoInstall string
}

// Path returns the path of the binary: $EnvOverride if set, otherwise
// NAME-VERSION/NAME in the cache directory, built from the tools module
// when missing. Concurrent callers in different processes are serialised
// by a lock file. It blocks for the whole build; it is safe for concurrent
// use.
func (t Tool) Path() (string, error) {
	if t.EnvOverride != "" {
		if bin := os.Getenv(t.EnvOverride); bin != "" {
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("toolbin: %s: %w", t.EnvOverride, err)
			}
			return bin, nil
		}
	}
	dir, err := t.cacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, t.Name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("toolbin: %s: create cache dir: %w", t.Name, err)
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("toolbin: %s: lock cache dir: %w", t.Name, err)
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("toolbin: %s: stat cached binary: %w", t.Name, err)
	}
	if err := t.build(dir, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Cached reports whether Path would return without building.
func (t Tool) Cached() bool {
	if t.EnvOverride != "" && os.Getenv(t.EnvOverride) != "" {
		return true
	}
	dir, err := t.cacheDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, t.Name))
	return err == nil
}

// CacheBase returns $MESHFED_CACHE_DIR, or meshfed under the user cache
// directory.
func CacheBase() (string, error) {
	if base := os.Getenv("MESHFED_CACHE_DIR"); base != "" {
		return base, nil
	}
	userCache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("toolbin: locate cache dir (set MESHFED_CACHE_DIR): %w", err)
	}
	return filepath.Join(userCache, "meshfed"), nil
}

func (t Tool) cacheDir() (string, error) {
	base, err := CacheBase()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, t.Name+"-"+t.Version), nil
}

// build compiles the tools module into a temporary file in dir and renames
// it to bin. The caller holds the build lock.
func (t Tool) build(dir, bin string) error {
	if t.GoInstall != "" {
		return t.install(dir, bin)
	}
	modDir, err := moduleDir(t.Module)
	if err != nil {
		return fmt.Errorf("toolbin: %s: %w", t.Name, err)
	}
	gomod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
	if err != nil {
		return fmt.Errorf("toolbin: %s: read tools go.mod: %w", t.Name, err)
	}
	if !bytes.Contains(gomod, []byte(t.Require)) {
		return fmt.Errorf("toolbin: %s: %s/go.mod does not require %s", t.Name, modDir, t.Require)
	}
	// Leftovers of builds whose process was killed; nobody else holds the lock.
	stale, _ := filepath.Glob(filepath.Join(dir, t.Name+"-*.tmp"))
	for _, f := range stale {
		_ = os.Remove(f)
	}
	tmp, err := os.CreateTemp(dir, t.Name+"-*.tmp")
	if err != nil {
		return fmt.Errorf("toolbin: %s: create temp binary: %w", t.Name, err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpPath) // no-op after a successful rename

	pkg, ldflags := t.Package, t.LDFlags
	if pkg == "" {
		pkg = "."
	}
	if ldflags == "" {
		ldflags = "-s -w"
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmpPath, pkg)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false",
		"GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	cmd.Env = append(cmd.Env, t.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("toolbin: go build %s %s in %s: %w\n%s", t.Name, t.Version, modDir, err, out)
	}
	if err := os.Rename(tmpPath, bin); err != nil {
		return fmt.Errorf("toolbin: install %s binary: %w", t.Name, err)
	}
	return nil
}

// install runs go install into a temporary GOBIN inside dir and renames
// the result to bin. The caller holds the build lock.
func (t Tool) install(dir, bin string) error {
	// Leftovers of builds whose process was killed; nobody else holds the lock.
	stale, _ := filepath.Glob(filepath.Join(dir, "gobin-*"))
	for _, d := range stale {
		_ = os.RemoveAll(d)
	}
	gobin, err := os.MkdirTemp(dir, "gobin-")
	if err != nil {
		return fmt.Errorf("toolbin: %s: create temp GOBIN: %w", t.Name, err)
	}
	defer os.RemoveAll(gobin)
	ldflags := t.LDFlags
	if ldflags == "" {
		ldflags = "-s -w"
	}
	cmd := exec.Command("go", "install", "-trimpath", "-ldflags", ldflags, t.GoInstall)
	cmd.Dir = gobin // outside any module, so the repository's go.mod plays no part
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "GOFLAGS=-buildvcs=false",
		"GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	cmd.Env = append(cmd.Env, t.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("toolbin: go install %s: %w\n%s", t.GoInstall, err, out)
	}
	if err := os.Rename(filepath.Join(gobin, t.Name), bin); err != nil {
		return fmt.Errorf("toolbin: install %s binary: %w", t.Name, err)
	}
	return nil
}

// moduleDir locates a directory of the repository, first relative to this
// source file and then, for -trimpath builds, relative to the main
// module's go.mod.
func moduleDir(rel string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..", filepath.FromSlash(rel))
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot locate %s: not inside the main module", rel)
	}
	return filepath.Join(filepath.Dir(gomod), filepath.FromSlash(rel)), nil
}
