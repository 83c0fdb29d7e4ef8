// Package endpoint serves a SPIFFE bundle endpoint for every trust domain
// the control plane federates, so that a SPIRE server (or any client of
// go-spiffe's federation package) can set `federates_with` to it instead of
// federating with every cluster pairwise.
//
// Each trust domain T has one URL, https://ADDR/bundles/T, served by a
// go-spiffe federation.NewHandler for T. Bundles come from a Lookup (the
// control plane's view) and are parsed once per stored record. The server
// authenticates itself with one of the two profiles of the SPIFFE bundle
// endpoint specification: https_web (a certificate and key from PEM files,
// re-read when they change) or https_spiffe (an X.509-SVID, typically the
// control plane's own; the control plane's own trust domain bundle, given
// as Config.Own, is then served too so that clients can bootstrap).
//
// Create a Server with New and run it with Serve, which blocks until its
// context is cancelled.
package endpoint
