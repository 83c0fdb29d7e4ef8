package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/trustbundle/identity"
)

// gatewayPathPrefix starts every gateway SPIFFE ID's path:
// /meshfed/gateway/CLUSTER/NAME (see federation/auth.GatewayID).
const gatewayPathPrefix = "/meshfed/gateway/"

// peerError is a refused peer, with the reason used in metrics.
type peerError struct {
	reason string
	err    error
}

func (e *peerError) Error() string { return e.err.Error() }
func (e *peerError) Unwrap() error { return e.err }

// gatewayCluster returns the cluster named by a gateway SPIFFE ID, or ""
// if id is not a gateway's.
func gatewayCluster(id spiffeid.ID) string {
	rest, ok := strings.CutPrefix(id.Path(), gatewayPathPrefix)
	if !ok {
		return ""
	}
	cluster, gw, ok := strings.Cut(rest, "/")
	if !ok || cluster == "" || gw == "" || strings.Contains(gw, "/") {
		return ""
	}
	return cluster
}

// verifyPeer verifies a peer's certificate chain as an X.509-SVID against
// the bundle of the peer's own trust domain only, and checks it is a
// gateway of a cluster that is federated under that trust domain (and,
// when wantCluster is set, of that cluster). It runs in VerifyConnection,
// so resumed sessions are checked against the current bundles and
// clusters too.
func verifyPeer(certs []*x509.Certificate, bundles x509bundle.Source, r *routes, wantCluster string) (spiffeid.ID, string, error) {
	if len(certs) == 0 {
		return spiffeid.ID{}, "", &peerError{"no_certificate", errors.New("peer sent no certificate")}
	}
	id, _, err := x509svid.Verify(certs, bundles)
	if err != nil {
		reason := "untrusted"
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			reason = "expired"
		} else if errors.Is(err, identity.ErrNoBundle) || strings.Contains(err.Error(), "no X.509 bundle") {
			reason = "unknown_trust_domain"
		}
		return spiffeid.ID{}, "", &peerError{reason, fmt.Errorf("peer certificate: %w", err)}
	}
	cluster := gatewayCluster(id)
	if cluster == "" {
		return id, "", &peerError{"not_gateway", fmt.Errorf("peer %s is not a gateway (want spiffe://TD%sCLUSTER/NAME)", id, gatewayPathPrefix)}
	}
	pc := r.clusters[cluster]
	if pc == nil || pc.trustDomain != id.TrustDomain() {
		return id, cluster, &peerError{"unknown_cluster", fmt.Errorf("peer %s: cluster %q is not federated in trust domain %q", id, cluster, id.TrustDomain())}
	}
	if wantCluster != "" && cluster != wantCluster {
		return id, cluster, &peerError{"wrong_cluster", fmt.Errorf("peer %s is a gateway of cluster %q, dialled %q", id, cluster, wantCluster)}
	}
	return id, cluster, nil
}

// handshakeReason classifies a failed handshake for the
// handshake_failures metric.
func handshakeReason(err error) string {
	var pe *peerError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return pe.reason
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		// crypto/tls refuses a certificate-less client itself
		// (RequireAnyClientCert), before VerifyConnection runs.
		return "no_certificate"
	case strings.Contains(err.Error(), "certificate"):
		return "bad_certificate"
	}
	return "protocol"
}

// serverTLS is the inbound listener's TLS config: TLS 1.3, a client
// certificate required and verified by verifyPeer (in VerifyConnection,
// which also runs on session resumption).
func (g *Gateway) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		ClientAuth:     tls.RequireAnyClientCert,
		GetCertificate: tlsconfig.GetCertificate(g.svid),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, ok := g.faults.applies(FaultTrustExpiry, "", time.Now()); ok {
				return &peerError{"expired", errors.New("peer SVID rejected: trust-expiry fault injected by a drill")}
			}
			_, _, err := verifyPeer(cs.PeerCertificates, g.bundles, g.routes.Load(), "")
			return err
		},
	}
}

// clientTLS is the config for dialling cluster's gateway for target: the
// SNI names the target; the server must be a gateway of that cluster.
func (g *Gateway) clientTLS(cluster string, t Target, cache tls.ClientSessionCache) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		ServerName:           t.SNI(),
		InsecureSkipVerify:   true, // verified below: SPIFFE, not host names
		GetClientCertificate: tlsconfig.GetClientCertificate(g.svid),
		ClientSessionCache:   cache,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, _, err := verifyPeer(cs.PeerCertificates, g.bundles, g.routes.Load(), cluster)
			return err
		},
	}
}
