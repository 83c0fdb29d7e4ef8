// Package cli implements the meshfed command line: the operator verbs
// (cluster, export, import, policy, trust) that call the control plane's
// AdminService, plus the commands other packages contribute (controlplane).
//
// Main runs one command line and returns the process exit status: 0 on
// success, 1 when the command failed, 2 when the command line itself was
// wrong (unknown command or flag, missing argument). Errors are printed on
// the error stream as "meshfed: <message>".
//
// Input is validated with federation/schema before the control plane is
// dialed, so a bad name or address gets the same message it would get
// from the server, without a round trip. Connection settings come from
// the client config file (federation/client) and the global flags, which
// override it field by field.
//
// NewRoot builds the command tree; it holds no global state, so tests may
// build and run as many roots as they like, concurrently.
package cli
