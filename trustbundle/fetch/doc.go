// Package fetch keeps stored trust bundles up to date from SPIFFE bundle
// endpoints (source 3 of docs/controlplane.md).
//
// A Fetcher reads the configured endpoints (one per trust domain) from the
// store, fetches each one that is due with go-spiffe's
// federation.FetchBundle (profile https_web with Web PKI roots, or
// https_spiffe authenticated by the trust domain's currently stored
// bundle), and stores what it got through the same validation as an
// admin's PutBundle (schema.CanonicalBundle, rollback refused). It writes
// the outcome (last attempt, last success, last error, next refresh) back
// into the endpoint record with a compare-and-swap.
//
// Scheduling: after a success the next fetch is due after the bundle's
// refresh hint (DefaultInterval without one), bounded by MinInterval and
// MaxInterval; after a failure the last good bundle stays and the next
// attempt backs off exponentially from InitialBackoff up to MaxInterval.
// A refresh request newer than the last attempt makes an endpoint due at
// once.
//
// The control plane runs one Fetcher on the elected leader only.
package fetch
