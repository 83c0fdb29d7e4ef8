package drill

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxSpecBytes bounds a drill file.
const maxSpecBytes = 1 << 20

// ParseSpec reads a drill file. Decoding is strict: an unknown field, a
// duplicate key or a value of the wrong type is a *SpecError naming the
// file, line and field. The spec is not normalized yet (see
// Spec.Normalize), so flags can still amend it.
func ParseSpec(file string, data []byte) (*Spec, error) {
	s := &Spec{src: sources{file: file, lines: map[string]int{}}}
	if len(data) > maxSpecBytes {
		return nil, &SpecError{File: file, Field: "(file)", Msg: fmt.Sprintf("is %d bytes, more than the %d allowed", len(data), maxSpecBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &SpecError{File: file, Field: "(file)", Line: yamlErrLine(err), Msg: "is not YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &SpecError{File: file, Field: "(file)", Msg: "is empty: a drill needs at least fault and scope"}
	}
	d := decoder{file: file, lines: s.src.lines}
	if err := d.decode(doc.Content[0], reflect.ValueOf(s).Elem(), ""); err != nil {
		return nil, err
	}
	if _, ok := s.src.lines["restore"]; ok {
		s.restoreSet = true
	}
	return s, nil
}

// yamlErrLine finds "line N" in a yaml syntax error.
func yamlErrLine(err error) int {
	msg := err.Error()
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 0
	}
	j := i + len("line ")
	k := j
	for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
		k++
	}
	n, _ := strconv.Atoi(msg[j:k])
	return n
}

// decoder maps YAML nodes onto structs by their yaml tags, refusing
// what the struct does not have, and records each field's line.
type decoder struct {
	file  string
	lines map[string]int
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) errAt(n *yaml.Node, path, format string, args ...any) error {
	return &SpecError{File: d.file, Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		return d.errAt(n, orRoot(path), "YAML aliases are not supported in drill files")
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" or "key: ~" leaves the default
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return d.errAt(n, path, "want a single value, not a %s", kindName(n))
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return d.errAt(n, path, "%v", err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.errAt(n, orRoot(path), "want a mapping (NAME: {...}), not a %s", kindName(n))
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				return d.errAt(k, path+"."+k.Value, "is given twice")
			}
			seen[k.Value] = true
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, elem, path+"."+k.Value); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		return nil
	case reflect.Slice:
		items := n.Content
		if n.Kind == yaml.ScalarNode {
			items = []*yaml.Node{n} // "from: east" means [east]
		} else if n.Kind != yaml.SequenceNode {
			return d.errAt(n, path, "want a list, not a %s", kindName(n))
		}
		out := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			if it.Kind != yaml.ScalarNode {
				return d.errAt(it, path, "entry %d: want a single value, not a %s", i+1, kindName(it))
			}
			if err := d.scalar(it, out.Index(i), path); err != nil {
				return err
			}
		}
		v.Set(out)
		d.lines[path] = n.Line
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errAt(n, path, "want a single value, not a %s", kindName(n))
	}
	return d.scalar(n, v, path)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errAt(n, orRoot(path), "want a mapping (field: value, ...), not a %s", kindName(n))
	}
	fields := map[string]int{}
	var names []string
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		idx, ok := fields[k.Value]
		if !ok {
			sort.Strings(names)
			where := "a drill"
			if path != "" {
				where = path
			}
			return d.errAt(k, field, "unknown field (%s has %s)", where, strings.Join(names, ", "))
		}
		if seen[k.Value] {
			return d.errAt(k, field, "is given twice")
		}
		seen[k.Value] = true
		if err := d.decode(val, v.Field(idx), field); err != nil {
			return err
		}
		d.lines[field] = k.Line
	}
	return nil
}

// scalar decodes one scalar into a string, bool, int or float field.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) error {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return d.errAt(n, path, "%v", err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag != "!!str" {
			return d.errAt(n, path, "%q should be a string: quote it", n.Value)
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			return d.errAt(n, path, "%q is not true or false", n.Value)
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || n.Tag != "!!int" || i > math.MaxInt32 || i < math.MinInt32 {
			return d.errAt(n, path, "%q is not a whole number", n.Value)
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || (n.Tag != "!!float" && n.Tag != "!!int") || math.IsNaN(f) || math.IsInf(f, 0) {
			return d.errAt(n, path, "%q is not a number", n.Value)
		}
		v.SetFloat(f)
	default:
		return errors.New("drill: internal: no decoder for " + v.Type().String())
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("value (%q)", n.Value)
	}
	return "node"
}
