// Package tfmodules checks the Terraform modules in terraform/modules
// offline, and keeps their README tables generated from their variables.
//
// The cloud modules (aws, gcp, azure) and controlplane need registry
// providers (hashicorp/aws, google, azurerm, helm, kubernetes) that cannot
// be installed without registry access, so what can be checked without
// `terraform init` is checked on the configuration itself: [Load] reads a
// module with HashiCorp's terraform-config-inspect (variables, outputs,
// required providers, resources, module calls) and HCL (validation blocks,
// the arguments of module blocks, every expression's references), and
// [Lint] reports what breaks the modules' rules: typed and described
// variables, described outputs, providers pinned to one exact version
// everywhere, no provider blocks in modules, references to nothing
// declared ([UnresolvedRefs]), module calls and examples that pass
// undeclared variables or miss required ones, secrets not marked
// sensitive, validation messages that do not name the bad value, the
// cloud modules' shared variables declared differently.
//
// [Tables] renders a module's inputs and outputs as Markdown; each
// module's README.md holds them between [BeginMarker] and [EndMarker].
// `go run ./test/tfmodules/gen` rewrites them, and a test fails while one
// is out of date.
//
// The tests of this package also run `terraform fmt -check` on
// terraform/; plan, apply and destroy the register module (the one that
// needs only the meshfed provider, built from this repository) against a
// real control plane; and render the chart with the values the
// chart-values module computes (helm template checks them against the
// chart's schema).
package tfmodules
