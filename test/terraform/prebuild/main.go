// Command prebuild builds and caches the terraform binary the acceptance
// tests in test/terraform run, so that `make test` never spends a test
// timeout on a cold build. It prints where the binary is.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/meshfed/meshfed/test/terraform"
)

func main() {
	start := time.Now()
	fmt.Fprintf(os.Stderr, "prebuild: terraform %s (cached after the first build, which takes a few minutes)\n", terraform.Version)
	p, err := terraform.BinaryPath()
	if err != nil {
		fmt.Fprintf(os.Stderr, "prebuild: terraform %s: %v\n", terraform.Version, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "prebuild: terraform %s ready at %s (%s)\n", terraform.Version, p, time.Since(start).Round(time.Second))
}
