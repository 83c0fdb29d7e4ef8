package distance

import (
	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// The tiers, cheapest first.
const (
	SameZone     uint32 = 0
	SameRegion   uint32 = 1
	SameProvider uint32 = 2
	CrossCloud   uint32 = 3
)

// Tiers returns the tier of traffic between from and to, with the basis
// naming the tier. Nil localities are treated as empty ones.
func Tiers(from, to *providersv1.Locality) *providersv1.DistanceResponse {
	switch {
	case from.GetProvider() != to.GetProvider() || from.GetProvider() == "":
		return &providersv1.DistanceResponse{Cost: CrossCloud, Basis: "tiers: another provider"}
	case from.GetRegion() != to.GetRegion() || from.GetRegion() == "":
		return &providersv1.DistanceResponse{Cost: SameProvider, Basis: "tiers: same provider, another region"}
	case from.GetZone() != to.GetZone() || from.GetZone() == "":
		return &providersv1.DistanceResponse{Cost: SameRegion, Basis: "tiers: same region"}
	default:
		return &providersv1.DistanceResponse{Cost: SameZone, Basis: "tiers: same zone"}
	}
}
