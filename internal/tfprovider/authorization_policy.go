package tfprovider

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/meshfed/meshfed/federation/schema"
)

func newAuthorizationPolicyResource() resource.Resource {
	return &policyResource{spec: policySpec{
		kind:     schema.PolicyAuthorization,
		typeName: "_authorization_policy",
		description: "The authorization policy of one service (`meshfed policy put NAMESPACE/NAME --kind authorization`): which callers " +
			"(by trust domain, cluster or SPIFFE ID) may reach it through a gateway. Without a policy every authenticated peer may; " +
			"with one, only callers matching a rule may. See docs/gateway.md. Import with NAMESPACE/NAME.",
		attributes: authorizationAttributes(),
		encode:     encodeAuthorization,
		decode:     decodeAuthorization,
	}}
}

type authorizationRuleModel struct {
	TrustDomain types.String `tfsdk:"trust_domain"`
	Cluster     types.String `tfsdk:"cluster"`
	SPIFFEID    types.String `tfsdk:"spiffe_id"`
}

var authorizationRuleType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"trust_domain": types.StringType,
	"cluster":      types.StringType,
	"spiffe_id":    types.StringType,
}}

func authorizationAttributes() map[string]rschema.Attribute {
	return map[string]rschema.Attribute{
		"allow": rschema.ListNestedAttribute{
			Required: true,
			Description: "Rules for the callers that may reach the service; a caller matching any rule is allowed. " +
				"Every attribute set in a rule must match, and a rule sets at least one. An empty list denies everybody." +
				fmt.Sprintf(" At most %d rules.", schema.MaxPorts),
			Validators: []validator.List{listvalidator.SizeAtMost(schema.MaxPorts)},
			NestedObject: rschema.NestedAttributeObject{
				Validators: []validator.Object{atLeastOne("trust_domain", "cluster", "spiffe_id")},
				Attributes: map[string]rschema.Attribute{
					"trust_domain": rschema.StringAttribute{
						Optional:    true,
						Description: "The caller's SPIFFE trust domain, for example partner.example.",
						Validators:  []validator.String{trustDomain()},
					},
					"cluster": rschema.StringAttribute{
						Optional:    true,
						Description: "The caller's cluster, by name.",
						Validators:  []validator.String{dnsLabel()},
					},
					"spiffe_id": rschema.StringAttribute{
						Optional: true,
						Description: "The caller's SPIFFE ID, exactly, or a prefix ending in /* " +
							"(spiffe://east.example/meshfed/gateway/east/* matches every gateway of east).",
						Validators: []validator.String{spiffeIDPattern()},
					},
				},
			},
		},
	}
}

func encodeAuthorization(ctx context.Context, g getter) ([]byte, diag.Diagnostics) {
	var diags diag.Diagnostics
	var allow types.List
	diags.Append(g.GetAttribute(ctx, path.Root("allow"), &allow)...)
	if diags.HasError() {
		return nil, diags
	}
	a := schema.AuthorizationPolicy{Allow: []schema.AuthorizationRule{}}
	var rules []authorizationRuleModel
	diags.Append(allow.ElementsAs(ctx, &rules, false)...)
	if diags.HasError() {
		return nil, diags
	}
	for _, r := range rules {
		a.Allow = append(a.Allow, schema.AuthorizationRule{
			TrustDomain: r.TrustDomain.ValueString(),
			Cluster:     r.Cluster.ValueString(),
			SPIFFEID:    r.SPIFFEID.ValueString(),
		})
	}
	doc, err := json.Marshal(a)
	if err != nil {
		diags.AddError("Cannot encode the authorization policy", err.Error())
		return nil, diags
	}
	return doc, diags
}

func decodeAuthorization(ctx context.Context, doc []byte, _ getter, state *tfsdk.State) diag.Diagnostics {
	var diags diag.Diagnostics
	var a schema.AuthorizationPolicy
	if err := json.Unmarshal(doc, &a); err != nil {
		diags.AddError("Cannot read the stored authorization policy",
			fmt.Sprintf("The control plane holds an authorization document that is not JSON (%v): %s", err, doc))
		return diags
	}
	diags.Append(state.SetAttribute(ctx, path.Root("allow"), authorizationValue(&a))...)
	return diags
}

// authorizationValue converts a document's rules; none is an empty list
// (allow is required, and an empty list means "deny everybody").
func authorizationValue(a *schema.AuthorizationPolicy) types.List {
	elems := make([]attr.Value, len(a.Allow))
	for i, r := range a.Allow {
		elems[i] = types.ObjectValueMust(authorizationRuleType.AttrTypes, map[string]attr.Value{
			"trust_domain": optString(r.TrustDomain),
			"cluster":      optString(r.Cluster),
			"spiffe_id":    optString(r.SPIFFEID),
		})
	}
	return types.ListValueMust(authorizationRuleType, elems)
}
