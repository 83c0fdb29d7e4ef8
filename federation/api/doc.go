// Package api implements the control plane's gRPC services: AdminService
// for the CLI and GatewayService for east-west gateways.
//
// Handlers validate every request with federation/schema before it
// reaches etcd, check the caller's rights (federation/auth has already
// authenticated it), and map store errors to gRPC codes whose messages
// name the offending object. Reads of the admin API go to etcd
// (linearizable); gateway watches are served from federation/view.
package api
