// Package schema validates the objects of the meshfed API (clusters,
// exports, bundles, policies, drains, drill reports) and their names.
//
// Every boundary that takes such an object from outside (CLI, gRPC API,
// cluster agent, config files) calls the Validate functions here, so a
// user sees the same message for the same mistake wherever they made it.
// Errors are *FieldError values that name the object, the field and the
// offending value, and say what is allowed; all of them match ErrInvalid
// with errors.Is.
package schema
