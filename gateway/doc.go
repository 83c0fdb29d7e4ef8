// Package gateway is meshfed's east-west gateway (`meshfed gateway`):
// every cross-cluster byte passes through two of them.
//
// A gateway follows the control plane's Watch stream and keeps the state
// in memory and on disk (DATA_DIR/snapshot.pb), so it keeps serving while
// the control plane is unreachable and restarts from the saved snapshot.
// It registers its presence under a lease and publishes the exports of
// its local services.
//
// Listeners:
//
//   - inbound: mutual TLS 1.3 from other clusters' gateways. The peer's
//     X.509-SVID is verified against its own trust domain's bundle only,
//     must be a gateway ID (spiffe://TD/meshfed/gateway/CLUSTER/NAME) of a
//     cluster federated in that trust domain, and must pass the service's
//     authorization policy. The requested service travels in the TLS
//     server name, PORT.NAME.NAMESPACE.svc.clusterset.local; the
//     connection is then spliced, as bytes, to a ready local endpoint.
//   - outbound: an HTTP forward proxy for local clients. CONNECT tunnels
//     any protocol (a cluster chosen per connection); plain HTTP requests
//     for NAME.NAMESPACE.svc.clusterset.local are proxied with a cluster
//     chosen per request, over warm keep-alive tunnels per cluster.
//   - per-service TCP listeners, one port per imported service port.
//   - admin: /metrics, /healthz, /readyz, /debug/snapshot.
//
// Clusters are chosen by a globallb.Picker per service. Tunnels to other
// clusters' gateways are new TLS connections that resume TLS 1.3 sessions;
// docs/ARCHITECTURE.md records why SNI-routed connections were chosen
// over HTTP/2 CONNECT streams, with the measurements.
package gateway
