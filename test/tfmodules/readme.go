package tfmodules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The generated part of a module's README.md lies between these markers.
const (
	BeginMarker = "<!-- BEGIN_TF_DOCS -->"
	EndMarker   = "<!-- END_TF_DOCS -->"
)

// Tables renders the module's requirements, inputs and outputs as
// Markdown tables, from its configuration alone.
func Tables(m *Module) string {
	cfg := m.Config
	var b strings.Builder
	b.WriteString("## Requirements\n\n| Name | Version |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| terraform | `%s` |\n", cell(strings.Join(cfg.RequiredCore, ", ")))
	for _, name := range sortedKeys(cfg.RequiredProviders) {
		p := cfg.RequiredProviders[name]
		fmt.Fprintf(&b, "| %s (`%s`) | `%s` |\n", name, cell(p.Source), cell(strings.Join(p.VersionConstraints, ", ")))
	}

	b.WriteString("\n## Inputs\n\n| Name | Description | Type | Default | Required |\n| --- | --- | --- | --- | :---: |\n")
	names := sortedKeys(cfg.Variables)
	// Required inputs first, as the module's caller reads them.
	sort.SliceStable(names, func(i, j int) bool {
		return cfg.Variables[names[i]].Required && !cfg.Variables[names[j]].Required
	})
	for _, name := range names {
		v := cfg.Variables[name]
		desc := cell(v.Description)
		if v.Sensitive {
			desc += " (sensitive)"
		}
		def, req := "n/a", "yes"
		if !v.Required {
			def, req = "`"+cell(defaultText(v.Default))+"`", "no"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n", name, desc, cell(typeText(v.Type)), def, req)
	}

	b.WriteString("\n## Outputs\n\n| Name | Description |\n| --- | --- |\n")
	for _, name := range sortedKeys(cfg.Outputs) {
		o := cfg.Outputs[name]
		desc := cell(o.Description)
		if o.Sensitive {
			desc += " (sensitive)"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", name, desc)
	}
	return b.String()
}

// ReplaceTables returns readme with the text between BeginMarker and
// EndMarker replaced by tables.
func ReplaceTables(readme, tables string) (string, error) {
	begin := strings.Index(readme, BeginMarker)
	end := strings.Index(readme, EndMarker)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("tfmodules: README has no %s ... %s section for the generated tables", BeginMarker, EndMarker)
	}
	return readme[:begin+len(BeginMarker)] + "\n" + tables + readme[end:], nil
}

func defaultText(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// typeText puts a type expression written over several lines on one,
// with commas between the attributes of an object.
func typeText(s string) string {
	var out string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case out == "", strings.HasSuffix(out, "{"), strings.HasSuffix(out, "("), strings.HasPrefix(line, "}"), strings.HasPrefix(line, ")"):
			if out != "" && !strings.HasSuffix(out, "(") && !strings.HasPrefix(line, ")") {
				out += " "
			}
		default:
			out += ", "
		}
		out += line
	}
	return oneLine(out)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}
