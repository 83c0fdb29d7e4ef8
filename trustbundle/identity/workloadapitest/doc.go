// Package workloadapitest is a SPIFFE Workload API server for tests: a real
// gRPC server on a unix socket that streams X.509-SVIDs to go-spiffe
// clients and rotates them on demand. It implements FetchX509SVID only
// and, as the Workload API specification requires, refuses calls without
// the `workload.spiffe.io: true` metadata header.
//
// Start one with Start(t, dir, svid, bundle); it stops when the test ends.
// Rotate with Set; point clients at Addr.
package workloadapitest
