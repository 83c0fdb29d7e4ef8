// Package providersv1 is the generated code of meshfed's provider plugin
// contract, proto/providers/v1/provider.proto (package
// meshfed.providers.v1). Plugins implement ProviderServer and serve it with
// providers.Serve; the host calls it through package providers. Regenerate
// with protoc (see the Makefile's proto target); do not edit *.pb.go.
package providersv1
