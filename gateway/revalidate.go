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

// revalidate closes every open inbound tunnel whose peer no longer
// verifies against the current bundles and clusters, or whose service's
// authorization policy no longer allows it. It runs after every update
// of the state.
func (g *Gateway) revalidate() {
	r := g.routes.Load()
	_, expired := g.faults.applies(FaultTrustExpiry, "", time.Now())
	g.tunnels.mu.Lock()
	var revoked []*inboundTunnel
	for t := range g.tunnels.m {
		if _, _, err := verifyPeer(t.certs, g.bundles, r, ""); expired || err != nil || !r.allowed(t.key, t.peer, t.cluster) {
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
