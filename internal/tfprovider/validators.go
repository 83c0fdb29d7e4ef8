package tfprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// The validators below run the control plane's own checks
// (federation/schema) at plan time. Their messages are the control
// plane's, with the field named by its attribute path, so
// `name = "Bad_Name"` fails the plan with
// `name "Bad_Name" is not a valid DNS-1123 label (...)` on that line.

const invalidValue = "Invalid Attribute Value"

// fieldMessage rewrites a schema error to name the attribute at p.
func fieldMessage(p path.Path, err error) string {
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		return fmt.Sprintf("%s %q %s.", p, fe.Value, fe.Reason)
	}
	return err.Error()
}

// stringCheck is a validator.String around a check of one value.
type stringCheck struct {
	desc  string
	check func(value string) error
}

func (v stringCheck) Description(context.Context) string         { return v.desc }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.desc }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, invalidValue, fieldMessage(req.Path, err))
	}
}

// dnsLabel accepts what the control plane accepts as a cluster,
// namespace or service name.
func dnsLabel() validator.String {
	return stringCheck{"must be a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)",
		func(v string) error { return schema.ValidateName("", "name", v) }}
}

func trustDomain() validator.String {
	return stringCheck{"must be a SPIFFE trust domain name (lowercase letters, digits, '.', '-', '_')",
		func(v string) error { return schema.ValidateTrustDomain("", "trust_domain", v) }}
}

// localityProvider and region check one part of a locality the way
// schema.ValidateLocality does, with the other part valid.
func localityProvider() validator.String {
	return stringCheck{"must be a provider name such as aws, gcp, azure or onprem",
		func(v string) error {
			return schema.ValidateLocality("", &meshfedv1.Locality{Provider: v, Region: "r"})
		}}
}

func region() validator.String {
	return stringCheck{"must be a region name such as eu-west-1",
		func(v string) error {
			return schema.ValidateLocality("", &meshfedv1.Locality{Provider: "p", Region: v})
		}}
}

func zone() validator.String {
	return stringCheck{"must be a zone name such as eu-west-1a",
		func(v string) error { return schema.ValidateZone("", "zone", v) }}
}

// hostPort accepts a gateway or control plane address.
func hostPort() validator.String {
	return stringCheck{"must be host:port, for example 10.0.0.1:15443 or gw.example.com:15443",
		func(v string) error { return schema.ValidateAddress("", "address", v) }}
}

func spiffeID() validator.String {
	return stringCheck{"must be a SPIFFE ID (spiffe://trust-domain/path)",
		func(v string) error {
			if _, err := spiffeid.FromString(v); err != nil {
				return &schema.FieldError{Field: "id", Value: v, Reason: "is not a SPIFFE ID (spiffe://trust-domain/path): " + err.Error()}
			}
			return nil
		}}
}

// spiffeIDPattern accepts what an authorization rule's spiffe_id accepts:
// an exact SPIFFE ID or a prefix ending in "/*". The check is the control
// plane's, run on a one-rule policy.
func spiffeIDPattern() validator.String {
	return stringCheck{"must be a SPIFFE ID, or a SPIFFE ID prefix ending in /*",
		func(v string) error {
			doc := fmt.Appendf(nil, `{"allow":[{"spiffe_id":%q}]}`, v)
			return schema.ValidatePolicy(&meshfedv1.Policy{Namespace: "n", Name: "n", Kind: schema.PolicyAuthorization, Document: doc})
		}}
}

func duration() validator.String {
	return stringCheck{"must be a positive duration such as 30s or 2m",
		func(v string) error {
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				return &schema.FieldError{Field: "timeout", Value: v, Reason: `is not a positive duration (for example "30s" or "2m")`}
			}
			return nil
		}}
}

// labelsCheck validates a map of Kubernetes-style labels.
type labelsCheck struct{}

func labels() validator.Map { return labelsCheck{} }

func (labelsCheck) Description(context.Context) string {
	return "keys and values must be Kubernetes label keys and values"
}
func (v labelsCheck) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (labelsCheck) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k, v := range req.ConfigValue.Elements() {
		s, ok := stringOf(v)
		if !ok {
			continue // unknown until apply
		}
		var fe *schema.FieldError
		err := schema.ValidateLabel("", k, s)
		switch {
		case err == nil:
		case errors.As(err, &fe) && fe.Field == "label key":
			resp.Diagnostics.AddAttributeError(req.Path, invalidValue, fmt.Sprintf("%s key %q %s.", req.Path, k, fe.Reason))
		default:
			p := req.Path.AtMapKey(k)
			resp.Diagnostics.AddAttributeError(p, invalidValue, fieldMessage(p, err))
		}
	}
}

// mapKeysCheck validates every key of a map with a string check.
type mapKeysCheck struct{ key stringCheck }

// clusterKeys requires map keys that are cluster names.
func clusterKeys() validator.Map {
	return mapKeysCheck{stringCheck{"keys must be cluster names (DNS-1123 labels)",
		func(v string) error { return schema.ValidateName("", "name", v) }}}
}

func (v mapKeysCheck) Description(ctx context.Context) string         { return v.key.desc }
func (v mapKeysCheck) MarkdownDescription(ctx context.Context) string { return v.key.desc }

func (v mapKeysCheck) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k := range req.ConfigValue.Elements() {
		if err := v.key.check(k); err != nil {
			var fe *schema.FieldError
			reason := err.Error()
			if errors.As(err, &fe) {
				reason = fe.Reason
			}
			resp.Diagnostics.AddAttributeError(req.Path, invalidValue, fmt.Sprintf("%s key %q %s.", req.Path, k, reason))
		}
	}
}

// objectAttrs checks how many of some attributes of a nested object are
// set, for objects such as a failover target that must set exactly one
// of region, cluster or labels. (The framework-validators object
// validators count the object itself as set, which does not fit here.)
type objectAttrs struct {
	names    []string
	min, max int
}

// exactlyOne requires exactly one of the named attributes.
func exactlyOne(names ...string) validator.Object { return objectAttrs{names, 1, 1} }

// atLeastOne requires at least one of the named attributes.
func atLeastOne(names ...string) validator.Object { return objectAttrs{names, 1, len(names)} }

func (v objectAttrs) Description(context.Context) string {
	if v.max == 1 {
		return "set exactly one of " + orList(v.names)
	}
	return "set at least one of " + orList(v.names)
}

func (v objectAttrs) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v objectAttrs) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	attrs := req.ConfigValue.Attributes()
	var set []string
	for _, n := range v.names {
		a, ok := attrs[n]
		if !ok || a.IsNull() {
			continue
		}
		if a.IsUnknown() {
			return // may or may not be set after apply
		}
		set = append(set, n)
	}
	if len(set) >= v.min && len(set) <= v.max {
		return
	}
	what := "sets none of them"
	if len(set) > 0 {
		what = "sets " + andList(set)
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Combination",
		fmt.Sprintf("%s %s: %s.", req.Path, what, v.Description(context.Background())))
}

func orList(xs []string) string  { return joinList(xs, "or") }
func andList(xs []string) string { return joinList(xs, "and") }

func joinList(xs []string, conj string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " " + conj + " " + xs[len(xs)-1]
}
