package tfmodules

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

// Module is one Terraform module (or example configuration) as read from
// its directory.
type Module struct {
	// Dir is the module's directory.
	Dir string
	// Config is what terraform-config-inspect reads: variables, outputs,
	// required providers, resources and module calls.
	Config *tfconfig.Module
	// Validations holds, per variable, its validation blocks.
	Validations map[string][]Validation
	// Calls holds the module blocks by name, with their arguments, which
	// terraform-config-inspect does not report.
	Calls map[string]Call
	// Locals are the names of the module's locals.
	Locals map[string]bool

	files map[string]*hclsyntax.Body // parsed .tf files by path
}

// Validation is one validation block of a variable.
type Validation struct {
	// MessageRefs are the variables (var.NAME, as NAME) its error_message
	// refers to.
	MessageRefs []string
	Pos         hcl.Pos
	File        string
}

// Call is one module block.
type Call struct {
	Name   string
	Source string
	// Args are the names of the arguments it sets, meta-arguments
	// (source, version, count, for_each, providers, depends_on) included.
	Args []string
	Pos  hcl.Pos
	File string
}

// metaArgs are the arguments of a module block that are not variables.
var metaArgs = map[string]bool{"source": true, "version": true, "count": true, "for_each": true, "providers": true, "depends_on": true}

// Load reads the module in dir. An error means it could not be read or
// parsed at all; problems with its content are Lint's.
func Load(dir string) (*Module, error) {
	cfg, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() {
		return nil, fmt.Errorf("tfmodules: %s: %w", dir, diags.Err())
	}
	m := &Module{Dir: dir, Config: cfg, Validations: map[string][]Validation{}, Calls: map[string]Call{},
		Locals: map[string]bool{}, files: map[string]*hclsyntax.Body{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	parser := hclparse.NewParser()
	for _, f := range files {
		file, d := parser.ParseHCLFile(f)
		if d.HasErrors() {
			return nil, fmt.Errorf("tfmodules: %w", d)
		}
		body, ok := file.Body.(*hclsyntax.Body)
		if !ok {
			return nil, fmt.Errorf("tfmodules: %s: not native HCL syntax", f)
		}
		m.files[f] = body
		for _, b := range body.Blocks {
			switch {
			case b.Type == "variable" && len(b.Labels) == 1:
				for _, vb := range b.Body.Blocks {
					if vb.Type != "validation" {
						continue
					}
					v := Validation{Pos: vb.TypeRange.Start, File: f}
					if attr, ok := vb.Body.Attributes["error_message"]; ok {
						v.MessageRefs = varRefs(attr.Expr)
					}
					m.Validations[b.Labels[0]] = append(m.Validations[b.Labels[0]], v)
				}
			case b.Type == "locals":
				for name := range b.Body.Attributes {
					m.Locals[name] = true
				}
			case b.Type == "module" && len(b.Labels) == 1:
				c := Call{Name: b.Labels[0], Pos: b.TypeRange.Start, File: f}
				for name, attr := range b.Body.Attributes {
					c.Args = append(c.Args, name)
					if name == "source" {
						if v, d := attr.Expr.Value(nil); !d.HasErrors() && v.Type().FriendlyName() == "string" {
							c.Source = v.AsString()
						}
					}
				}
				sort.Strings(c.Args)
				m.Calls[c.Name] = c
			}
		}
	}
	return m, nil
}

// varRefs returns the names of the input variables expr refers to.
func varRefs(expr hcl.Expression) []string {
	var out []string
	for _, tr := range expr.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			out = append(out, a.Name)
		}
	}
	return out
}

// IsLocalSource reports whether a module source is a local path, which
// Terraform reads in place.
func IsLocalSource(src string) bool {
	return strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../")
}

// ModulesDir returns the repository's terraform/modules directory, found
// relative to this source file or, in a -trimpath build, to the main
// module's go.mod.
func ModulesDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..", "terraform", "modules")
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("tfmodules: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("tfmodules: cannot locate terraform/modules: not inside the main module")
	}
	return filepath.Join(filepath.Dir(gomod), "terraform", "modules"), nil
}

// List returns the module directories directly under modulesDir (those
// holding .tf files), sorted.
func List(modulesDir string) ([]string, error) {
	return tfDirs(modulesDir)
}

// Examples returns the example directories of the module in dir
// (examples/NAME holding .tf files), sorted.
func Examples(dir string) ([]string, error) {
	ex := filepath.Join(dir, "examples")
	if _, err := os.Stat(ex); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return tfDirs(ex)
}

func tfDirs(parent string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("tfmodules: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if tfs, _ := filepath.Glob(filepath.Join(dir, "*.tf")); len(tfs) > 0 {
			out = append(out, dir)
		}
	}
	sort.Strings(out)
	return out, nil
}
