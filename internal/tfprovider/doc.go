// Package tfprovider is the meshfed Terraform provider, built on
// terraform-plugin-framework and served by cmd/terraform-provider-meshfed.
//
// It manages what the control plane holds through its admin gRPC API
// (federation/client): clusters (meshfed_cluster), the trust bundle or
// bundle endpoint of a trust domain (meshfed_trust_domain), and per-service
// failover and authorization policies (meshfed_failover_policy,
// meshfed_authorization_policy). Data sources read a cluster with its live
// gateways (meshfed_cluster) and the clusterset's imports (meshfed_imports).
//
// Plans validate every value with federation/schema, so a plan fails with
// the message the control plane would give, attached to the attribute
// that holds the value. Read returns what the control plane holds now, so
// a change made with the meshfed CLI shows up as drift in the next plan,
// and an object deleted outside Terraform is planned for creation again.
// Every resource can be imported (docs/terraform.md lists the IDs).
//
// New returns the provider; the binary passes it to providerserver.Serve.
package tfprovider
