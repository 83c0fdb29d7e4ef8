package tfprovider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// trustDomainResource is meshfed_trust_domain: where the control plane
// gets a trust domain's SPIFFE bundle. Either the bundle itself (bundle or
// bundle_file, `meshfed trust set`), or a SPIFFE bundle endpoint the
// control plane fetches it from (bundle_endpoint, `meshfed trust
// endpoint`); with profile https_spiffe, bundle or bundle_file may also
// give the bootstrap bundle that authenticates the endpoint.
type trustDomainResource struct{ api *apiClient }

var (
	_ resource.ResourceWithConfigure        = (*trustDomainResource)(nil)
	_ resource.ResourceWithImportState      = (*trustDomainResource)(nil)
	_ resource.ResourceWithConfigValidators = (*trustDomainResource)(nil)
	_ resource.ResourceWithValidateConfig   = (*trustDomainResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*trustDomainResource)(nil)
)

func newTrustDomainResource() resource.Resource { return &trustDomainResource{} }

type trustDomainModel struct {
	ID             types.String         `tfsdk:"id"`
	TrustDomain    types.String         `tfsdk:"trust_domain"`
	Bundle         types.String         `tfsdk:"bundle"`
	BundleFile     types.String         `tfsdk:"bundle_file"`
	BundleEndpoint *bundleEndpointModel `tfsdk:"bundle_endpoint"`
	JWKS           types.String         `tfsdk:"jwks"`
	Sequence       types.Int64          `tfsdk:"sequence"`
	Source         types.String         `tfsdk:"source"`
}

type bundleEndpointModel struct {
	URL              types.String `tfsdk:"url"`
	Profile          types.String `tfsdk:"profile"`
	EndpointSPIFFEID types.String `tfsdk:"endpoint_spiffe_id"`
}

var (
	pathBundle     = path.Root("bundle")
	pathBundleFile = path.Root("bundle_file")
	pathEndpoint   = path.Root("bundle_endpoint")
	// stored are the attributes that show what the control plane holds.
	storedPaths = []path.Path{path.Root("jwks"), path.Root("sequence"), path.Root("source")}
)

var trustDomainFields = fieldPaths{
	"trust_domain":                 path.Root("trust_domain"),
	"bundle trust_domain":          path.Root("trust_domain"),
	"bundle endpoint trust_domain": path.Root("trust_domain"),
	"url":                          pathEndpoint.AtName("url"),
	"profile":                      pathEndpoint.AtName("profile"),
	"endpoint_spiffe_id":           pathEndpoint.AtName("endpoint_spiffe_id"),
	"jwks":                         pathBundle,
	"x509 authority":               pathBundle,
	"jwt authority":                pathBundle,
}

func (r *trustDomainResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_trust_domain"
}

func (r *trustDomainResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	bundleUse := " Set one of bundle, bundle_file and bundle_endpoint; with profile https_spiffe, bundle or bundle_file may go with " +
		"bundle_endpoint as its bootstrap bundle, which is written only while the control plane holds no bundle for the trust domain."
	resp.Schema = rschema.Schema{
		Description: "The SPIFFE trust bundle of a trust domain, which the control plane federates to every gateway: either the " +
			"bundle itself (`meshfed trust set`) or the SPIFFE bundle endpoint the control plane fetches it from and refreshes " +
			"(`meshfed trust endpoint`). Destroying it deletes the stored bundle and the endpoint configuration. Import with the trust domain name.",
		Attributes: map[string]rschema.Attribute{
			"id": rschema.StringAttribute{
				Computed:      true,
				Description:   "The trust domain name; also the ID for terraform import.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"trust_domain": rschema.StringAttribute{
				Required:      true,
				Description:   "SPIFFE trust domain name, for example eu-1.example.org. It may not be the control plane's own. Changing it replaces the resource.",
				Validators:    []validator.String{trustDomain()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"bundle": rschema.StringAttribute{
				Optional: true,
				Description: "The trust bundle: a SPIFFE bundle document (JWKS, as `spire-server bundle show -format spiffe` prints it) or " +
					"PEM CA certificates, typically file(\"eu-1-bundle.json\"). A document without spiffe_sequence (PEM always) is stored " +
					"with the stored sequence + 1. The plan compares it with what the control plane holds by its keys, so a bundle " +
					"changed with the CLI shows as drift in jwks." + bundleUse,
			},
			"bundle_file": rschema.StringAttribute{
				Optional: true,
				Description: "Path of a file holding the trust bundle (JWKS or PEM, as for bundle), relative to the directory Terraform " +
					"runs in. The provider reads it at every plan, so a changed file plans an update." + bundleUse,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"bundle_endpoint": rschema.SingleNestedAttribute{
				Optional: true,
				Description: "A SPIFFE bundle endpoint to fetch the bundle from. The elected control-plane replica fetches it at once, " +
					"then per the bundle's refresh hint (10 s to 1 h), keeping the last good bundle; `meshfed trust list` shows fetch errors." + bundleUse,
				Attributes: map[string]rschema.Attribute{
					"url": rschema.StringAttribute{
						Required:    true,
						Description: "https URL of the bundle endpoint, for example https://spire.eu-1.example.org:8443.",
					},
					"profile": rschema.StringAttribute{
						Required: true,
						Description: "How the endpoint is authenticated: https_web (Web PKI, the system roots) or https_spiffe (the trust " +
							"domain's stored bundle and endpoint_spiffe_id; give a bootstrap bundle with bundle or bundle_file).",
					},
					"endpoint_spiffe_id": rschema.StringAttribute{
						Optional:    true,
						Description: "SPIFFE ID of the endpoint, for example spiffe://eu-1.example.org/spire/server. Required with https_spiffe, not allowed with https_web.",
						Validators:  []validator.String{spiffeID()},
					},
				},
			},
			"jwks": rschema.StringAttribute{
				Computed: true,
				Description: "The SPIFFE bundle document (JWKS) the control plane holds now, whoever wrote it (Terraform, the CLI, " +
					"a gateway of the trust domain or the endpoint fetcher). Null while none is stored.",
			},
			"sequence": rschema.Int64Attribute{
				Computed:    true,
				Description: "spiffe_sequence of the stored bundle. Null while none is stored.",
			},
			"source": rschema.StringAttribute{
				Computed:    true,
				Description: "Who wrote the stored bundle: admin (Terraform or the CLI), gateway <SPIFFE ID> or endpoint <URL>.",
			},
		},
	}
}

func (r *trustDomainResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.AtLeastOneOf(path.MatchRoot("bundle"), path.MatchRoot("bundle_file"), path.MatchRoot("bundle_endpoint")),
		resourcevalidator.Conflicting(path.MatchRoot("bundle"), path.MatchRoot("bundle_file")),
	}
}

// ValidateConfig checks the bundle (reading bundle_file) and the endpoint
// with the control plane's rules, and that a bundle goes with an endpoint
// only as the bootstrap bundle of https_spiffe.
func (r *trustDomainResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m trustDomainConfig
	resp.Diagnostics.Append(m.load(ctx, req.Config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	td := m.trustDomain
	if !m.tdKnown || schema.ValidateTrustDomain("", "trust_domain", td) != nil {
		return // the trust_domain validator says why
	}
	if _, p, err := m.desired(); err != nil {
		resp.Diagnostics.AddAttributeError(p, invalidValue, err.Error())
	}
	e := m.endpoint
	if e == nil || e.URL.IsUnknown() || e.Profile.IsUnknown() || e.EndpointSPIFFEID.IsUnknown() {
		return
	}
	err := schema.ValidateBundleEndpoint(&meshfedv1.BundleEndpoint{
		TrustDomain: td, Url: e.URL.ValueString(), Profile: e.Profile.ValueString(), EndpointSpiffeId: e.EndpointSPIFFEID.ValueString(),
	})
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		p := pathEndpoint.AtName(fe.Field)
		resp.Diagnostics.AddAttributeError(p, invalidValue, fieldMessage(p, err))
	} else if err != nil {
		resp.Diagnostics.AddAttributeError(pathEndpoint, invalidValue, err.Error())
	}
	if e.Profile.ValueString() == schema.ProfileHTTPSWeb {
		for _, p := range []struct {
			path path.Path
			set  bool
		}{{pathBundle, !m.bundle.IsNull()}, {pathBundleFile, !m.bundleFile.IsNull()}} {
			if p.set {
				resp.Diagnostics.AddAttributeError(p.path, "Invalid Attribute Combination",
					fmt.Sprintf("%s goes with bundle_endpoint only as the bootstrap bundle of profile https_spiffe; with https_web the endpoint is "+
						"authenticated with Web PKI and the bundle comes from it. Remove %s, or remove bundle_endpoint to set the bundle yourself.", p.path, p.path))
			}
		}
	}
}

// trustDomainConfig is the part of a config or plan the checks need, read
// attribute by attribute because values may be unknown.
type trustDomainConfig struct {
	trustDomain string
	tdKnown     bool
	bundle      types.String
	bundleFile  types.String
	endpoint    *bundleEndpointModel
	// endpointUnknown is true when bundle_endpoint as a whole is unknown.
	endpointUnknown bool
}

func (m *trustDomainConfig) load(ctx context.Context, g getter) diag.Diagnostics {
	var diags diag.Diagnostics
	var td types.String
	var ep types.Object
	diags.Append(g.GetAttribute(ctx, path.Root("trust_domain"), &td)...)
	diags.Append(g.GetAttribute(ctx, pathBundle, &m.bundle)...)
	diags.Append(g.GetAttribute(ctx, pathBundleFile, &m.bundleFile)...)
	diags.Append(g.GetAttribute(ctx, pathEndpoint, &ep)...)
	if diags.HasError() {
		return diags
	}
	m.trustDomain, m.tdKnown = td.ValueString(), !td.IsUnknown() && !td.IsNull()
	m.endpointUnknown = ep.IsUnknown()
	if !ep.IsNull() && !ep.IsUnknown() {
		m.endpoint = &bundleEndpointModel{}
		diags.Append(g.GetAttribute(ctx, pathEndpoint, m.endpoint)...)
	}
	return diags
}

// desired parses the configured bundle. It returns nil without an error
// when none is configured or its value is not known yet; an error comes
// with the attribute it is about.
func (m *trustDomainConfig) desired() (*desiredBundle, path.Path, error) {
	switch {
	case !m.bundle.IsNull() && !m.bundle.IsUnknown():
		d, err := parseBundle(m.trustDomain, []byte(m.bundle.ValueString()))
		if err != nil {
			return nil, pathBundle, fmt.Errorf("bundle %v", err)
		}
		return d, pathBundle, nil
	case !m.bundleFile.IsNull() && !m.bundleFile.IsUnknown():
		name := m.bundleFile.ValueString()
		data, err := readBundleFile(name)
		if err != nil {
			hint := ""
			if !filepath.IsAbs(name) {
				hint = fmt.Sprintf(` (a relative path is taken from the directory Terraform runs in; for a file next to the configuration write "${path.module}/%s")`, name)
			}
			return nil, pathBundleFile, fmt.Errorf("bundle_file %q cannot be read%s: %v", name, hint, err)
		}
		d, err := parseBundle(m.trustDomain, data)
		if err != nil {
			return nil, pathBundleFile, fmt.Errorf("bundle_file %q %v", name, err)
		}
		return d, pathBundleFile, nil
	}
	return nil, path.Empty(), nil
}

// ModifyPlan decides whether the stored bundle changes. Without an
// endpoint the configured bundle is compared with the stored one by its
// keys (read from bundle_file now): equal keeps jwks, sequence and source
// as they are, different plans an update that rewrites them. With an
// endpoint the fetcher owns the bundle: a bootstrap bundle is written only
// when none is stored, never over one the fetcher got (it would be older).
func (r *trustDomainResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || req.State.Raw.IsNull() {
		return // destroy, or create: jwks, sequence and source are unknown
	}
	var plan trustDomainConfig
	resp.Diagnostics.Append(plan.load(ctx, req.Plan)...)
	var prior trustDomainModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	change := false
	switch {
	case plan.endpointUnknown || plan.bundle.IsUnknown() || plan.bundleFile.IsUnknown():
		change = true
	case plan.endpoint == nil:
		d, p, err := plan.desired()
		if err != nil {
			resp.Diagnostics.AddAttributeError(p, invalidValue, err.Error())
			return
		}
		change = d == nil || prior.JWKS.IsNull() || !d.matches(plan.trustDomain, []byte(prior.JWKS.ValueString()))
	default:
		// A bootstrap bundle only seeds a trust domain that has none.
		change = prior.JWKS.IsNull() && (!plan.bundle.IsNull() || !plan.bundleFile.IsNull())
	}
	if change {
		for _, p := range storedPaths {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, p, unknownOf(p))...)
		}
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("jwks"), prior.JWKS)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("sequence"), prior.Sequence)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("source"), prior.Source)...)
}

func unknownOf(p path.Path) any {
	if p.Equal(path.Root("sequence")) {
		return types.Int64Unknown()
	}
	return types.StringUnknown()
}

func (r *trustDomainResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.api = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func describeTrustDomain(td string) string { return fmt.Sprintf("trust domain %q", td) }

// fetchStored returns the stored bundle and endpoint of td; nil when none.
func (r *trustDomainResource) fetchStored(ctx context.Context, td string) (*meshfedv1.Bundle, *meshfedv1.BundleEndpoint, error) {
	var bundle *meshfedv1.Bundle
	got, err := r.api.admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: td})
	switch {
	case err == nil:
		bundle = got.GetBundle()
	case !isNotFound(err):
		return nil, nil, err
	}
	eps, err := r.api.admin.ListBundleEndpoints(ctx, &meshfedv1.ListBundleEndpointsRequest{})
	if err != nil {
		return nil, nil, err
	}
	for _, e := range eps.GetEndpoints() {
		if e.GetTrustDomain() == td {
			return bundle, e, nil
		}
	}
	return bundle, nil, nil
}

func (r *trustDomainResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var plan trustDomainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	td := plan.TrustDomain.ValueString()
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	bundle, endpoint, err := r.fetchStored(ctx, td)
	if err != nil {
		r.api.addCallError(&resp.Diagnostics, err, "create", describeTrustDomain(td), trustDomainFields)
		return
	}
	if bundle != nil || endpoint != nil {
		held := fmt.Sprintf("a bundle (sequence %d, written by %s)", bundle.GetSequence(), bundle.GetSource())
		if bundle == nil {
			held = "a bundle endpoint (" + endpoint.GetUrl() + ")"
		}
		resp.Diagnostics.AddAttributeError(path.Root("trust_domain"), "Trust domain already configured",
			fmt.Sprintf("The control plane already holds %s for %s (set with `meshfed trust set`, `meshfed cluster add --bundle`, "+
				"pushed by a gateway, or managed by another Terraform state). To manage it here, import it: terraform import ADDRESS %s",
				held, describeTrustDomain(td), td))
		return
	}
	r.apply(ctx, &plan, nil, nil, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *trustDomainResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var plan, prior trustDomainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	bundle, _, err := r.fetchStored(ctx, plan.TrustDomain.ValueString())
	if err != nil {
		r.api.addCallError(&resp.Diagnostics, err, "update", describeTrustDomain(plan.TrustDomain.ValueString()), trustDomainFields)
		return
	}
	r.apply(ctx, &plan, &prior, bundle, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply makes the control plane hold what plan says and fills plan's
// unknown jwks, sequence and source. prior is nil on create; stored is
// the bundle stored now (nil for none).
func (r *trustDomainResource) apply(ctx context.Context, plan, prior *trustDomainModel, stored *meshfedv1.Bundle, diags *diag.Diagnostics) {
	td := plan.TrustDomain.ValueString()
	what := describeTrustDomain(td)
	action := "update"
	if prior == nil {
		action = "create"
	}
	plan.ID = types.StringValue(td)

	// The endpoint first: removing it before writing a bundle keeps the
	// fetcher from overwriting that bundle.
	switch want := endpointFromModel(td, plan.BundleEndpoint); {
	case want == nil && prior != nil && prior.BundleEndpoint != nil:
		if _, err := r.api.admin.DeleteBundleEndpoint(ctx, &meshfedv1.DeleteBundleEndpointRequest{TrustDomain: td}); err != nil && !isNotFound(err) {
			r.api.addCallError(diags, err, action, "bundle endpoint of "+what, trustDomainFields)
			return
		}
	case want != nil && (prior == nil || !endpointEqual(want, endpointFromModel(td, prior.BundleEndpoint))):
		if _, err := r.api.admin.PutBundleEndpoint(ctx, &meshfedv1.PutBundleEndpointRequest{Endpoint: want}); err != nil {
			r.api.addCallError(diags, err, action, "bundle endpoint of "+what, trustDomainFields)
			return
		}
	}

	// Then the bundle, when the plan left the stored values unknown; known
	// values mean the plan found nothing to write.
	if !plan.JWKS.IsUnknown() {
		return
	}
	cfg := trustDomainConfig{trustDomain: td, tdKnown: true, bundle: plan.Bundle, bundleFile: plan.BundleFile}
	d, p, err := cfg.desired()
	if err != nil {
		diags.AddAttributeError(p, fmt.Sprintf("Cannot %s %s", action, what), err.Error())
		return
	}
	if plan.BundleEndpoint != nil && stored != nil {
		d = nil // a bootstrap bundle never replaces one stored
	}
	if d != nil && (stored == nil || !d.matches(td, stored.GetJwks())) {
		if seq, ok := d.bundle.SequenceNumber(); ok && seq < stored.GetSequence() {
			diags.AddAttributeError(p, fmt.Sprintf("Cannot %s %s", action, what),
				fmt.Sprintf("%s has spiffe_sequence %d, lower than the stored bundle's %d (written by %s): the control plane refuses to roll a bundle back. "+
					"Raise spiffe_sequence above %d, or remove it and the provider uses the next one.",
					p, seq, stored.GetSequence(), stored.GetSource(), stored.GetSequence()))
			return
		}
		doc, err := d.document(stored)
		if err != nil {
			diags.AddAttributeError(p, fmt.Sprintf("Cannot %s %s", action, what), fmt.Sprintf("Encoding the bundle as a SPIFFE bundle document: %v", err))
			return
		}
		got, err := r.api.admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: td, Jwks: doc}})
		if err != nil {
			fields := trustDomainFields
			if p.Equal(pathBundleFile) {
				fields = fieldPaths{"bundle trust_domain": path.Root("trust_domain"), "jwks": p, "x509 authority": p, "jwt authority": p}
			}
			r.api.addCallError(diags, err, action, "the bundle of "+what, fields)
			return
		}
		stored = got.GetBundle()
	}
	setStored(plan, stored)
}

// setStored fills jwks, sequence and source from a stored bundle.
func setStored(m *trustDomainModel, b *meshfedv1.Bundle) {
	if b == nil {
		m.JWKS, m.Sequence, m.Source = types.StringNull(), types.Int64Null(), types.StringNull()
		return
	}
	seq := b.GetSequence()
	if seq > math.MaxInt64 {
		seq = math.MaxInt64
	}
	m.JWKS = types.StringValue(string(b.GetJwks()))
	m.Sequence = types.Int64Value(int64(seq))
	m.Source = optString(b.GetSource())
}

func endpointFromModel(td string, m *bundleEndpointModel) *meshfedv1.BundleEndpoint {
	if m == nil {
		return nil
	}
	return &meshfedv1.BundleEndpoint{TrustDomain: td, Url: m.URL.ValueString(), Profile: m.Profile.ValueString(), EndpointSpiffeId: m.EndpointSPIFFEID.ValueString()}
}

func endpointEqual(a, b *meshfedv1.BundleEndpoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.GetUrl() == b.GetUrl() && a.GetProfile() == b.GetProfile() && a.GetEndpointSpiffeId() == b.GetEndpointSpiffeId()
}

func endpointToModel(e *meshfedv1.BundleEndpoint) *bundleEndpointModel {
	if e == nil {
		return nil
	}
	return &bundleEndpointModel{
		URL:              types.StringValue(e.GetUrl()),
		Profile:          types.StringValue(e.GetProfile()),
		EndpointSPIFFEID: optString(e.GetEndpointSpiffeId()),
	}
}

func (r *trustDomainResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var m trustDomainModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	td := m.TrustDomain.ValueString()
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	bundle, endpoint, err := r.fetchStored(ctx, td)
	if err != nil {
		r.api.addCallError(&resp.Diagnostics, err, "read", describeTrustDomain(td), trustDomainFields)
		return
	}
	if bundle == nil && endpoint == nil {
		resp.State.RemoveResource(ctx) // deleted outside Terraform: plan it again
		return
	}
	m.ID = types.StringValue(td)
	m.BundleEndpoint = endpointToModel(endpoint)
	setStored(&m, bundle)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *trustDomainResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var td types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("trust_domain"), &td)...)
	if resp.Diagnostics.HasError() {
		return
	}
	what := describeTrustDomain(td.ValueString())
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	// The endpoint first, so the fetcher does not store the bundle again.
	if _, err := r.api.admin.DeleteBundleEndpoint(ctx, &meshfedv1.DeleteBundleEndpointRequest{TrustDomain: td.ValueString()}); err != nil && !isNotFound(err) {
		r.api.addCallError(&resp.Diagnostics, err, "delete", "the bundle endpoint of "+what, trustDomainFields)
		return
	}
	if _, err := r.api.admin.DeleteBundle(ctx, &meshfedv1.DeleteBundleRequest{TrustDomain: td.ValueString()}); err != nil && !isNotFound(err) {
		r.api.addCallError(&resp.Diagnostics, err, "delete", "the bundle of "+what, trustDomainFields)
	}
}

func (r *trustDomainResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := schema.ValidateTrustDomain("", "import ID", req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("%v. A meshfed_trust_domain is imported by its trust domain name: terraform import ADDRESS eu-1.example.org", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("trust_domain"), req.ID)...)
}
