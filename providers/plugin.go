package providers

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// PluginName is the name the provider service is dispensed under.
const PluginName = "provider"

// BinaryPrefix is how provider plugin executables are named:
// meshfed-provider-NAME.
const BinaryPrefix = "meshfed-provider-"

// Handshake is the go-plugin handshake between meshfed and provider
// plugins. The protocol version is the contract version of
// proto/providers/v1; it changes only with an incompatible contract. The
// magic cookie is not security: it only stops a plugin being run by hand.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "MESHFED_PROVIDER_PLUGIN",
	MagicCookieValue: "3c1f7a62d2b94e0e9a6f51c8b07d4e25",
}

// GRPCPlugin is the go-plugin glue for the provider service: on the plugin
// side it registers Impl, on the host side it returns a
// providersv1.ProviderClient. Only the gRPC protocol is supported.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the implementation a plugin serves; nil on the host side.
	Impl providersv1.ProviderServer
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the provider service on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	providersv1.RegisterProviderServer(s, p.Impl)
	return nil
}

// GRPCClient returns a providersv1.ProviderClient over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return providersv1.NewProviderClient(conn), nil
}

// Serve serves srv as a provider plugin on the go-plugin handshake. A
// plugin's main calls it and nothing else; it returns when the host ends
// the plugin. Run by hand (without the host's magic cookie) it prints a
// message and exits with status 1.
func Serve(srv providersv1.ProviderServer) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &GRPCPlugin{Impl: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
