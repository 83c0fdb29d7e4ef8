package toolbin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/internal/toolbin"
)

func hello() toolbin.Tool {
	return toolbin.Tool{
		Name:        "hello",
		Version:     "v1.2.3",
		Module:      "internal/toolbin/testdata/hello",
		Require:     "module example.com/hello",
		LDFlags:     "-X main.version=v1.2.3",
		EnvOverride: "MESHFED_TEST_HELLO_BIN",
	}
}

// TestPathBuildsOnceAndCaches builds a tiny tools module into a fresh
// cache directory, runs it, and checks that the second call reuses it.
func TestPathBuildsOnceAndCaches(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("MESHFED_CACHE_DIR", cache)
	tool := hello()
	if tool.Cached() {
		t.Fatal("Cached before the first build")
	}
	bin, err := tool.Path()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "hello-v1.2.3", "hello"); bin != want {
		t.Errorf("Path = %s, want %s", bin, want)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hello v1.2.3" {
		t.Fatalf("running the binary: %q, %v; want the stamped version", out, err)
	}
	info, _ := os.Stat(bin)
	if !tool.Cached() {
		t.Error("not Cached after the build")
	}
	again, err := tool.Path()
	if err != nil || again != bin {
		t.Fatalf("second Path: %s, %v", again, err)
	}
	if info2, _ := os.Stat(bin); !info2.ModTime().Equal(info.ModTime()) {
		t.Error("the second call rebuilt the binary")
	}
	if tmp, _ := filepath.Glob(filepath.Join(cache, "hello-v1.2.3", "*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestPathRefusesAModuleOfAnotherVersion(t *testing.T) {
	t.Setenv("MESHFED_CACHE_DIR", t.TempDir())
	tool := hello()
	tool.Require = "example.com/hello v9"
	if _, err := tool.Path(); err == nil || !strings.Contains(err.Error(), "does not require example.com/hello v9") {
		t.Fatalf("Path: %v, want an error naming the missing requirement", err)
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("MESHFED_CACHE_DIR", t.TempDir())
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MESHFED_TEST_HELLO_BIN", self)
	if p, err := hello().Path(); err != nil || p != self || !hello().Cached() {
		t.Fatalf("Path with the override: %s, %v", p, err)
	}
	t.Setenv("MESHFED_TEST_HELLO_BIN", filepath.Join(t.TempDir(), "missing"))
	if _, err := hello().Path(); err == nil || !strings.Contains(err.Error(), "MESHFED_TEST_HELLO_BIN") {
		t.Fatalf("Path with a missing override: %v, want an error naming the variable", err)
	}
}
