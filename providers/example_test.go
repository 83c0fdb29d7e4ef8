package providers_test

import (
	"context"
	"fmt"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/static"
)

// The static provider is built in, yet reached through the same Provider
// interface (and the same gRPC contract) as an external plugin.
func ExampleCatalog_Provider() {
	cat, err := providers.New(providers.Config{
		BuiltIns: []providers.BuiltIn{static.BuiltIn()},
		Plugins: map[string]providers.PluginConfig{
			"static": {Config: []byte(`{"provider": "onprem", "region": "dc1", "zone": "rack-a"}`)},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cat.Close()
	ctx := context.Background()
	p, err := cat.Provider(ctx, "static")
	if err != nil {
		fmt.Println(err)
		return
	}
	inst, err := p.Locality(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(inst.Locality.Provider, inst.Locality.Region, inst.Locality.Zone)
	// Output: onprem dc1 rack-a
}
