// Package view keeps an in-memory, versioned copy of the control plane's
// state, fed by one etcd watch, and fans changes out to every gateway
// watch stream.
//
// One View runs per control-plane replica. Run loads everything at one
// etcd revision, then applies each later revision as a batch: imports are
// re-derived for every service whose exports changed, and the batch
// becomes a WatchResponse whose version is the etcd revision. The most
// recent responses are kept in a bounded history so that a gateway that
// reconnects with its last version gets exactly the changes it missed. A
// version the history no longer covers (older than HistorySize changes,
// from before this replica started, or compacted away in etcd) gets a full
// snapshot instead: never silent loss.
//
// Subscribers pull: a slow gateway never blocks the view or other
// gateways; it falls behind the history and then receives a snapshot.
package view
