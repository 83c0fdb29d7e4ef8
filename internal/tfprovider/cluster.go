package tfprovider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// clusterModel is meshfed_cluster's state.
type clusterModel struct {
	ID               types.String   `tfsdk:"id"`
	Name             types.String   `tfsdk:"name"`
	TrustDomain      types.String   `tfsdk:"trust_domain"`
	Locality         *localityModel `tfsdk:"locality"`
	Labels           types.Map      `tfsdk:"labels"`
	GatewayAddresses types.List     `tfsdk:"gateway_addresses"`
	CreatedAt        types.String   `tfsdk:"created_at"`
}

type localityModel struct {
	Provider types.String `tfsdk:"provider"`
	Region   types.String `tfsdk:"region"`
	Zone     types.String `tfsdk:"zone"`
}

// Descriptions shared by the resource and the data source.
const (
	descClusterName        = "Name of the cluster, a DNS-1123 label (1-63 lowercase letters, digits or '-'). Changing it replaces the cluster."
	descClusterTrustDomain = "SPIFFE trust domain of the cluster's workloads and gateways, for example eu-1.example.org. It may not be the control plane's own trust domain."
	descLocality           = "Where the cluster runs. Gateways route to the nearest healthy copy of a service by locality."
	descProvider           = "Cloud or site, for example aws, gcp, azure or onprem (1-63 lowercase letters, digits, '-', '_' or '.')."
	descRegion             = "Region, for example eu-west-1 (1-63 lowercase letters, digits, '-', '_' or '.')."
	descZone               = "Zone, for example eu-west-1a. Leave it out for host groups that have none."
	descLabels             = "Labels of the cluster, Kubernetes-style keys and values; failover policies can select clusters by them."
	descGatewayAddresses   = "Addresses (host:port) of the cluster's east-west gateways, in order of preference."
	descCreatedAt          = "When the control plane first stored the cluster (RFC 3339). Kept across updates."
)

// clusterFields maps the control plane's field names to attributes.
var clusterFields = fieldPaths{
	"cluster name":      path.Root("name"),
	"trust_domain":      path.Root("trust_domain"),
	"provider":          path.Root("locality").AtName("provider"),
	"region":            path.Root("locality").AtName("region"),
	"zone":              path.Root("locality").AtName("zone"),
	"gateway_addresses": path.Root("gateway_addresses"),
	"labels":            path.Root("labels"),
	"label key":         path.Root("labels"),
}

// clusterFromModel builds the API record from a known plan. It validates
// the whole record with schema.ValidateCluster, as the control plane does.
func clusterFromModel(m *clusterModel) (*meshfedv1.Cluster, error) {
	c := &meshfedv1.Cluster{
		Name:             m.Name.ValueString(),
		TrustDomain:      m.TrustDomain.ValueString(),
		Labels:           goStringMap(m.Labels),
		GatewayAddresses: goStrings(m.GatewayAddresses.Elements()),
	}
	if m.Locality != nil {
		c.Locality = &meshfedv1.Locality{
			Provider: m.Locality.Provider.ValueString(),
			Region:   m.Locality.Region.ValueString(),
			Zone:     m.Locality.Zone.ValueString(),
		}
	}
	if err := schema.ValidateCluster(c); err != nil {
		return nil, err
	}
	return c, nil
}

// clusterToModel converts what the control plane holds. prior (the plan or
// the previous state; may be nil) only decides how "nothing" is shown.
func clusterToModel(c *meshfedv1.Cluster, prior *clusterModel) clusterModel {
	if prior == nil {
		prior = &clusterModel{Labels: types.MapNull(types.StringType), GatewayAddresses: types.ListNull(types.StringType)}
	}
	l := c.GetLocality()
	return clusterModel{
		ID:          types.StringValue(c.GetName()),
		Name:        types.StringValue(c.GetName()),
		TrustDomain: types.StringValue(c.GetTrustDomain()),
		Locality: &localityModel{
			Provider: types.StringValue(l.GetProvider()),
			Region:   types.StringValue(l.GetRegion()),
			Zone:     optString(l.GetZone()),
		},
		Labels:           stringMapValue(c.GetLabels(), prior.Labels),
		GatewayAddresses: stringListValue(c.GetGatewayAddresses(), prior.GatewayAddresses),
		CreatedAt:        timeString(c.GetCreatedAt()),
	}
}

func describeCluster(name string) string { return fmt.Sprintf("cluster %q", name) }
