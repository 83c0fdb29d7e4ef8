// Package trust holds the end-to-end trust federation scenario: clusters
// with their own dev CAs whose gateways verify each other through bundles
// federated by the control plane.
package trust
