package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

var intPattern = regexp.MustCompile(`^-?[0-9]{1,18}$`)

// Set sets one value from KEY=VALUE, the syntax of `helm --set` and
// `meshfed install --set`: KEY is the dotted path of the value in the
// chart's values ("gateway.replicas"; escape dots inside a key with "\.",
// as in annotation names), VALUE is true, false, null, an integer, a list
// {a,b} or else a string. An unknown key or a value of the wrong type is
// an error naming the key; v is then unchanged.
func (v *Values) Set(expr string) error {
	key, raw, ok := strings.Cut(expr, "=")
	if !ok || key == "" {
		return fmt.Errorf("deploy: --set %q: want KEY=VALUE, e.g. gateway.replicas=2", expr)
	}
	path := splitKey(key)
	for _, p := range path {
		if p == "" {
			return fmt.Errorf("deploy: --set %q: empty segment in key %q", expr, key)
		}
	}
	m, err := helmValues(*v)
	if err != nil {
		return err
	}
	try := func(value any) (Values, error) {
		next, err := setPath(m, path, value)
		if err != nil {
			return Values{}, err
		}
		return decodeValues(next, v.Namespace)
	}
	typed := parseSetValue(raw)
	nv, err := try(typed)
	if _, isString := typed.(string); err != nil && !isString {
		// A name such as "123" or "true" parsed as a number or a bool:
		// if the field wants a string, take it as one.
		if asString, err2 := try(raw); err2 == nil {
			nv, err = asString, nil
		}
	}
	if err != nil {
		return fmt.Errorf("deploy: --set %q: %w", key, err)
	}
	*v = nv
	return nil
}

// splitKey splits a key at dots not escaped by a backslash.
func splitKey(key string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		switch {
		case key[i] == '\\' && i+1 < len(key) && key[i+1] == '.':
			cur.WriteByte('.')
			i++
		case key[i] == '.':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(key[i])
		}
	}
	return append(out, cur.String())
}

func parseSetValue(raw string) any {
	switch {
	case raw == "true":
		return true
	case raw == "false":
		return false
	case raw == "null":
		return nil
	case intPattern.MatchString(raw):
		return json.Number(raw)
	case strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}"):
		inner := raw[1 : len(raw)-1]
		list := []any{}
		if inner != "" {
			for _, item := range strings.Split(inner, ",") {
				list = append(list, item)
			}
		}
		return list
	}
	return raw
}

// setPath returns a copy of m with value at path; intermediate maps are
// made where missing (decoding refuses unknown keys afterwards).
func setPath(m map[string]any, path []string, value any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, val := range m {
		out[k] = val
	}
	head := path[0]
	if len(path) == 1 {
		out[head] = value
		return out, nil
	}
	var child map[string]any
	switch c := out[head].(type) {
	case map[string]any:
		child = c
	case nil:
		child = map[string]any{}
	default:
		return nil, fmt.Errorf("%q holds a value, not keys", head)
	}
	sub, err := setPath(child, path[1:], value)
	if err != nil {
		return nil, err
	}
	out[head] = sub
	return out, nil
}

func decodeValues(m map[string]any, namespace string) (Values, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return Values{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var v Values
	if err := dec.Decode(&v); err != nil {
		return Values{}, err
	}
	v.Namespace = namespace
	return v, nil
}
