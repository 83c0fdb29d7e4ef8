package identity

import (
	"crypto/tls"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// ServerConfig returns the TLS configuration of a gateway accepting
// gateway-to-gateway mTLS: it presents svid's current SVID and requires a
// client SVID that verifies against bundles' bundle for the client's own
// trust domain, then passes authorize. Both sources are asked at every
// handshake, so rotations apply to new connections at once while open
// ones are left alone. TLS 1.3 is the minimum: both ends are meshfed.
// authorize must not be nil (tlsconfig.AuthorizeAny accepts every
// verified peer); nil panics here rather than at the first handshake.
func ServerConfig(svid x509svid.Source, bundles x509bundle.Source, authorize tlsconfig.Authorizer) *tls.Config {
	mustAuthorizer(authorize)
	c := tlsconfig.MTLSServerConfig(svid, bundles, authorize)
	c.MinVersion = tls.VersionTLS13
	return c
}

// ClientConfig is ServerConfig's counterpart for the dialing gateway: the
// server's SVID must verify against bundles' bundle for the server's
// trust domain and pass authorize (typically tlsconfig.AuthorizeID of the
// gateway being dialled). Host names are not verified; the SPIFFE ID is.
func ClientConfig(svid x509svid.Source, bundles x509bundle.Source, authorize tlsconfig.Authorizer) *tls.Config {
	mustAuthorizer(authorize)
	c := tlsconfig.MTLSClientConfig(svid, bundles, authorize)
	c.MinVersion = tls.VersionTLS13
	return c
}

func mustAuthorizer(a tlsconfig.Authorizer) {
	if a == nil {
		panic("identity: nil tlsconfig.Authorizer: pass tlsconfig.AuthorizeAny() to accept every verified peer")
	}
}
