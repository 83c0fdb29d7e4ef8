package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// handleInbound serves one east-west connection: an mTLS handshake whose
// client is verified as a gateway of a federated cluster, the target
// from the SNI, the service's authorization policy, then a splice to a
// ready local endpoint.
func (g *Gateway) handleInbound(raw net.Conn) {
	start := time.Now()
	// A gateway-wide blackhole answers nothing, not even a handshake.
	if !g.faults.waitBlackhole("", g.stopping) {
		raw.Close()
		return
	}
	tc := tls.Server(raw, g.serverTLS())
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Limits.HandshakeTimeout.D())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		reason := handshakeReason(err)
		g.m.handshakeFailures.WithLabelValues("inbound", reason).Inc()
		g.log.Info("inbound handshake failed", "peer_addr", raw.RemoteAddr().String(), "reason", reason, "error", err)
		raw.Close()
		return
	}
	cs := tc.ConnectionState()
	peerID, _ := x509svid.IDFromCert(cs.PeerCertificates[0])
	source := gatewayCluster(peerID)
	if cs.ServerName == probeSNI {
		tc.Close() // a health probe: the handshake was the answer
		return
	}
	t, err := ParseSNI(cs.ServerName)
	if err != nil {
		g.m.requests.WithLabelValues("inbound", source, g.cfg.Cluster, "", "tcp", "bad_request").Inc()
		g.log.Info("inbound connection names no service", "peer", peerID.String(), "error", err)
		tc.Close()
		return
	}
	svc := t.Service.String()
	if !g.routes.Load().allowed(t.Service.Key(), peerID, source) {
		g.m.authzDenials.WithLabelValues(source, svc).Inc()
		g.m.requests.WithLabelValues("inbound", source, g.cfg.Cluster, svc, "tcp", "denied").Inc()
		g.log.Warn("authorization policy denied a peer", "peer", peerID.String(), "source_cluster", source, "service", t.String())
		tc.Close()
		return
	}
	proto := g.protocolOf(t)
	up, addr, err := g.dialLocal(context.Background(), t)
	if err != nil {
		g.m.requests.WithLabelValues("inbound", source, g.cfg.Cluster, svc, proto, "connect_error").Inc()
		g.log.Info("no local endpoint answered", "service", t.String(), "error", err)
		tc.Close()
		return
	}
	labels := []string{"inbound", source, g.cfg.Cluster, svc, proto}
	active := g.m.active.WithLabelValues(labels...)
	active.Inc()
	peer := &faultConn{Conn: tc, f: g.faults, svc: svc, stop: make(chan struct{})}
	open := &inboundTunnel{conn: peer, certs: cs.PeerCertificates, peer: peerID, cluster: source, key: t.Service.Key(), service: svc}
	g.tunnels.add(open)
	defer g.tunnels.remove(open)
	// A state update or fault between the checks above and add would
	// have missed this tunnel: check again.
	if !g.stillAllowed(open) {
		up.Close()
		peer.Close()
		return
	}
	sent, received := splice(peer, up, g.cfg.Limits.IdleTimeout.D())
	active.Dec()
	g.recordConn(labels, start, sent, received, "ok")
	if g.cfg.AccessLog {
		g.log.Info("access", "direction", "inbound", "peer", peerID.String(), "source_cluster", source, "service", t.String(),
			"endpoint", addr, "bytes_sent", sent, "bytes_received", received, "duration", time.Since(start).String())
	}
}

// protocolOf is the port's app protocol for metrics, or "tcp".
func (g *Gateway) protocolOf(t Target) string {
	if route, ok := g.routes.Load().services[t.Service.Key()]; ok {
		if p, ok := resolvePort(route.imp, t.Port); ok && p.GetAppProtocol() != "" {
			return p.GetAppProtocol()
		}
	}
	return "tcp"
}

// recordConn records a finished tunnelled connection.
func (g *Gateway) recordConn(labels []string, start time.Time, sent, received int64, result string) {
	g.m.requests.WithLabelValues(append(labels, result)...).Inc()
	g.m.latency.WithLabelValues(append(labels, result)...).Observe(time.Since(start).Seconds())
	g.m.bytes.WithLabelValues(append(labels, "sent")...).Add(float64(sent))
	g.m.bytes.WithLabelValues(append(labels, "received")...).Add(float64(received))
}
