package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Policy kinds.
const (
	PolicyFailover      = "failover"
	PolicyAuthorization = "authorization"
)

// MaxPolicyBytes caps a policy document.
const MaxPolicyBytes = 64 << 10

// FailoverPolicy is the document of a "failover" policy. globallb
// interprets it; the control plane only checks its shape.
type FailoverPolicy struct {
	// Targets is the explicit failover order; each entry names a region, a
	// cluster or a label selector (exactly one).
	Targets []FailoverTarget `json:"targets,omitempty"`
	// Never lists clusters that must never receive the service.
	Never []string `json:"never,omitempty"`
	// Weights are per-cluster weights that still apply while failing over.
	Weights map[string]uint32 `json:"weights,omitempty"`
	// MaxShiftPerSecond caps the share of traffic (0-1] that may move to a
	// target per second; 0 means no cap.
	MaxShiftPerSecond float64 `json:"max_shift_per_second,omitempty"`
}

// FailoverTarget is one step of a failover order.
type FailoverTarget struct {
	Region  string            `json:"region,omitempty"`
	Cluster string            `json:"cluster,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// AuthorizationPolicy is the document of an "authorization" policy: which
// callers may reach the service through a gateway. An empty Allow list
// denies everybody.
type AuthorizationPolicy struct {
	Allow []AuthorizationRule `json:"allow"`
}

// AuthorizationRule matches callers; set fields must all match.
type AuthorizationRule struct {
	TrustDomain string `json:"trust_domain,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	// SPIFFEID is an exact SPIFFE ID, or a prefix ending in "/*".
	SPIFFEID string `json:"spiffe_id,omitempty"`
}

// ValidatePolicy checks a policy record and parses its document strictly:
// unknown fields, trailing data and wrong types are refused.
func ValidatePolicy(p *meshfedv1.Policy) error {
	if p == nil {
		return fieldErr("", "policy", "", "is missing")
	}
	if err := ValidateName("policy", "namespace", p.GetNamespace()); err != nil {
		return err
	}
	if err := ValidateName("policy "+p.GetNamespace(), "name", p.GetName()); err != nil {
		return err
	}
	obj := fmt.Sprintf("policy %s/%s", p.GetNamespace(), p.GetName())
	if len(p.GetDocument()) > MaxPolicyBytes {
		return fieldErr(obj, "document size", strconv.Itoa(len(p.GetDocument())), fmt.Sprintf("bytes is more than the %d allowed", MaxPolicyBytes))
	}
	switch p.GetKind() {
	case PolicyFailover:
		var f FailoverPolicy
		if err := decodeStrict(p.GetDocument(), &f); err != nil {
			return fieldErr(obj, "document", string(p.GetDocument()), "is not a valid failover policy: "+err.Error())
		}
		return validateFailover(obj, &f)
	case PolicyAuthorization:
		var a AuthorizationPolicy
		if err := decodeStrict(p.GetDocument(), &a); err != nil {
			return fieldErr(obj, "document", string(p.GetDocument()), "is not a valid authorization policy: "+err.Error())
		}
		return validateAuthorization(obj, &a)
	default:
		return fieldErr(obj, "kind", p.GetKind(), "is not one of failover, authorization")
	}
}

func decodeStrict(doc []byte, v any) error {
	if len(bytes.TrimSpace(doc)) == 0 || bytes.TrimSpace(doc)[0] != '{' {
		return fmt.Errorf("want a JSON object")
	}
	// encoding/json matches field names case-insensitively and lets a
	// repeated key win silently; a policy must mean the same to every
	// reader, so both are refused first.
	if err := checkKeys(doc); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

func validateFailover(obj string, f *FailoverPolicy) error {
	if len(f.Targets) > MaxPorts || len(f.Never) > MaxPorts || len(f.Weights) > MaxPorts {
		return fieldErr(obj, "document", "", fmt.Sprintf("has more than %d entries in a list", MaxPorts))
	}
	for i, t := range f.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		set := 0
		if t.Region != "" {
			set++
			if !isLocalityPart(t.Region) {
				return fieldErr(obj, field+".region", t.Region, "is not a valid region name")
			}
		}
		if t.Cluster != "" {
			set++
			if err := ValidateName(obj, field+".cluster", t.Cluster); err != nil {
				return err
			}
		}
		if len(t.Labels) > 0 {
			set++
			for k, v := range t.Labels {
				if err := ValidateLabel(obj, k, v); err != nil {
					return err
				}
			}
		}
		if set != 1 {
			return fieldErr(obj, field, fmt.Sprintf("%+v", t), "must set exactly one of region, cluster, labels")
		}
	}
	for i, c := range f.Never {
		if err := ValidateName(obj, fmt.Sprintf("never[%d]", i), c); err != nil {
			return err
		}
	}
	for c := range f.Weights {
		if err := ValidateName(obj, "weights key", c); err != nil {
			return err
		}
	}
	if f.MaxShiftPerSecond < 0 || f.MaxShiftPerSecond > 1 {
		return fieldErr(obj, "max_shift_per_second", strconv.FormatFloat(f.MaxShiftPerSecond, 'g', -1, 64), "is outside 0-1 (a share of traffic per second; 0 means no cap)")
	}
	return nil
}

func validateAuthorization(obj string, a *AuthorizationPolicy) error {
	if len(a.Allow) > MaxPorts {
		return fieldErr(obj, "allow", strconv.Itoa(len(a.Allow)), fmt.Sprintf("rules is more than the %d allowed", MaxPorts))
	}
	for i, r := range a.Allow {
		field := fmt.Sprintf("allow[%d]", i)
		if r.TrustDomain == "" && r.Cluster == "" && r.SPIFFEID == "" {
			return fieldErr(obj, field, "{}", "matches everybody; set trust_domain, cluster or spiffe_id")
		}
		if r.TrustDomain != "" {
			if err := ValidateTrustDomain(obj, field+".trust_domain", r.TrustDomain); err != nil {
				return err
			}
		}
		if r.Cluster != "" {
			if err := ValidateName(obj, field+".cluster", r.Cluster); err != nil {
				return err
			}
		}
		if r.SPIFFEID != "" {
			id := strings.TrimSuffix(r.SPIFFEID, "/*")
			if _, err := spiffeid.FromString(id); err != nil {
				return fieldErr(obj, field+".spiffe_id", r.SPIFFEID, "is not a SPIFFE ID or a SPIFFE ID prefix ending in /*")
			}
		}
	}
	return nil
}

// policyFields are the exact JSON field names of the policy documents.
var policyFields = map[string]bool{
	"targets": true, "region": true, "cluster": true, "labels": true, "never": true,
	"weights": true, "max_shift_per_second": true,
	"allow": true, "trust_domain": true, "spiffe_id": true,
}

// mapFields hold maps whose keys are data, not field names.
var mapFields = map[string]bool{"labels": true, "weights": true}

// checkKeys walks the document's tokens and refuses duplicate keys in any
// object and field names that are not exactly one of policyFields.
func checkKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		object  bool
		isMap   bool // keys are data
		keys    map[string]bool
		lastKey string
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			key, ok := tok.(string)
			if !ok { // the closing brace
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
				continue
			}
			if top.keys[key] {
				return fmt.Errorf("key %q appears twice in one object", key)
			}
			top.keys[key] = true
			if !top.isMap && !policyFields[key] {
				return fmt.Errorf("unknown field %q (field names are lower-case and exact)", key)
			}
			top.lastKey, top.wantKey = key, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			isMap := top != nil && top.object && mapFields[top.lastKey]
			stack = append(stack, &frame{object: true, isMap: isMap, keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value (or a closed array) ends; the enclosing object wants a key.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
}
