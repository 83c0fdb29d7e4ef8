package tfprovider

import (
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Conversions between the API's Go values and Terraform values.
//
// The API does not tell an empty list or map from a missing one, but
// Terraform does: a configuration that says `labels = {}` must read back
// as {} and one that leaves labels out as null, or Terraform reports an
// inconsistent result. So when the control plane holds nothing, the
// *Value functions keep an empty value the prior state (or plan) had, and
// return null otherwise.

// stringOf returns the string in v when v is a known, non-null string.
func stringOf(v attr.Value) (string, bool) {
	s, ok := v.(types.String)
	if !ok || s.IsNull() || s.IsUnknown() {
		return "", false
	}
	return s.ValueString(), true
}

// optString is null for "".
func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// timeString formats a timestamp as RFC 3339, null when unset.
func timeString(ts *timestamppb.Timestamp) types.String {
	if ts == nil {
		return types.StringNull()
	}
	return types.StringValue(ts.AsTime().UTC().Format(time.RFC3339))
}

// emptyKnown reports whether v is known, not null and has no elements.
func emptyKnown(v interface {
	IsNull() bool
	IsUnknown() bool
}, n int) bool {
	return !v.IsNull() && !v.IsUnknown() && n == 0
}

// stringMapValue converts m, keeping prior's emptiness when m is empty.
func stringMapValue(m map[string]string, prior types.Map) types.Map {
	if len(m) == 0 {
		if emptyKnown(prior, len(prior.Elements())) {
			return types.MapValueMust(types.StringType, map[string]attr.Value{})
		}
		return types.MapNull(types.StringType)
	}
	elems := make(map[string]attr.Value, len(m))
	for k, v := range m {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}

// stringListValue converts xs, keeping prior's emptiness when xs is empty.
func stringListValue(xs []string, prior types.List) types.List {
	if len(xs) == 0 {
		if emptyKnown(prior, len(prior.Elements())) {
			return types.ListValueMust(types.StringType, []attr.Value{})
		}
		return types.ListNull(types.StringType)
	}
	return types.ListValueMust(types.StringType, stringValues(xs))
}

// stringSetValue converts xs, keeping prior's emptiness when xs is empty.
func stringSetValue(xs []string, prior types.Set) types.Set {
	if len(xs) == 0 {
		if emptyKnown(prior, len(prior.Elements())) {
			return types.SetValueMust(types.StringType, []attr.Value{})
		}
		return types.SetNull(types.StringType)
	}
	return types.SetValueMust(types.StringType, stringValues(xs))
}

func stringValues(xs []string) []attr.Value {
	out := make([]attr.Value, len(xs))
	for i, x := range xs {
		out[i] = types.StringValue(x)
	}
	return out
}

// goStrings returns the known string elements of a list or set, in order.
func goStrings(elems []attr.Value) []string {
	var out []string
	for _, e := range elems {
		if s, ok := stringOf(e); ok {
			out = append(out, s)
		}
	}
	return out
}

// goStringMap returns the known string elements of a map; nil for none.
func goStringMap(m types.Map) map[string]string {
	if m.IsNull() || m.IsUnknown() || len(m.Elements()) == 0 {
		return nil
	}
	out := make(map[string]string, len(m.Elements()))
	for k, v := range m.Elements() {
		if s, ok := stringOf(v); ok {
			out[k] = s
		}
	}
	return out
}

// sortedStrings returns a sorted copy of xs.
func sortedStrings(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}
