// Package auth decides who is calling the control plane and what they may
// do.
//
// Callers authenticate with mutual TLS using X.509-SVIDs, or (admins only)
// with a bearer token over server-authenticated TLS:
//
//   - an admin holds an SVID of the control plane's own trust domain with
//     a path under /meshfed/admin/, or the admin token;
//   - a gateway of cluster C holds an SVID of C's trust domain with the
//     path /meshfed/gateway/C/<gateway>. Its certificate is verified
//     against the bundle stored for that trust domain only (never a pooled
//     set of roots), and C must be registered with that trust domain.
//
// Anything else gets codes.Unauthenticated (no identity) or
// codes.PermissionDenied (an identity acting outside its rights).
package auth
