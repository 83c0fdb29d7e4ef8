// Package gateway_test holds the gateway's end-to-end tests: a control
// plane on embedded etcd, gateways of different trust domains with SVIDs
// from dev CAs, and real backends, all on loopback.
package gateway_test
