// Package arch_test enforces the house rules of the repository layout.
package arch_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/meshfed/meshfed/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestLayoutRules(t *testing.T) {
	t.Parallel()
	banned := []string{"util", "utils", "common", "helpers", "misc"}
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // test-only package
		}
		if p.Doc == "" && p.Name != "main" && !strings.HasSuffix(p.ImportPath, "/proto/meshfed/v1") {
			t.Errorf("%s has no package doc comment (add a doc.go)", p.ImportPath)
		}
		for _, b := range banned {
			if p.Name == b {
				t.Errorf("%s: package name %q is banned; name packages by the concept they hold", p.ImportPath, b)
			}
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/meshfed/meshfed/cmd/") {
				t.Errorf("%s imports %s: nothing may import cmd/", p.ImportPath, imp)
			}
			if strings.HasPrefix(p.ImportPath, "github.com/meshfed/meshfed/globallb") && strings.HasPrefix(imp, "github.com/meshfed/meshfed/gateway") {
				t.Errorf("%s imports %s: globallb must not depend on gateway", p.ImportPath, imp)
			}
			if !strings.HasPrefix(p.ImportPath, "github.com/meshfed/meshfed/test/") && strings.HasPrefix(imp, "github.com/meshfed/meshfed/test/") {
				t.Errorf("%s imports test helper %s", p.ImportPath, imp)
			}
		}
	}
}

// TestSlimGatewayLinksNoTypedKubernetesClients keeps meshfed-gateway small:
// its Kubernetes mode watches ServiceImports through the dynamic client
// (kube/mcsapi); client-go's typed clientset, informers and discovery
// client would link the scheme of every built-in API (60 MB instead of
// 31 MB).
func TestSlimGatewayLinksNoTypedKubernetesClients(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/meshfed/meshfed/cmd/meshfed-gateway").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps found only %d packages", len(deps))
	}
	for _, d := range deps {
		for _, banned := range []string{"k8s.io/client-go/kubernetes", "k8s.io/client-go/informers", "k8s.io/client-go/discovery", "sigs.k8s.io/mcs-api/pkg/apis"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("meshfed-gateway links %s (keep kube/mcsapi on the dynamic client)", d)
			}
		}
	}
}
