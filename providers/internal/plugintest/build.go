package plugintest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// Module is the import path prefix of the repository's packages.
const Module = "github.com/meshfed/meshfed/"

// Build runs one `go build` of the given main packages (import paths
// relative to the module, e.g. "cmd/meshfed-provider-aws") into a new
// temporary directory and returns it; the binary of package P is named
// after P's last element unless it is listed as "P=NAME". The caller
// removes the directory (TestMain: os.RemoveAll after m.Run).
func Build(pkgs ...string) (string, error) {
	dir, err := os.MkdirTemp("", "meshfed-plugins-")
	if err != nil {
		return "", err
	}
	for _, p := range pkgs {
		pkg, name, _ := strings.Cut(p, "=")
		if name == "" {
			name = path.Base(pkg)
		}
		// One build per binary keeps names under our control; the build
		// cache makes the later ones cheap.
		cmd := exec.Command("go", "build", "-o", dir+"/"+name, Module+pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("plugintest: go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir, nil
}

// Main is a TestMain for packages that run plugins: it builds pkgs (as
// Build), stores the directory in *dir, runs the tests, fails them if
// goroutines leak, removes the directory and exits.
func Main(m *testing.M, dir *string, pkgs ...string) {
	d, err := Build(pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*dir = d
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(d)
	os.Exit(code)
}

// WantError fails t unless err matches sentinel (when not nil) with
// errors.Is and its message mentions every one of parts.
func WantError(t testing.TB, err, sentinel error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", parts)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q is not %v", err, sentinel)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}
