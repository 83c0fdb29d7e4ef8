package tfmodules

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

// CloudModules are the modules whose shared variables must be declared
// alike, and the submodules each must call.
var CloudModules = []string{"aws", "gcp", "azure"}

// cloudSubmodules are the local modules every cloud module calls, so the
// same HCL serves every cloud where the logic is the same.
var cloudSubmodules = []string{"../install", "../register"}

// cloudOwnVariables may be declared differently in each cloud module.
var cloudOwnVariables = map[string]bool{"region": true, "zone": true, "tags": true}

// exactVersion is how a provider is pinned: one exact version.
var exactVersion = regexp.MustCompile(`^=\s*[0-9]+\.[0-9]+\.[0-9]+$`)

// secretLike matches variable names (or object attribute names in a
// type) that hold secrets, which must be sensitive.
var secretLike = regexp.MustCompile(`(key_pem|_token|^token|password)\b`)

// Lint checks every module under modulesDir and its examples and returns
// the problems found, each "PATH:LINE: what is wrong", with PATH relative
// to modulesDir. An error means a module could not be read at all.
func Lint(modulesDir string) ([]string, error) {
	l := &linter{root: modulesDir, loaded: map[string]*Module{}, pins: map[string]map[string][]string{}}
	dirs, err := List(modulesDir)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("tfmodules: no modules under %s", modulesDir)
	}
	for _, dir := range dirs {
		m, err := l.load(dir)
		if err != nil {
			return nil, err
		}
		l.config(m, false)
		examples, err := Examples(dir)
		if err != nil {
			return nil, err
		}
		if len(examples) == 0 {
			l.addf(dir, 0, "module %s has no examples/NAME directory", filepath.Base(dir))
		}
		for _, ex := range examples {
			em, err := l.load(ex)
			if err != nil {
				return nil, err
			}
			l.config(em, true)
			if !callsDir(em, dir) {
				l.addf(ex, 0, "example calls no module with source \"../..\" (its module, %s)", filepath.Base(dir))
			}
		}
	}
	if err := l.clouds(); err != nil {
		return nil, err
	}
	l.pinsAgree()
	sort.Strings(l.problems)
	return l.problems, nil
}

type linter struct {
	root     string
	loaded   map[string]*Module
	problems []string
	// pins: provider source -> version constraint -> where it is required.
	pins map[string]map[string][]string
}

func (l *linter) load(dir string) (*Module, error) {
	dir = filepath.Clean(dir)
	if m, ok := l.loaded[dir]; ok {
		return m, nil
	}
	m, err := Load(dir)
	if err != nil {
		return nil, err
	}
	l.loaded[dir] = m
	return m, nil
}

func (l *linter) rel(path string) string {
	if r, err := filepath.Rel(l.root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

func (l *linter) addf(file string, line int, format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf("%s:%d: %s", l.rel(file), line, fmt.Sprintf(format, args...)))
}

func (l *linter) addAt(pos tfconfig.SourcePos, format string, args ...any) {
	l.addf(pos.Filename, pos.Line, format, args...)
}

// config checks one module or example.
func (l *linter) config(m *Module, example bool) {
	cfg := m.Config
	what := "module"
	if example {
		what = "example"
	}
	if !example && len(cfg.RequiredCore) == 0 {
		l.addf(m.Dir, 0, "module sets no required_version")
	}
	if !example && len(cfg.ProviderConfigs) > 0 {
		for _, pc := range sortedKeys(cfg.ProviderConfigs) {
			l.addf(m.Dir, 0, "module configures provider %q: leave provider configuration to the caller (a module with provider blocks cannot take count or for_each)", pc)
		}
	}
	for _, name := range sortedKeys(cfg.Variables) {
		v := cfg.Variables[name]
		if v.Type == "" {
			l.addAt(v.Pos, "variable %q has no type", name)
		}
		if strings.TrimSpace(v.Description) == "" {
			l.addAt(v.Pos, "variable %q has no description", name)
		}
		if !v.Sensitive && (secretLike.MatchString(name) || secretLike.MatchString(v.Type)) {
			l.addAt(v.Pos, "variable %q holds a secret but is not sensitive = true", name)
		}
		for _, val := range m.Validations[name] {
			refs := contains(val.MessageRefs, name)
			switch {
			case v.Sensitive && refs:
				l.addf(val.File, val.Pos.Line, "validation of sensitive variable %q shows its value in error_message", name)
			case !v.Sensitive && !refs:
				l.addf(val.File, val.Pos.Line, "validation of variable %q does not name the bad value: refer to var.%s in error_message", name, name)
			}
		}
	}
	for _, name := range sortedKeys(cfg.Outputs) {
		if o := cfg.Outputs[name]; strings.TrimSpace(o.Description) == "" {
			l.addAt(o.Pos, "output %q has no description", name)
		}
	}
	for _, name := range sortedKeys(cfg.RequiredProviders) {
		p := cfg.RequiredProviders[name]
		if p.Source == "" {
			l.addf(m.Dir, 0, "%s requires provider %q without a source", what, name)
		}
		if len(p.VersionConstraints) != 1 || !exactVersion.MatchString(strings.TrimSpace(p.VersionConstraints[0])) {
			l.addf(m.Dir, 0, "%s requires provider %q with version %q: pin one exact version (\"= X.Y.Z\")", what, name, strings.Join(p.VersionConstraints, ", "))
			continue
		}
		src := p.Source
		if l.pins[src] == nil {
			l.pins[src] = map[string][]string{}
		}
		v := strings.TrimSpace(p.VersionConstraints[0])
		l.pins[src][v] = append(l.pins[src][v], l.rel(m.Dir))
	}
	for _, res := range append(sortedResources(cfg.ManagedResources), sortedResources(cfg.DataResources)...) {
		if res.Provider.Name == "terraform" { // built in
			continue
		}
		if _, ok := cfg.RequiredProviders[res.Provider.Name]; !ok {
			l.addAt(res.Pos, "%s uses provider %q, which is not in required_providers", res.MapKey(), res.Provider.Name)
		}
	}
	callees := map[string]*Module{}
	for _, name := range sortedKeys(m.Calls) {
		if callee := l.call(m, m.Calls[name]); callee != nil {
			callees[name] = callee
		}
	}
	for _, r := range UnresolvedRefs(m, callees) {
		l.addf(r.File, r.Line, "%s refers to %s, which is not declared", what, r.Ref)
	}
}

// call checks that a module block passes only variables its module
// declares, and every variable it requires. It returns the called module,
// or nil when it could not be loaded.
func (l *linter) call(m *Module, c Call) *Module {
	if !IsLocalSource(c.Source) {
		l.addf(c.File, c.Pos.Line, "module %q has source %q: the modules call only each other, by relative path", c.Name, c.Source)
		return nil
	}
	callee, err := l.load(filepath.Join(m.Dir, filepath.FromSlash(c.Source)))
	if err != nil {
		l.addf(c.File, c.Pos.Line, "module %q: cannot load %s: %v", c.Name, c.Source, err)
		return nil
	}
	for _, a := range c.Args {
		if metaArgs[a] {
			continue
		}
		if _, ok := callee.Config.Variables[a]; !ok {
			l.addf(c.File, c.Pos.Line, "module %q sets %q, which %s does not declare", c.Name, a, l.rel(callee.Dir))
		}
	}
	for _, name := range sortedKeys(callee.Config.Variables) {
		if callee.Config.Variables[name].Required && !contains(c.Args, name) {
			l.addf(c.File, c.Pos.Line, "module %q does not set %q, which %s requires", c.Name, name, l.rel(callee.Dir))
		}
	}
	return callee
}

// clouds checks what the cloud modules share.
func (l *linter) clouds() error {
	type decl struct {
		module string
		v      *tfconfig.Variable
	}
	byName := map[string][]decl{}
	for _, name := range CloudModules {
		dir := filepath.Join(l.root, name)
		m, err := l.load(dir)
		if err != nil {
			return err
		}
		for _, sub := range cloudSubmodules {
			if !callsDir(m, filepath.Join(dir, sub)) {
				l.addf(dir, 0, "cloud module %s does not call %s", name, sub)
			}
		}
		for vn, v := range m.Config.Variables {
			byName[vn] = append(byName[vn], decl{name, v})
		}
	}
	for _, vn := range sortedKeys(byName) {
		decls := byName[vn]
		if cloudOwnVariables[vn] || len(decls) < 2 {
			continue
		}
		first := decls[0]
		for _, d := range decls[1:] {
			if diff := declDiff(first.v, d.v); diff != "" {
				l.addAt(d.v.Pos, "variable %q is declared differently in %s and %s (%s): the cloud modules' shared variables must be identical", vn, first.module, d.module, diff)
			}
		}
	}
	return nil
}

func declDiff(a, b *tfconfig.Variable) string {
	switch {
	case a.Type != b.Type:
		return "type"
	case a.Description != b.Description:
		return "description"
	case fmt.Sprint(a.Default) != fmt.Sprint(b.Default):
		return "default"
	case a.Sensitive != b.Sensitive:
		return "sensitive"
	case a.Required != b.Required:
		return "required"
	}
	return ""
}

// pinsAgree reports a provider pinned to different versions in
// different places.
func (l *linter) pinsAgree() {
	for _, src := range sortedKeys(l.pins) {
		if len(l.pins[src]) < 2 {
			continue
		}
		var parts []string
		for _, v := range sortedKeys(l.pins[src]) {
			parts = append(parts, fmt.Sprintf("%q in %s", v, strings.Join(l.pins[src][v], ", ")))
		}
		l.problems = append(l.problems, fmt.Sprintf("provider %s is pinned to different versions: %s", src, strings.Join(parts, "; ")))
	}
}

// callsDir reports whether m has a module block whose local source is dir.
func callsDir(m *Module, dir string) bool {
	for _, c := range m.Calls {
		if IsLocalSource(c.Source) && filepath.Clean(filepath.Join(m.Dir, filepath.FromSlash(c.Source))) == filepath.Clean(dir) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedResources(m map[string]*tfconfig.Resource) []*tfconfig.Resource {
	out := make([]*tfconfig.Resource, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
