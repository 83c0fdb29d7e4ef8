package tfprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework-validators/float64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
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

func newFailoverPolicyResource() resource.Resource {
	return &policyResource{spec: policySpec{
		kind:     schema.PolicyFailover,
		typeName: "_failover_policy",
		description: "The failover policy of one service (`meshfed policy put NAMESPACE/NAME --kind failover`): the order in which " +
			"regions, clusters or labelled clusters take over its traffic, clusters that must never receive it, per-cluster weights, " +
			"and how fast traffic may shift. See docs/loadbalancing.md. Import with NAMESPACE/NAME.",
		attributes: failoverAttributes(),
		encode:     encodeFailover,
		decode:     decodeFailover,
	}}
}

// failoverTargetModel is one element of targets.
type failoverTargetModel struct {
	Region  types.String `tfsdk:"region"`
	Cluster types.String `tfsdk:"cluster"`
	Labels  types.Map    `tfsdk:"labels"`
}

var failoverTargetType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"region":  types.StringType,
	"cluster": types.StringType,
	"labels":  types.MapType{ElemType: types.StringType},
}}

func failoverAttributes() map[string]rschema.Attribute {
	maxEntries := fmt.Sprintf(" At most %d entries.", schema.MaxPorts)
	return map[string]rschema.Attribute{
		"targets": rschema.ListNestedAttribute{
			Optional: true,
			Description: "The failover order: when the service's nearest copies are unhealthy, traffic goes to the first target " +
				"that has healthy copies, then the next. Each target sets exactly one of region, cluster or labels." + maxEntries,
			Validators: []validator.List{listvalidator.SizeAtMost(schema.MaxPorts)},
			NestedObject: rschema.NestedAttributeObject{
				Validators: []validator.Object{exactlyOne("region", "cluster", "labels")},
				Attributes: map[string]rschema.Attribute{
					"region": rschema.StringAttribute{
						Optional:    true,
						Description: "Every cluster in this region, for example eu-west-1.",
						Validators:  []validator.String{region()},
					},
					"cluster": rschema.StringAttribute{
						Optional:    true,
						Description: "One cluster, by name.",
						Validators:  []validator.String{dnsLabel()},
					},
					"labels": rschema.MapAttribute{
						Optional:    true,
						ElementType: types.StringType,
						Description: "Every cluster whose labels include all of these.",
						Validators:  []validator.Map{mapvalidator.SizeAtLeast(1), labels()},
					},
				},
			},
		},
		"never": rschema.SetAttribute{
			Optional:    true,
			ElementType: types.StringType,
			Description: "Clusters that must never receive the service, not even in panic mode." + maxEntries,
			Validators:  []validator.Set{setvalidator.SizeAtMost(schema.MaxPorts), setvalidator.ValueStringsAre(dnsLabel())},
		},
		"weights": rschema.MapAttribute{
			Optional:    true,
			ElementType: types.Int64Type,
			Description: "Per-cluster weights (cluster name to weight, 0-4294967295); they still apply while failing over." + maxEntries,
			Validators: []validator.Map{
				mapvalidator.SizeAtMost(schema.MaxPorts),
				clusterKeys(),
				mapvalidator.ValueInt64sAre(int64validator.Between(0, math.MaxUint32)),
			},
		},
		"max_shift_per_second": rschema.Float64Attribute{
			Optional: true,
			Description: "The largest share of the service's traffic (0-1) that may move to a target per second, so a failover does not " +
				"stampede a small cluster. Leave it out (or 0) for no cap.",
			Validators: []validator.Float64{float64validator.Between(0, 1)},
		},
	}
}

// encodeFailover builds the failover document from the attributes.
func encodeFailover(ctx context.Context, g getter) ([]byte, diag.Diagnostics) {
	var (
		diags    diag.Diagnostics
		targets  types.List
		never    types.Set
		weights  types.Map
		maxShift types.Float64
	)
	diags.Append(g.GetAttribute(ctx, path.Root("targets"), &targets)...)
	diags.Append(g.GetAttribute(ctx, path.Root("never"), &never)...)
	diags.Append(g.GetAttribute(ctx, path.Root("weights"), &weights)...)
	diags.Append(g.GetAttribute(ctx, path.Root("max_shift_per_second"), &maxShift)...)
	if diags.HasError() {
		return nil, diags
	}
	var f schema.FailoverPolicy
	if !targets.IsNull() {
		var tms []failoverTargetModel
		diags.Append(targets.ElementsAs(ctx, &tms, false)...)
		if diags.HasError() {
			return nil, diags
		}
		for _, t := range tms {
			f.Targets = append(f.Targets, schema.FailoverTarget{
				Region:  t.Region.ValueString(),
				Cluster: t.Cluster.ValueString(),
				Labels:  goStringMap(t.Labels),
			})
		}
	}
	f.Never = sortedStrings(goStrings(never.Elements()))
	if len(f.Never) == 0 {
		f.Never = nil
	}
	if !weights.IsNull() && len(weights.Elements()) > 0 {
		f.Weights = map[string]uint32{}
		for k, v := range weights.Elements() {
			if n, ok := v.(types.Int64); ok && !n.IsNull() && !n.IsUnknown() {
				f.Weights[k] = uint32(n.ValueInt64())
			}
		}
	}
	f.MaxShiftPerSecond = maxShift.ValueFloat64()
	doc, err := json.Marshal(f)
	if err != nil {
		diags.AddError("Cannot encode the failover policy", err.Error())
		return nil, diags
	}
	return doc, diags
}

// decodeFailover writes a stored failover document into state.
func decodeFailover(ctx context.Context, doc []byte, prior getter, state *tfsdk.State) diag.Diagnostics {
	var diags diag.Diagnostics
	var f schema.FailoverPolicy
	if err := json.Unmarshal(doc, &f); err != nil {
		diags.AddError("Cannot read the stored failover policy",
			fmt.Sprintf("The control plane holds a failover document that is not JSON (%v): %s", err, doc))
		return diags
	}
	var (
		pTargets  types.List
		pNever    types.Set
		pWeights  types.Map
		pMaxShift types.Float64
	)
	diags.Append(prior.GetAttribute(ctx, path.Root("targets"), &pTargets)...)
	diags.Append(prior.GetAttribute(ctx, path.Root("never"), &pNever)...)
	diags.Append(prior.GetAttribute(ctx, path.Root("weights"), &pWeights)...)
	diags.Append(prior.GetAttribute(ctx, path.Root("max_shift_per_second"), &pMaxShift)...)
	if diags.HasError() {
		return diags
	}
	v := failoverValues(&f, failoverPrior{pTargets, pNever, pWeights, pMaxShift})
	diags.Append(state.SetAttribute(ctx, path.Root("targets"), v.targets)...)
	diags.Append(state.SetAttribute(ctx, path.Root("never"), v.never)...)
	diags.Append(state.SetAttribute(ctx, path.Root("weights"), v.weights)...)
	diags.Append(state.SetAttribute(ctx, path.Root("max_shift_per_second"), v.maxShift)...)
	return diags
}

// failoverPrior holds the failover attributes of a prior state or plan.
type failoverPrior struct {
	targets  types.List
	never    types.Set
	weights  types.Map
	maxShift types.Float64
}

// failoverValues converts a document into attribute values.
func failoverValues(f *schema.FailoverPolicy, prior failoverPrior) failoverPrior {
	var out failoverPrior
	if len(f.Targets) == 0 {
		out.targets = types.ListNull(failoverTargetType)
		if emptyKnown(prior.targets, len(prior.targets.Elements())) {
			out.targets = types.ListValueMust(failoverTargetType, []attr.Value{})
		}
	} else {
		elems := make([]attr.Value, len(f.Targets))
		for i, t := range f.Targets {
			lbls := types.MapNull(types.StringType)
			if len(t.Labels) > 0 {
				lbls = stringMapValue(t.Labels, lbls)
			}
			elems[i] = types.ObjectValueMust(failoverTargetType.AttrTypes, map[string]attr.Value{
				"region":  optString(t.Region),
				"cluster": optString(t.Cluster),
				"labels":  lbls,
			})
		}
		out.targets = types.ListValueMust(failoverTargetType, elems)
	}
	out.never = stringSetValue(f.Never, prior.never)
	if len(f.Weights) == 0 {
		out.weights = types.MapNull(types.Int64Type)
		if emptyKnown(prior.weights, len(prior.weights.Elements())) {
			out.weights = types.MapValueMust(types.Int64Type, map[string]attr.Value{})
		}
	} else {
		keys := make([]string, 0, len(f.Weights))
		for k := range f.Weights {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		elems := make(map[string]attr.Value, len(keys))
		for _, k := range keys {
			elems[k] = types.Int64Value(int64(f.Weights[k]))
		}
		out.weights = types.MapValueMust(types.Int64Type, elems)
	}
	out.maxShift = types.Float64Null()
	switch {
	case f.MaxShiftPerSecond != 0:
		out.maxShift = types.Float64Value(f.MaxShiftPerSecond)
	case !prior.maxShift.IsNull() && !prior.maxShift.IsUnknown() && prior.maxShift.ValueFloat64() == 0:
		out.maxShift = types.Float64Value(0) // "no cap" written as 0
	}
	return out
}
