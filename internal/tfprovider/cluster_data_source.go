package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// clusterDataSource is data.meshfed_cluster: a cluster and its live
// gateways.
type clusterDataSource struct{ api *apiClient }

var _ datasource.DataSourceWithConfigure = (*clusterDataSource)(nil)

func newClusterDataSource() datasource.DataSource { return &clusterDataSource{} }

type clusterDataModel struct {
	Name             types.String   `tfsdk:"name"`
	TrustDomain      types.String   `tfsdk:"trust_domain"`
	Locality         *localityModel `tfsdk:"locality"`
	Labels           types.Map      `tfsdk:"labels"`
	GatewayAddresses types.List     `tfsdk:"gateway_addresses"`
	CreatedAt        types.String   `tfsdk:"created_at"`
	Live             types.Bool     `tfsdk:"live"`
	Gateways         []gatewayModel `tfsdk:"gateways"`
}

type gatewayModel struct {
	Name         types.String `tfsdk:"name"`
	SPIFFEID     types.String `tfsdk:"spiffe_id"`
	Addresses    types.List   `tfsdk:"addresses"`
	RegisteredAt types.String `tfsdk:"registered_at"`
}

func (d *clusterDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cluster"
}

func (d *clusterDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = dschema.Schema{
		Description: "Reads a registered cluster and the gateways of it that are live now (`meshfed cluster get`), " +
			"for example to configure something from a cluster another team manages.",
		Attributes: map[string]dschema.Attribute{
			"name": dschema.StringAttribute{
				Required:    true,
				Description: "Name of the cluster to read.",
				Validators:  []validator.String{dnsLabel()},
			},
			"trust_domain": dschema.StringAttribute{Computed: true, Description: descClusterTrustDomain},
			"locality": dschema.SingleNestedAttribute{
				Computed:    true,
				Description: descLocality,
				Attributes: map[string]dschema.Attribute{
					"provider": dschema.StringAttribute{Computed: true, Description: descProvider},
					"region":   dschema.StringAttribute{Computed: true, Description: descRegion},
					"zone":     dschema.StringAttribute{Computed: true, Description: "Zone; null when the cluster has none."},
				},
			},
			"labels":            dschema.MapAttribute{Computed: true, ElementType: types.StringType, Description: descLabels},
			"gateway_addresses": dschema.ListAttribute{Computed: true, ElementType: types.StringType, Description: descGatewayAddresses},
			"created_at":        dschema.StringAttribute{Computed: true, Description: descCreatedAt},
			"live": dschema.BoolAttribute{
				Computed:    true,
				Description: "Whether at least one gateway of the cluster holds a live presence lease now.",
			},
			"gateways": dschema.ListNestedAttribute{
				Computed:    true,
				Description: "The cluster's live gateways, those heartbeating to the control plane now.",
				NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
					"name":          dschema.StringAttribute{Computed: true, Description: "Gateway name, unique within the cluster."},
					"spiffe_id":     dschema.StringAttribute{Computed: true, Description: "SPIFFE ID the gateway authenticated with."},
					"addresses":     dschema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "Addresses the gateway registered."},
					"registered_at": dschema.StringAttribute{Computed: true, Description: "When the gateway registered (RFC 3339)."},
				}},
			},
		},
	}
}

func (d *clusterDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.api = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *clusterDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	if d.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var name types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := d.api.bound(ctx)
	defer cancel()
	got, err := d.api.admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: name.ValueString()})
	if err != nil {
		d.api.addCallError(&resp.Diagnostics, err, "read", describeCluster(name.ValueString()), clusterFields)
		return
	}
	m := clusterDataToModel(got)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func clusterDataToModel(got *meshfedv1.GetClusterResponse) clusterDataModel {
	c := clusterToModel(got.GetCluster(), nil)
	m := clusterDataModel{
		Name: c.Name, TrustDomain: c.TrustDomain, Locality: c.Locality, CreatedAt: c.CreatedAt,
		// A data source shows "none" as empty, not null, so that
		// length() and for expressions work without a null check.
		Labels:           stringMapValue(got.GetCluster().GetLabels(), types.MapValueMust(types.StringType, map[string]attr.Value{})),
		GatewayAddresses: stringListValue(got.GetCluster().GetGatewayAddresses(), types.ListValueMust(types.StringType, []attr.Value{})),
		Live:             types.BoolValue(len(got.GetGateways()) > 0),
		Gateways:         []gatewayModel{},
	}
	for _, g := range got.GetGateways() {
		m.Gateways = append(m.Gateways, gatewayModel{
			Name:         types.StringValue(schema.PresenceName(g.GetGateway(), g.GetInstance())),
			SPIFFEID:     types.StringValue(g.GetSpiffeId()),
			Addresses:    types.ListValueMust(types.StringType, stringValues(g.GetAddresses())),
			RegisteredAt: timeString(g.GetRegisteredAt()),
		})
	}
	return m
}
