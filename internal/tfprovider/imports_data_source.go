package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/meshfed/meshfed/federation/imports"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// importsDataSource is data.meshfed_imports: the services the clusterset
// imports, derived by the control plane from every cluster's exports.
type importsDataSource struct{ api *apiClient }

var _ datasource.DataSourceWithConfigure = (*importsDataSource)(nil)

func newImportsDataSource() datasource.DataSource { return &importsDataSource{} }

type importsModel struct {
	Namespace types.String  `tfsdk:"namespace"`
	Imports   []importModel `tfsdk:"imports"`
}

type importModel struct {
	Namespace  types.String         `tfsdk:"namespace"`
	Name       types.String         `tfsdk:"name"`
	Ports      []portModel          `tfsdk:"ports"`
	Clusters   []importClusterModel `tfsdk:"clusters"`
	Conditions []conditionModel     `tfsdk:"conditions"`
	Conflict   types.Bool           `tfsdk:"conflict"`
}

type portModel struct {
	Name        types.String `tfsdk:"name"`
	Port        types.Int64  `tfsdk:"port"`
	Protocol    types.String `tfsdk:"protocol"`
	AppProtocol types.String `tfsdk:"app_protocol"`
}

type importClusterModel struct {
	Cluster         types.String     `tfsdk:"cluster"`
	Ready           types.Int64      `tfsdk:"ready"`
	Zones           []zoneModel      `tfsdk:"zones"`
	ExportCreatedAt types.String     `tfsdk:"export_created_at"`
	Conditions      []conditionModel `tfsdk:"conditions"`
}

type zoneModel struct {
	Zone  types.String `tfsdk:"zone"`
	Ready types.Int64  `tfsdk:"ready"`
}

type conditionModel struct {
	Type    types.String `tfsdk:"type"`
	Status  types.String `tfsdk:"status"`
	Reason  types.String `tfsdk:"reason"`
	Message types.String `tfsdk:"message"`
}

func (d *importsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_imports"
}

func conditionsAttribute(of string) dschema.ListNestedAttribute {
	return dschema.ListNestedAttribute{
		Computed:    true,
		Description: "Conditions of " + of + ", Kubernetes-style; type Conflict with status True when exports of the service disagree.",
		NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
			"type":    dschema.StringAttribute{Computed: true, Description: "Condition type, for example Conflict."},
			"status":  dschema.StringAttribute{Computed: true, Description: "True or False."},
			"reason":  dschema.StringAttribute{Computed: true, Description: "Machine-readable reason in CamelCase, for example PortConflict."},
			"message": dschema.StringAttribute{Computed: true, Description: "What is wrong, naming the port, both definitions and the winning cluster."},
		}},
	}
}

func (d *importsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = dschema.Schema{
		Description: "Lists the services the clusterset imports (`meshfed import list`): for each exported NAMESPACE/NAME, the union of " +
			"its exports, the clusters that serve it with their ready endpoints, and conflicts between exports (the oldest export wins).",
		Attributes: map[string]dschema.Attribute{
			"namespace": dschema.StringAttribute{
				Optional:    true,
				Description: "Only imports in this namespace. All namespaces when left out.",
				Validators:  []validator.String{dnsLabel()},
			},
			"imports": dschema.ListNestedAttribute{
				Computed:    true,
				Description: "The imports, sorted by namespace and name.",
				NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
					"namespace": dschema.StringAttribute{Computed: true, Description: "Namespace of the service."},
					"name":      dschema.StringAttribute{Computed: true, Description: "Name of the service."},
					"ports": dschema.ListNestedAttribute{
						Computed:    true,
						Description: "Ports of the service: the union of the winning export definitions.",
						NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
							"name":         dschema.StringAttribute{Computed: true, Description: "Port name; null for the single unnamed port of a service."},
							"port":         dschema.Int64Attribute{Computed: true, Description: "Port number."},
							"protocol":     dschema.StringAttribute{Computed: true, Description: "TCP, UDP or SCTP."},
							"app_protocol": dschema.StringAttribute{Computed: true, Description: "Application protocol, for example http or grpc; null when not given."},
						}},
					},
					"clusters": dschema.ListNestedAttribute{
						Computed:    true,
						Description: "The clusters exporting the service, sorted by name.",
						NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
							"cluster": dschema.StringAttribute{Computed: true, Description: "Cluster name."},
							"ready":   dschema.Int64Attribute{Computed: true, Description: "Ready endpoints in the cluster, summed over its zones."},
							"zones": dschema.ListNestedAttribute{
								Computed:    true,
								Description: "Ready endpoints per zone of the cluster.",
								NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
									"zone":  dschema.StringAttribute{Computed: true, Description: "Zone; null when the cluster reports none."},
									"ready": dschema.Int64Attribute{Computed: true, Description: "Ready endpoints in the zone."},
								}},
							},
							"export_created_at": dschema.StringAttribute{Computed: true, Description: "When the cluster first exported the service (RFC 3339); the oldest export wins a conflict."},
							"conditions":        conditionsAttribute("this cluster's export (Conflict=True when it lost a conflict)"),
						}},
					},
					"conditions": conditionsAttribute("the import"),
					"conflict": dschema.BoolAttribute{
						Computed:    true,
						Description: "Whether any export of the service conflicts with another (a Conflict=True condition on the import).",
					},
				}},
			},
		},
	}
}

func (d *importsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.api = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *importsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	if d.api == nil {
		notConfigured(&resp.Diagnostics)
		return
	}
	var ns types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("namespace"), &ns)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := d.api.bound(ctx)
	defer cancel()
	got, err := d.api.admin.ListImports(ctx, &meshfedv1.ListImportsRequest{Namespace: ns.ValueString()})
	if err != nil {
		d.api.addCallError(&resp.Diagnostics, err, "list", "imports", fieldPaths{"namespace": path.Root("namespace")})
		return
	}
	m := importsToModel(ns, got.GetImports())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func importsToModel(ns types.String, list []*meshfedv1.Import) importsModel {
	m := importsModel{Namespace: ns, Imports: []importModel{}}
	for _, im := range list {
		out := importModel{
			Namespace:  types.StringValue(im.GetNamespace()),
			Name:       types.StringValue(im.GetName()),
			Ports:      []portModel{},
			Clusters:   []importClusterModel{},
			Conditions: conditionsToModel(im.GetConditions()),
			Conflict:   types.BoolValue(hasConflict(im.GetConditions())),
		}
		for _, p := range im.GetPorts() {
			protocol := p.GetProtocol()
			if protocol == "" {
				protocol = "TCP"
			}
			out.Ports = append(out.Ports, portModel{
				Name: optString(p.GetName()), Port: types.Int64Value(int64(p.GetPort())),
				Protocol: types.StringValue(protocol), AppProtocol: optString(p.GetAppProtocol()),
			})
		}
		for _, c := range im.GetClusters() {
			ic := importClusterModel{
				Cluster:         types.StringValue(c.GetCluster()),
				Ready:           types.Int64Value(int64(c.GetReady())),
				Zones:           []zoneModel{},
				ExportCreatedAt: timeString(c.GetExportCreatedAt()),
				Conditions:      conditionsToModel(c.GetConditions()),
			}
			for _, z := range c.GetEndpoints() {
				ic.Zones = append(ic.Zones, zoneModel{Zone: optString(z.GetZone()), Ready: types.Int64Value(int64(z.GetReady()))})
			}
			out.Clusters = append(out.Clusters, ic)
		}
		m.Imports = append(m.Imports, out)
	}
	return m
}

func conditionsToModel(cs []*meshfedv1.Condition) []conditionModel {
	out := []conditionModel{}
	for _, c := range cs {
		out = append(out, conditionModel{
			Type: types.StringValue(c.GetType()), Status: types.StringValue(c.GetStatus()),
			Reason: optString(c.GetReason()), Message: optString(c.GetMessage()),
		})
	}
	return out
}

func hasConflict(cs []*meshfedv1.Condition) bool {
	for _, c := range cs {
		if c.GetType() == imports.ConditionConflict && c.GetStatus() == "True" {
			return true
		}
	}
	return false
}
