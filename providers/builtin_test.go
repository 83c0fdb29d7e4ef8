package providers_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/static"
)

func TestStaticBuiltIn(t *testing.T) {
	t.Parallel()
	cfg, err := json.Marshal(static.Config{
		Provider: "onprem", Region: "dc1", Zone: "rack-a", InstanceID: "host-17", Cluster: "dc1-edge",
		GatewayAddresses: []static.GatewayAddress{
			{Address: "203.0.113.7", Kind: "public"},
			{Address: "10.0.0.7", Kind: "private"},
			{Cluster: "dc2-edge", Address: "gw.dc2.example.org", Kind: "public"},
		},
		Clusters: []static.Cluster{{Name: "dc2-edge", Provider: "onprem", Region: "dc2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalog(t, providers.Config{
		BuiltIns: []providers.BuiltIn{static.BuiltIn()},
		Plugins:  map[string]providers.PluginConfig{"static": {Config: cfg}},
	}, nil)
	p, err := cat.Provider(t.Context(), "static")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	inst, err := p.Locality(ctx)
	if err != nil {
		t.Fatal(err)
	}
	here := providers.Locality{Provider: "onprem", Region: "dc1", Zone: "rack-a"}
	if want := (providers.Instance{Locality: here, InstanceID: "host-17", Cluster: "dc1-edge"}); inst != want {
		t.Fatalf("Locality = %+v, want %+v", inst, want)
	}

	addrs, err := p.GatewayAddresses(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0] != (providers.Address{Address: "203.0.113.7", Kind: providers.AddressPublic, Source: "config"}) || addrs[1].Kind != providers.AddressPrivate {
		t.Fatalf("GatewayAddresses(\"\") = %+v", addrs)
	}
	if addrs, err = p.GatewayAddresses(ctx, "dc2-edge"); err != nil || len(addrs) != 1 || addrs[0].Address != "gw.dc2.example.org" {
		t.Fatalf("GatewayAddresses(dc2-edge) = %+v, %v", addrs, err)
	}

	cls, err := p.DiscoverClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cls) != 1 || cls[0].Name != "dc2-edge" || cls[0].Locality.Region != "dc2" {
		t.Fatalf("DiscoverClusters = %+v", cls)
	}

	d, err := p.Distance(ctx, here, providers.Locality{Provider: "onprem", Region: "dc2"})
	if err != nil || d.Cost != 2 {
		t.Fatalf("Distance = %+v, %v; want cost 2 (same provider, another region)", d, err)
	}
}

func TestStaticBadConfig(t *testing.T) {
	t.Parallel()
	cat := newCatalog(t, providers.Config{
		BuiltIns: []providers.BuiltIn{static.BuiltIn()},
		Plugins:  map[string]providers.PluginConfig{"static": {Config: []byte(`{"provider": "onprem", "regoin": "dc1"}`)}},
	}, nil)
	_, err := cat.Provider(t.Context(), "static")
	wantErr(t, err, providers.ErrInvalidConfig, `plugin "static"`, `"regoin"`)

	empty := newCatalog(t, providers.Config{BuiltIns: []providers.BuiltIn{static.BuiltIn()}}, nil)
	p, err := empty.Provider(t.Context(), "static")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Locality(t.Context()); !errors.Is(err, providers.ErrInvalidConfig) {
		t.Fatalf("Locality without config = %v, want ErrInvalidConfig", err)
	}
}

// TestExamplePlugin loads the worked example of docs/providers.md.
func TestExamplePlugin(t *testing.T) {
	t.Parallel()
	cat := newCatalog(t, providers.Config{Plugins: map[string]providers.PluginConfig{
		"example": {Config: []byte(`{"region": "lab", "zone": "bench-2"}`)},
	}}, nil)
	p, err := cat.Provider(t.Context(), "example")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := p.Locality(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (providers.Locality{Provider: "example", Region: "lab", Zone: "bench-2"}); inst.Locality != want {
		t.Fatalf("Locality = %+v, want %+v", inst.Locality, want)
	}
	if _, err := p.GatewayAddresses(t.Context(), ""); !errors.Is(err, providers.ErrUnimplemented) {
		t.Fatalf("GatewayAddresses = %v, want ErrUnimplemented", err)
	}
}
