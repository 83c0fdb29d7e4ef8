package tfmodules

import (
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// builtinRoots are reference roots that name no declaration of the module.
var builtinRoots = map[string]bool{"each": true, "count": true, "path": true, "terraform": true, "self": true}

// Ref is a reference in a module's configuration that names nothing the
// module declares: a typo that `terraform validate` would catch, were the
// module's providers installed.
type Ref struct {
	File string
	Line int
	// Ref is the reference as written, up to what is missing, for example
	// "var.nmespace" or "module.install.namespce".
	Ref string
}

// UnresolvedRefs returns the references of m (in any expression of any
// block) to variables, locals, module calls, module outputs, resources and
// data sources it does not declare. callees gives the modules its local
// module calls load, by call name, to check module outputs; a call missing
// from it is not checked that deep.
func UnresolvedRefs(m *Module, callees map[string]*Module) []Ref {
	var out []Ref
	paths := make([]string, 0, len(m.files))
	for p := range m.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		body := m.files[path]
		// Iterator names of dynamic blocks are roots inside their content.
		iterators := map[string]bool{}
		_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if b, ok := n.(*hclsyntax.Block); ok && b.Type == "dynamic" && len(b.Labels) == 1 {
				iterators[b.Labels[0]] = true
				if it, ok := b.Body.Attributes["iterator"]; ok {
					if tr, d := hcl.AbsTraversalForExpr(it.Expr); !d.HasErrors() {
						iterators[tr.RootName()] = true
					}
				}
			}
			return nil
		})
		for _, block := range body.Blocks {
			if block.Type == "terraform" { // requirements: no expressions
				continue
			}
			_ = hclsyntax.VisitAll(block.Body, func(n hclsyntax.Node) hcl.Diagnostics {
				// module.NAME[*].OUTPUT: Variables() stops at the splat.
				if sp, ok := n.(*hclsyntax.SplatExpr); ok {
					src, ok1 := sp.Source.(*hclsyntax.ScopeTraversalExpr)
					each, ok2 := sp.Each.(*hclsyntax.RelativeTraversalExpr)
					if ok1 && ok2 && src.Traversal.RootName() == "module" && len(each.Traversal) > 0 {
						tr := append(append(hcl.Traversal{}, src.Traversal...), each.Traversal[0])
						if ref := m.unresolved(tr, callees, iterators); ref != "" {
							out = append(out, Ref{File: path, Line: sp.SrcRange.Start.Line, Ref: ref})
						}
					}
					return nil
				}
				attr, ok := n.(*hclsyntax.Attribute)
				if !ok || !isExpression(block.Type, attr.Name) {
					return nil
				}
				for _, tr := range attr.Expr.Variables() {
					if ref := m.unresolved(tr, callees, iterators); ref != "" {
						out = append(out, Ref{File: path, Line: tr.SourceRange().Start.Line, Ref: ref})
					}
				}
				return nil
			})
		}
	}
	return out
}

// isExpression reports whether an attribute of a block holds an expression
// that refers to values, rather than a type or names of attributes and
// providers.
func isExpression(blockType, attr string) bool {
	switch {
	case blockType == "variable" && attr == "type":
		return false
	case attr == "ignore_changes", attr == "providers", attr == "provider":
		return false
	}
	return true
}

// unresolved returns the unresolved part of tr, or "" when tr resolves.
func (m *Module) unresolved(tr hcl.Traversal, callees map[string]*Module, iterators map[string]bool) string {
	root := tr.RootName()
	if builtinRoots[root] || iterators[root] {
		return ""
	}
	name := func(i int) string {
		if i < len(tr) {
			if a, ok := tr[i].(hcl.TraverseAttr); ok {
				return a.Name
			}
		}
		return ""
	}
	switch root {
	case "var":
		if _, ok := m.Config.Variables[name(1)]; !ok {
			return "var." + name(1)
		}
	case "local":
		if !m.Locals[name(1)] {
			return "local." + name(1)
		}
	case "module":
		call := name(1)
		if _, ok := m.Calls[call]; !ok {
			return "module." + call
		}
		callee := callees[call]
		if callee == nil {
			return ""
		}
		i := 2
		for i < len(tr) {
			if _, ok := tr[i].(hcl.TraverseIndex); !ok {
				break
			}
			i++
		}
		if out := name(i); out != "" {
			if _, ok := callee.Config.Outputs[out]; !ok {
				return "module." + call + "." + out
			}
		}
	case "data":
		if _, ok := m.Config.DataResources["data."+name(1)+"."+name(2)]; !ok {
			return "data." + name(1) + "." + name(2)
		}
	default:
		if _, ok := m.Config.ManagedResources[root+"."+name(1)]; !ok {
			return root + "." + name(1)
		}
	}
	return ""
}
