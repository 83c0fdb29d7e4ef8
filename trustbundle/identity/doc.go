// Package identity gives an east-west gateway its identity and the trust
// it places in its peers, on top of go-spiffe:
//
//   - Its own X.509-SVID and its own trust domain's bundle, from the SPIFFE
//     Workload API (NewWorkloadAPISource, a thin constructor over go-spiffe's
//     workloadapi.X509Source) or from PEM files that are re-read when they
//     change (NewFileSource). Both implement x509svid.Source and
//     x509bundle.Source.
//   - FederatedBundles, an x509bundle.Source holding one bundle per trust
//     domain, fed from the control plane's bundles (client.State.Bundles).
//     A peer whose SPIFFE ID is in trust domain T is verified against T's
//     bundle only, never against a pool of every root: a CA of trust
//     domain A cannot vouch for an ID in trust domain B.
//   - ServerConfig and ClientConfig, go-spiffe mTLS configurations that
//     ask the sources for the SVID and the bundle at every handshake, so an
//     SVID or root rotation takes effect without a restart, and connections
//     opened before it keep working (TLS verifies a peer only once, at the
//     handshake).
//
// Typical wiring in a gateway:
//
//	svids, err := identity.NewWorkloadAPISource(ctx, "") // SPIFFE_ENDPOINT_SOCKET
//	if err != nil { ... }
//	defer svids.Close()
//	svid, err := svids.GetX509SVID()
//	if err != nil { ... }
//	peers := identity.NewFederatedBundles(svid.ID.TrustDomain(), svids)
//	// on every applied watch response:
//	if err := peers.Update(state.Bundles); err != nil { log it }
//	srv := identity.ServerConfig(svids, peers, tlsconfig.AuthorizeAny())
//	cli := identity.ClientConfig(svids, peers, tlsconfig.AuthorizeID(peerID))
//
// Subpackage workloadapitest is a SPIFFE Workload API server for tests.
package identity
