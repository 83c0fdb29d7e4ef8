package providers_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers"
)

// FuzzReplies: whatever bytes a plugin sends, decoding and checking a
// reply returns an error or values that pass the checks; it never panics.
func FuzzReplies(f *testing.F) {
	for _, m := range []proto.Message{
		&providersv1.LocalityResponse{Locality: &providersv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"}, InstanceId: "i-1"},
		&providersv1.GatewayAddressesResponse{Addresses: []*providersv1.GatewayAddress{{Address: "gw.example.org", Kind: providersv1.GatewayAddress_KIND_PUBLIC}}},
		&providersv1.DiscoverClustersResponse{Clusters: []*providersv1.DiscoveredCluster{{Name: "eu-1", Locality: &providersv1.Locality{Provider: "aws", Region: "eu-west-1"}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var loc providersv1.LocalityResponse
		if proto.Unmarshal(b, &loc) == nil {
			if inst, err := providers.InstanceFromProto(&loc, "aws"); err == nil && (inst.Locality.Provider != "aws" || inst.Locality.Region == "") {
				t.Fatalf("accepted %+v", inst)
			}
		}
		var addrs providersv1.GatewayAddressesResponse
		if proto.Unmarshal(b, &addrs) == nil {
			if got, err := providers.AddressesFromProto(&addrs); err == nil {
				for _, a := range got {
					if a.Address == "" || a.Kind == providers.AddressUnspecified {
						t.Fatalf("accepted %+v", a)
					}
				}
			}
		}
		var cls providersv1.DiscoverClustersResponse
		if proto.Unmarshal(b, &cls) == nil {
			if got, err := providers.ClustersFromProto(&cls); err == nil {
				for _, c := range got {
					if c.Name == "" || c.Locality.Region == "" {
						t.Fatalf("accepted %+v", c)
					}
				}
			}
		}
	})
}

func TestAddressChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"203.0.113.7", true}, {"2001:db8::1", true}, {"gw.eu-1.example.org", true},
		{"gw.example.org:15443", false}, {"", false}, {"-bad.example.org", false}, {"a..b", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			_, err := providers.AddressesFromProto(&providersv1.GatewayAddressesResponse{Addresses: []*providersv1.GatewayAddress{{Address: tc.addr, Kind: providersv1.GatewayAddress_KIND_PRIVATE}}})
			if (err == nil) != tc.ok {
				t.Fatalf("AddressesFromProto(%q) error = %v, want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}
