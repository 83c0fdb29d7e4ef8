package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// ID paths.
const (
	AdminPathPrefix   = "/meshfed/admin/"
	GatewayPathPrefix = "/meshfed/gateway/"
	ControlPlanePath  = "/meshfed/controlplane"
)

// TokenHeader is the metadata key of the admin bearer token.
const TokenHeader = "authorization"

// Identity is an authenticated caller.
type Identity struct {
	// ID is the caller's SPIFFE ID; zero for a token.
	ID spiffeid.ID
	// Admin is true for administrators.
	Admin bool
	// Cluster and Gateway are set for gateways.
	Cluster string
	Gateway string
}

func (i Identity) String() string {
	switch {
	case i.Admin && i.ID.IsZero():
		return "admin (token)"
	case i.Admin:
		return "admin " + i.ID.String()
	default:
		return fmt.Sprintf("gateway %s/%s (%s)", i.Cluster, i.Gateway, i.ID)
	}
}

// MayActFor reports whether the identity may read or write cluster's data
// through the gateway API.
func (i Identity) MayActFor(cluster string) bool { return i.Admin || i.Cluster == cluster }

// GatewayID returns the SPIFFE ID a gateway of cluster must present.
func GatewayID(td spiffeid.TrustDomain, cluster, gateway string) (spiffeid.ID, error) {
	return spiffeid.FromSegments(td, "meshfed", "gateway", cluster, gateway)
}

// Lookup is what the authenticator needs to know about the federation; the
// control plane's view satisfies it.
type Lookup interface {
	Bundle(trustDomain string) (*meshfedv1.Bundle, bool)
	Cluster(name string) (*meshfedv1.Cluster, bool)
}

// Config configures an Authenticator.
type Config struct {
	// TrustDomain and Bundle are the control plane's own: admins' SVIDs
	// verify against Bundle.
	TrustDomain spiffeid.TrustDomain
	Bundle      *x509bundle.Bundle
	// Lookup gives cluster records and federated bundles.
	Lookup Lookup
	// AdminToken, if not empty, is accepted as an admin bearer token.
	AdminToken string
}

// Authenticator verifies peers and maps them to identities. It is safe
// for concurrent use.
type Authenticator struct {
	td        spiffeid.TrustDomain
	own       *x509bundle.Bundle
	lookup    Lookup
	tokenHash [32]byte
	hasToken  bool

	mu     sync.Mutex
	parsed map[string]parsedBundle // trust domain -> parsed stored bundle
}

type parsedBundle struct {
	stored *meshfedv1.Bundle // identity of the stored message it came from
	bundle *x509bundle.Bundle
}

// New returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.TrustDomain.IsZero() || cfg.Bundle == nil || cfg.Lookup == nil {
		return nil, errors.New("auth: Config.TrustDomain, Bundle and Lookup are required")
	}
	a := &Authenticator{td: cfg.TrustDomain, own: cfg.Bundle, lookup: cfg.Lookup, parsed: map[string]parsedBundle{}}
	if cfg.AdminToken != "" {
		a.tokenHash, a.hasToken = sha256.Sum256([]byte(cfg.AdminToken)), true
	}
	return a, nil
}

// GetX509BundleForTrustDomain implements x509bundle.Source: the control
// plane's own bundle for its trust domain, the stored bundle for others.
func (a *Authenticator) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td == a.td {
		return a.own, nil
	}
	stored, ok := a.lookup.Bundle(td.Name())
	if !ok {
		return nil, fmt.Errorf("auth: trust domain %q is not federated (no bundle stored)", td)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.parsed[td.Name()]; ok && p.stored == stored {
		return p.bundle, nil
	}
	sb, err := spiffebundle.Parse(td, stored.GetJwks())
	if err != nil {
		return nil, fmt.Errorf("auth: stored bundle of %q: %w", td, err)
	}
	xb := sb.X509Bundle()
	a.parsed[td.Name()] = parsedBundle{stored: stored, bundle: xb}
	return xb, nil
}

// ServerTLSConfig returns the TLS config of the gRPC server: it presents
// svid and asks for, but does not require, a client SVID (token callers
// have none). A presented certificate must verify against its own trust
// domain's bundle.
func (a *Authenticator) ServerTLSConfig(svid x509svid.Source) *tls.Config {
	cfg := tlsconfig.TLSServerConfig(svid)
	cfg.ClientAuth = tls.RequestClientCert
	verify := tlsconfig.VerifyPeerCertificate(a, tlsconfig.AuthorizeAny())
	cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return nil // token path; the interceptor insists on a token
		}
		return verify(raw, chains)
	}
	return cfg
}

// Authenticate returns the caller's identity from the connection's
// verified certificate or the request's token.
func (a *Authenticator) Authenticate(ctx context.Context) (Identity, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
			id, err := x509svid.IDFromCert(ti.State.PeerCertificates[0])
			if err != nil {
				return Identity{}, status.Errorf(codes.Unauthenticated, "client certificate has no SPIFFE ID: %v", err)
			}
			return a.identify(id)
		}
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && a.hasToken {
		for _, v := range md.Get(TokenHeader) {
			tok, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				continue
			}
			h := sha256.Sum256([]byte(tok))
			if subtle.ConstantTimeCompare(h[:], a.tokenHash[:]) == 1 {
				return Identity{Admin: true}, nil
			}
			return Identity{}, status.Error(codes.Unauthenticated, "admin token is not valid")
		}
	}
	return Identity{}, status.Error(codes.Unauthenticated, "no credentials: present an admin or gateway SVID, or an admin token")
}

func (a *Authenticator) identify(id spiffeid.ID) (Identity, error) {
	if id.MemberOf(a.td) {
		if strings.HasPrefix(id.Path(), AdminPathPrefix) {
			return Identity{ID: id, Admin: true}, nil
		}
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s is in the control plane's trust domain but not an admin (path must start with %s)", id, AdminPathPrefix)
	}
	rest, ok := strings.CutPrefix(id.Path(), GatewayPathPrefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s is not a gateway identity (want spiffe://<trust domain>%s<cluster>/<gateway>)", id, GatewayPathPrefix)
	}
	cluster, gateway := parts[0], parts[1]
	c, ok := a.lookup.Cluster(cluster)
	if !ok {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s claims cluster %q, which is not registered", id, cluster)
	}
	if c.GetTrustDomain() != id.TrustDomain().Name() {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s claims cluster %q, whose trust domain is %q", id, cluster, c.GetTrustDomain())
	}
	return Identity{ID: id, Cluster: cluster, Gateway: gateway}, nil
}

type identityKey struct{}

// FromContext returns the identity the interceptors attached.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// WithIdentity attaches an identity to ctx.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// adminOnly names the gRPC service whose every method needs an admin.
const adminService = "/meshfed.v1.AdminService/"

func (a *Authenticator) check(ctx context.Context, method string) (context.Context, error) {
	id, err := a.Authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(method, adminService) && !id.Admin {
		return nil, status.Errorf(codes.PermissionDenied, "%s may not call %s (admin only)", id, method)
	}
	return WithIdentity(ctx, id), nil
}

// UnaryInterceptor authenticates every unary call.
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.check(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor authenticates every stream.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.check(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }
