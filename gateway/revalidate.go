package gateway

import (
	"crypto/x509"
	"net"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// inboundTunnel is an open east-west tunnel, kept so that a policy or
// trust change can close tunnels it no longer allows: authorization is
// not only checked when a tunnel opens.
type inboundTunnel struct {
	conn    net.Conn
	certs   []*x509.Certificate
	peer    spiffeid.ID
	cluster string
	key     string // service key NAMESPACE/NAME
	service string // NAME.NAMESPACE, for metrics
}

type tunnelSet struct {
	mu sync.Mutex
	m  map[*inboundTunnel]struct{}
}

func (s *tunnelSet) add(t *inboundTunnel) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[*inboundTunnel]struct{}{}
	}
	s.m[t] = struct{}{}
	s.mu.Unlock()
}

func (s *tunnelSet) remove(t *inboundTunnel) {
	s.mu.Lock()
	delete(s.m, t)
	s.mu.Unlock()
}

// stillAllowed reports whether an open tunnel's peer still verifies
// against the current bundles and clusters, no trust-expiry fault is
// injected, and the service's policy still allows it.
func (g *Gateway) stillAllowed(t *inboundTunnel) bool {
	if _, expired := g.faults.applies(FaultTrustExpiry, "", time.Now()); expired {
		return false
	}
	r := g.routes.Load()
	if _, _, err := verifyPeer(t.certs, g.bundles, r, ""); err != nil {
		return false
	}
	return r.allowed(t.key, t.peer, t.cluster)
}

// revalidate closes every open inbound tunnel whose peer no longer
// verifies against the current bundles and clusters, or whose service's
// authorization policy no longer allows it. It runs after every update
// of the state.
func (g *Gateway) revalidate() {
	g.tunnels.mu.Lock()
	var revoked []*inboundTunnel
	for t := range g.tunnels.m {
		if !g.stillAllowed(t) {
			revoked = append(revoked, t)
		}
	}
	g.tunnels.mu.Unlock()
	for _, t := range revoked {
		g.log.Warn("closing a tunnel its peer may no longer use", "peer", t.peer.String(), "service", t.key)
		g.m.authzDenials.WithLabelValues(t.cluster, t.service).Inc()
		t.conn.Close()
	}
}
