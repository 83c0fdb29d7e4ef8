package tfprovider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// A policy resource holds the policy of one kind for one service. The
// document's fields are attributes of the resource (not a JSON string),
// so a plan validates each of them where it is written and shows which
// field changed; the provider encodes them as the JSON document the
// control plane stores, and decodes whatever document it holds (written
// by Terraform or by `meshfed policy put`) back into attributes.

// getter reads one attribute of a plan, state or config.
type getter interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}

// policySpec is what differs between the policy kinds.
type policySpec struct {
	kind        string // schema.PolicyFailover or schema.PolicyAuthorization
	typeName    string // suffix after the provider name
	description string
	attributes  map[string]rschema.Attribute
	// encode reads the kind's attributes and returns the document, or nil
	// with no diagnostics when some value is not known yet.
	encode func(ctx context.Context, g getter) ([]byte, diag.Diagnostics)
	// decode writes the document's fields into state; prior (the plan or
	// the previous state) only decides how empty values are shown.
	decode func(ctx context.Context, doc []byte, prior getter, state *tfsdk.State) diag.Diagnostics
}

// policyResource is meshfed_failover_policy or meshfed_authorization_policy.
type policyResource struct {
	api  *apiClient
	spec policySpec
}

var (
	_ resource.ResourceWithConfigure      = (*policyResource)(nil)
	_ resource.ResourceWithImportState    = (*policyResource)(nil)
	_ resource.ResourceWithValidateConfig = (*policyResource)(nil)
)

func (r *policyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + r.spec.typeName
}

func (r *policyResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]rschema.Attribute{
		"id": rschema.StringAttribute{
			Computed:      true,
			Description:   "NAMESPACE/NAME of the service; also the ID for terraform import.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		},
		"namespace": rschema.StringAttribute{
			Required:      true,
			Description:   "Namespace of the service the policy applies to, a DNS-1123 label. Changing it replaces the policy.",
			Validators:    []validator.String{dnsLabel()},
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
		"name": rschema.StringAttribute{
			Required:      true,
			Description:   "Name of the service the policy applies to, a DNS-1123 label. Changing it replaces the policy.",
			Validators:    []validator.String{dnsLabel()},
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
	}
	for k, v := range r.spec.attributes {
		attrs[k] = v
	}
	resp.Schema = rschema.Schema{Description: r.spec.description, Attributes: attrs}
}

func (r *policyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.api = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig runs the control plane's whole-document check when every
// value is known, and reports what no attribute validator sees (the
// document's size, say); the attribute validators apply the same rules
// to single fields and name them.
func (r *policyResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	if !req.Config.Raw.IsFullyKnown() {
		return
	}
	doc, diags := r.spec.encode(ctx, req.Config)
	if diags.HasError() || doc == nil {
		return // reported by the attribute validators
	}
	var ns, name types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("namespace"), &ns)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() || !schema.IsDNSLabel(ns.ValueString()) || !schema.IsDNSLabel(name.ValueString()) {
		return
	}
	p := &meshfedv1.Policy{Namespace: ns.ValueString(), Name: name.ValueString(), Kind: r.spec.kind, Document: doc}
	err := schema.ValidatePolicy(p)
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		if _, ok := documentFieldPath(fe.Field); ok {
			return // a field's own validator has reported it
		}
	}
	if err != nil {
		addPolicyError(&resp.Diagnostics, err)
	}
}

// addPolicyError reports a schema error about a document at the attribute
// its field names (`allow[2].cluster`), or at the resource when the field
// is about the whole document.
func addPolicyError(diags *diag.Diagnostics, err error) {
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		if p, ok := documentFieldPath(fe.Field); ok {
			diags.AddAttributeError(p, invalidValue, fieldMessage(p, err))
			return
		}
	}
	diags.AddError("Invalid policy", err.Error())
}

// documentFieldPath turns a document field as schema names it, such as
// "targets[0].region", "never[2]" or "weights key", into an attribute
// path. Set elements (never) and map keys are named by their attribute.
func documentFieldPath(field string) (path.Path, bool) {
	switch {
	case strings.HasPrefix(field, "label "):
		// A target's labels ("label key", "label env"); schema does not say
		// which target.
		return path.Root("targets"), true
	case strings.HasSuffix(field, " key"):
		field = strings.TrimSuffix(field, " key") // "weights key"
	}
	p := path.Empty()
	for _, part := range strings.Split(field, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		switch name {
		case "targets", "allow", "region", "cluster", "labels", "never", "weights", "max_shift_per_second", "trust_domain", "spiffe_id":
		default:
			return path.Empty(), false
		}
		p = p.AtName(name)
		if hasIdx && name != "never" {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			if err != nil {
				return path.Empty(), false
			}
			p = p.AtListIndex(i)
		}
	}
	return p, true
}

func policyRef(ns, name string) string { return ns + "/" + name }

func (r *policyResource) describe(ns, name string) string {
	return fmt.Sprintf("%s policy %s", r.spec.kind, policyRef(ns, name))
}

func (r *policyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.put(ctx, req.Plan, &resp.State, &resp.Diagnostics, true)
}

func (r *policyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.put(ctx, req.Plan, &resp.State, &resp.Diagnostics, false)
}

func (r *policyResource) put(ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, diags *diag.Diagnostics, create bool) {
	if r.api == nil {
		notConfigured(diags)
		return
	}
	var ns, name types.String
	diags.Append(plan.GetAttribute(ctx, path.Root("namespace"), &ns)...)
	diags.Append(plan.GetAttribute(ctx, path.Root("name"), &name)...)
	doc, d := r.spec.encode(ctx, plan)
	diags.Append(d...)
	if diags.HasError() {
		return
	}
	action := "update"
	if create {
		action = "create"
	}
	what := r.describe(ns.ValueString(), name.ValueString())
	p := &meshfedv1.Policy{Namespace: ns.ValueString(), Name: name.ValueString(), Kind: r.spec.kind, Document: doc}
	if err := schema.ValidatePolicy(p); err != nil {
		addPolicyError(diags, err)
		return
	}
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	if create {
		// The API replaces a policy without asking; refuse to take over one
		// written with the CLI or by another state.
		_, err := r.api.admin.GetPolicy(ctx, &meshfedv1.GetPolicyRequest{Namespace: p.Namespace, Name: p.Name, Kind: p.Kind})
		if err == nil {
			diags.AddAttributeError(path.Root("name"), "Policy already exists",
				fmt.Sprintf("The control plane already holds the %s (written with `meshfed policy put`, or by another Terraform state). "+
					"To manage it here, import it: terraform import ADDRESS %s", what, policyRef(p.Namespace, p.Name)))
			return
		}
		if !isNotFound(err) {
			r.api.addCallError(diags, err, action, what, nil)
			return
		}
	}
	got, err := r.api.admin.PutPolicy(ctx, &meshfedv1.PutPolicyRequest{Policy: p})
	if err != nil {
		r.api.addCallError(diags, err, action, what, fieldPaths{"namespace": path.Root("namespace"), "name": path.Root("name")})
		return
	}
	diags.Append(r.setState(ctx, got.GetPolicy(), plan, state)...)
}

// setState writes a stored policy into state.
func (r *policyResource) setState(ctx context.Context, p *meshfedv1.Policy, prior getter, state *tfsdk.State) diag.Diagnostics {
	var diags diag.Diagnostics
	diags.Append(state.SetAttribute(ctx, path.Root("id"), policyRef(p.GetNamespace(), p.GetName()))...)
	diags.Append(state.SetAttribute(ctx, path.Root("namespace"), p.GetNamespace())...)
	diags.Append(state.SetAttribute(ctx, path.Root("name"), p.GetName())...)
	diags.Append(r.spec.decode(ctx, p.GetDocument(), prior, state)...)
	return diags
}

func (r *policyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var ns, name types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("namespace"), &ns)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	got, err := r.api.admin.GetPolicy(ctx, &meshfedv1.GetPolicyRequest{Namespace: ns.ValueString(), Name: name.ValueString(), Kind: r.spec.kind})
	if isNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		r.api.addCallError(&resp.Diagnostics, err, "read", r.describe(ns.ValueString(), name.ValueString()), nil)
		return
	}
	resp.Diagnostics.Append(r.setState(ctx, got.GetPolicy(), req.State, &resp.State)...)
}

func (r *policyResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var ns, name types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("namespace"), &ns)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	_, err := r.api.admin.DeletePolicy(ctx, &meshfedv1.DeletePolicyRequest{Namespace: ns.ValueString(), Name: name.ValueString(), Kind: r.spec.kind})
	if err != nil && !isNotFound(err) {
		r.api.addCallError(&resp.Diagnostics, err, "delete", r.describe(ns.ValueString(), name.ValueString()), nil)
	}
}

// parsePolicyID splits an import ID NAMESPACE/NAME and validates both.
func parsePolicyID(id string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(id, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("import ID %q is not NAMESPACE/NAME (for example demo/api)", id)
	}
	if err := schema.ValidateName("", "import ID namespace", ns); err != nil {
		return "", "", err
	}
	if err := schema.ValidateName("", "import ID name", name); err != nil {
		return "", "", err
	}
	return ns, name, nil
}

func (r *policyResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ns, name, err := parsePolicyID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("%v. A meshfed%s is imported by the service it applies to: terraform import ADDRESS demo/api", err, r.spec.typeName))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), ns)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
}
