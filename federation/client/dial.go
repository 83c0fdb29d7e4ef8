package client

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TokenHeader is the gRPC metadata key carrying a bearer token.
const TokenHeader = "authorization"

// Conn is a connection to the control plane with both API clients.
type Conn struct {
	*grpc.ClientConn
	Admin   meshfedv1.AdminServiceClient
	Gateway meshfedv1.GatewayServiceClient
}

// Dial connects to the control plane described by cfg. It does not block;
// the first call waits for the connection. Close the returned Conn.
func Dial(cfg *Config, opts ...grpc.DialOption) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	serverID, err := spiffeid.FromString(cfg.ServerID)
	if err != nil {
		return nil, fmt.Errorf("client: server_id %q: %w", cfg.ServerID, err)
	}
	bundle, err := x509bundle.Load(serverID.TrustDomain(), cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("client: ca %s: %w", cfg.CA, err)
	}
	var tlsCfg *tls.Config
	if cfg.Cert != "" {
		// Re-read when the files change: a rotated SVID is used from
		// the next connection on.
		svid, err := loadSVIDFiles(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, err
		}
		tlsCfg = tlsconfig.MTLSClientConfig(svid, bundle, tlsconfig.AuthorizeID(serverID))
	} else {
		tlsCfg = tlsconfig.TLSClientConfig(bundle, tlsconfig.AuthorizeID(serverID))
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(cfg.Token)))
	}
	return DialTLS(cfg.Server, tlsCfg, opts...)
}

// DialTLS connects with an explicit TLS config (gateways build theirs from
// their own SVID source).
func DialTLS(addr string, tlsCfg *tls.Config, opts ...grpc.DialOption) (*Conn, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg))}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return &Conn{ClientConn: cc, Admin: meshfedv1.NewAdminServiceClient(cc), Gateway: meshfedv1.NewGatewayServiceClient(cc)}, nil
}

type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{TokenHeader: "Bearer " + string(t)}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return true }
