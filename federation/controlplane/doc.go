// Package controlplane assembles one control-plane replica: etcd (embedded
// by default, or an external cluster), the store, the view, the gRPC API
// with mutual-TLS authentication, the HTTP endpoints (/metrics, /healthz,
// /readyz) and the leader-elected singleton jobs.
//
// Replicas are stateless: everything they know is in etcd, so any number
// may run against one etcd cluster, and a killed replica loses nothing
// that was acknowledged. Create one with New and run it with Run, which
// blocks until its context is cancelled and then shuts everything down.
package controlplane
