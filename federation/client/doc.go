// Package client connects to the control plane's gRPC API: the CLI's
// configuration file (meshfed.yaml), and Dial, which builds mutual TLS
// (or server-authenticated TLS plus a bearer token) from it.
//
// The control plane is authenticated by its SPIFFE ID against the CA
// bundle named in the configuration, never by host name, so the same
// configuration works through any address that reaches it.
package client
