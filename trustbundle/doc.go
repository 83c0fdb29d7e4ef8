// Package trustbundle is the root of meshfed's SPIFFE trust federation:
// every cluster keeps its own trust domain and CA, and meshfed federates
// their bundles so that each gateway verifies every peer against exactly
// that peer's trust domain.
//
// The code lives in subpackages:
//
//   - trustbundle/identity: a gateway's own X.509-SVID (from the SPIFFE
//     Workload API or from PEM files re-read when they change), the
//     per-trust-domain bundle source built from the control plane's
//     bundles, and the mTLS configurations between gateways.
//   - trustbundle/endpoint: the SPIFFE bundle endpoint the control plane
//     serves for every federated trust domain.
//   - trustbundle/fetch: the leader-elected fetcher of remote bundle
//     endpoints (refresh hint, back-off, last good bundle kept).
//
// This package itself holds no code.
package trustbundle
