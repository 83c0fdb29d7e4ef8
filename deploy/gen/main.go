// Command gen writes the files generated from package deploy: the plain
// manifests (deploy/manifests/meshfed.yaml) and the Helm chart
// (deploy/helm/meshfed). Run it as `go generate ./deploy` or `make deploy`;
// it runs in the deploy directory, or takes it as its only argument.
// Generated files that are no longer generated are removed.
package main

import (
	"fmt"
	"os"

	"github.com/meshfed/meshfed/deploy"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	written, removed, err := deploy.WriteFiles(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "deploy/gen: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "deploy/gen: %d files written in %s, %d stale removed\n", written, dir, removed)
}
