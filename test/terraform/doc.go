// Package terraform runs the meshfed Terraform provider under a real
// Terraform binary, against a real control plane on embedded etcd.
//
// BinaryPath builds Terraform from its Go module once (go install
// github.com/hashicorp/terraform@Version) and caches it; the acceptance
// tests of this package build the provider from source and use it
// through a CLI config with dev_overrides, so no registry is needed and
// `terraform init` is skipped. `make prebuild` builds Terraform before the
// tests (test/terraform/prebuild).
package terraform
