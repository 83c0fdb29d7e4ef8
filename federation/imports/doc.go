// Package imports derives the clusterset-wide import of a service from the
// exports of every cluster, by the rules of the Kubernetes Multi-Cluster
// Services API (KEP-1645):
//
//   - exports with the same namespace/name on different clusters are one
//     service;
//   - the service's ports are the union of the exports' ports;
//   - when exports disagree on a port (same name with a different number,
//     protocol or appProtocol, or the same number and protocol under a
//     different name), the oldest export wins (creation time, then
//     cluster name), and every export that lost carries a Conflict
//     condition naming the field and the winning cluster. A conflicting
//     export still contributes its endpoints and non-conflicting ports, as
//     the MCS API resolves rather than rejects.
//
// Derive is a pure function: the control plane calls it on every export
// change instead of storing imports, so imports cannot drift from exports.
package imports
