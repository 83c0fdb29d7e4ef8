// Package providers is meshfed's host for cloud provider plugins: where a
// process runs (provider, region, zone), which clusters an account can see,
// which addresses a cluster's gateway is reachable at, and what crossing
// from one locality to another costs.
//
// Cloud knowledge lives in plugins, executables named meshfed-provider-NAME
// served with hashicorp/go-plugin over the gRPC contract in
// proto/providers/v1. Built-in providers (static) implement the same gRPC
// service and are served in process, so the core reaches every provider
// through one code path: [Catalog.Provider] returns a [Provider] whatever
// its kind.
//
// Using it:
//
//	cat, err := providers.New(providers.Config{
//		Dir:      "/usr/lib/meshfed/plugins",
//		BuiltIns: []providers.BuiltIn{static.BuiltIn()},
//		Plugins:  map[string]providers.PluginConfig{"aws": {SHA256: "9f86d0..."}},
//	})
//	if err != nil { ... }
//	defer cat.Close()
//	p, err := cat.Provider(ctx, "aws")
//	inst, err := p.Locality(ctx)
//
// Writing a plugin: implement providersv1.ProviderServer (embed
// providersv1.UnimplementedProviderServer for the operations a cloud does
// not offer) and call [Serve] from main; docs/providers.md has a worked
// example.
package providers
