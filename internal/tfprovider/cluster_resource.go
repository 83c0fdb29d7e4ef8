package tfprovider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
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

// clusterResource is meshfed_cluster.
type clusterResource struct{ api *apiClient }

var (
	_ resource.ResourceWithConfigure   = (*clusterResource)(nil)
	_ resource.ResourceWithImportState = (*clusterResource)(nil)
)

func newClusterResource() resource.Resource { return &clusterResource{} }

func (r *clusterResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cluster"
}

func (r *clusterResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = rschema.Schema{
		Description: "A cluster of the clusterset: one Kubernetes cluster or host group, with the SPIFFE trust domain of its workloads, " +
			"where it runs and its east-west gateways (`meshfed cluster add`). Destroying it also removes every service it exports, " +
			"the presence of its gateways and its drains; the trust bundle of its trust domain stays. Import with the cluster's name.",
		Attributes: map[string]rschema.Attribute{
			"id": rschema.StringAttribute{
				Computed:      true,
				Description:   "The cluster's name; also the ID for terraform import.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": rschema.StringAttribute{
				Required:      true,
				Description:   descClusterName,
				Validators:    []validator.String{dnsLabel()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"trust_domain": rschema.StringAttribute{
				Required:    true,
				Description: descClusterTrustDomain,
				Validators:  []validator.String{trustDomain()},
			},
			"locality": rschema.SingleNestedAttribute{
				Required:    true,
				Description: descLocality,
				Attributes: map[string]rschema.Attribute{
					"provider": rschema.StringAttribute{Required: true, Description: descProvider, Validators: []validator.String{localityProvider()}},
					"region":   rschema.StringAttribute{Required: true, Description: descRegion, Validators: []validator.String{region()}},
					"zone":     rschema.StringAttribute{Optional: true, Description: descZone, Validators: []validator.String{zone()}},
				},
			},
			"labels": rschema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: descLabels + fmt.Sprintf(" At most %d.", schema.MaxLabels),
				Validators:  []validator.Map{mapvalidator.SizeAtMost(schema.MaxLabels), labels()},
			},
			"gateway_addresses": rschema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: descGatewayAddresses + fmt.Sprintf(" At most %d.", schema.MaxGatewayAddrs),
				Validators: []validator.List{
					listvalidator.SizeAtMost(schema.MaxGatewayAddrs),
					listvalidator.ValueStringsAre(hostPort()),
				},
			},
			"created_at": rschema.StringAttribute{
				Computed:      true,
				Description:   descCreatedAt,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *clusterResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.api = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *clusterResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.put(ctx, req.Plan, &resp.State, &resp.Diagnostics, true)
}

func (r *clusterResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.put(ctx, req.Plan, &resp.State, &resp.Diagnostics, false)
}

// put writes the planned cluster; create fails if it exists already, so
// Terraform never silently takes over a cluster added with the CLI.
func (r *clusterResource) put(ctx context.Context, planned tfsdk.Plan, state *tfsdk.State, diags *diag.Diagnostics, create bool) {
	if r.api == nil {
		notConfigured(diags)
		return
	}
	var plan clusterModel
	diags.Append(planned.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	action := "update"
	if create {
		action = "create"
	}
	what := describeCluster(plan.Name.ValueString())
	c, err := clusterFromModel(&plan)
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot %s %s", action, what), err.Error())
		return
	}
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	got, err := r.api.admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: c, CreateOnly: create})
	if create && isAlreadyExists(err) {
		diags.AddAttributeError(path.Root("name"), "Cluster already exists",
			fmt.Sprintf("The control plane already holds %s (added with `meshfed cluster add`, or by another Terraform state). "+
				"To manage it here, import it: terraform import ADDRESS %s", what, plan.Name.ValueString()))
		return
	}
	if err != nil {
		r.api.addCallError(diags, err, action, what, clusterFields)
		return
	}
	m := clusterToModel(got.GetCluster(), &plan)
	diags.Append(state.Set(ctx, &m)...)
}

func (r *clusterResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var prior clusterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := prior.Name.ValueString()
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	got, err := r.api.admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: name})
	if isNotFound(err) {
		resp.State.RemoveResource(ctx) // deleted outside Terraform: plan it again
		return
	}
	if err != nil {
		r.api.addCallError(&resp.Diagnostics, err, "read", describeCluster(name), clusterFields)
		return
	}
	m := clusterToModel(got.GetCluster(), &prior)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *clusterResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	if r.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var state clusterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	ctx, cancel := r.api.bound(ctx)
	defer cancel()
	if _, err := r.api.admin.DeleteCluster(ctx, &meshfedv1.DeleteClusterRequest{Name: name}); err != nil && !isNotFound(err) {
		r.api.addCallError(&resp.Diagnostics, err, "delete", describeCluster(name), clusterFields)
	}
}

func (r *clusterResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := schema.ValidateName("", "import ID", req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("%v. A meshfed_cluster is imported by its name, for example: terraform import meshfed_cluster.eu_1 eu-1", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
