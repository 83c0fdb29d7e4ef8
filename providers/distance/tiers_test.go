package distance_test

import (
	"testing"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers/distance"
)

func TestTiers(t *testing.T) {
	t.Parallel()
	loc := func(p, r, z string) *providersv1.Locality {
		return &providersv1.Locality{Provider: p, Region: r, Zone: z}
	}
	for _, tc := range []struct {
		name     string
		from, to *providersv1.Locality
		want     uint32
	}{
		{"same zone", loc("aws", "eu-west-1", "eu-west-1a"), loc("aws", "eu-west-1", "eu-west-1a"), distance.SameZone},
		{"other zone", loc("aws", "eu-west-1", "eu-west-1a"), loc("aws", "eu-west-1", "eu-west-1b"), distance.SameRegion},
		{"unknown zone", loc("azure", "westeurope", ""), loc("azure", "westeurope", ""), distance.SameRegion},
		{"other region", loc("gcp", "us-central1", "us-central1-a"), loc("gcp", "europe-west1", "europe-west1-b"), distance.SameProvider},
		{"other provider", loc("aws", "eu-west-1", ""), loc("gcp", "europe-west1", ""), distance.CrossCloud},
		{"nil", nil, nil, distance.CrossCloud},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := distance.Tiers(tc.from, tc.to)
			if got.GetCost() != tc.want || got.GetBasis() == "" {
				t.Fatalf("Tiers = %v, want cost %d with a basis", got, tc.want)
			}
			if back := distance.Tiers(tc.to, tc.from); back.GetCost() != got.GetCost() {
				t.Fatalf("not symmetric: %d one way, %d back", got.GetCost(), back.GetCost())
			}
		})
	}
}
