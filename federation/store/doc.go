// Package store keeps the control plane's objects in etcd.
//
// Every key lives under Prefix ("/meshfed/v1/"), one sub-prefix per kind:
//
//	clusters/<cluster>                  meshfed.v1.Cluster
//	presence/<cluster>/<gateway>        meshfed.v1.Presence, under an etcd lease
//	exports/<cluster>/<namespace>/<name> meshfed.v1.Export
//	bundles/<trust domain>              meshfed.v1.Bundle
//	policies/<namespace>/<name>/<kind>  meshfed.v1.Policy
//	bundle-endpoints/<trust domain>     meshfed.v1.BundleEndpoint
//	drains/<cluster>/<namespace>/<name> meshfed.v1.Drain; drains/<cluster>/_/_ for the whole cluster
//	drills/<id>                         meshfed.v1.DrillReport; not loaded or watched by the view
//	election/<job>                      leader election (federation/leader)
//
// Values are the protobuf binary encoding; the "v1" in the prefix is the
// schema version. Imports are not stored: they are derived from exports
// (package federation/imports) so they can never disagree with them.
//
// Writes that depend on what was read (keeping an export's creation time,
// refusing a bundle rollback, requiring that a cluster exists) are etcd
// transactions that compare revisions and retry; no etcd locks are used.
// Store is safe for concurrent use; it holds no state besides its clients.
package store
