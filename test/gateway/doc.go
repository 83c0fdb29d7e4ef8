// Package gateway holds the gateway's end-to-end tests (package
// gateway_test): a control plane on embedded etcd, gateways of different
// trust domains with SVIDs from dev CAs, and real backends, all on
// loopback.
package gateway
