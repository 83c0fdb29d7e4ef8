// Command meshfed-provider-gcp is meshfed's Google Cloud provider plugin.
// It is started by meshfed (package providers) from its plugin directory
// and serves the provider contract over go-plugin; the logic is in
// providers/gcp.
package main

import (
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/gcp"
)

func main() {
	providers.Serve(&gcp.Server{})
}
