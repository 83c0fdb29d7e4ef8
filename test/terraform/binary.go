package terraform

import (
	"testing"

	"github.com/meshfed/meshfed/internal/toolbin"
)

// Version is the Terraform release the acceptance tests run. It is built
// from the github.com/hashicorp/terraform Go module, which the module
// proxy serves at this version.
const Version = "v1.5.7"

// module is what BinaryPath installs.
const module = "github.com/hashicorp/terraform@" + Version

// EnvBinary names an environment variable that, when set, holds the path
// of a terraform binary to use instead of building one.
const EnvBinary = "MESHFED_TERRAFORM_BIN"

// Binary returns the path of the terraform binary, building it on first
// use (a cold build takes a few minutes). It fails the test if the binary
// cannot be provided.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := BinaryPath()
	if err != nil {
		t.Fatalf("%v (run `make prebuild`, or set %s to a terraform %s binary)", err, EnvBinary, Version)
	}
	return p
}

// BinaryPath returns the path of the terraform binary: $MESHFED_TERRAFORM_BIN
// if set, otherwise terraform-<Version>/terraform in the cache directory
// ($MESHFED_CACHE_DIR, or meshfed under the user cache directory), built
// with `go install` when missing (internal/toolbin: a lock file serialises
// concurrent builds, and the binary appears only once it is complete).
func BinaryPath() (string, error) {
	return tool.Path()
}

var tool = toolbin.Tool{
	Name:        "terraform",
	Version:     Version,
	GoInstall:   module,
	Env:         []string{"CGO_ENABLED=0"},
	EnvOverride: EnvBinary,
}
