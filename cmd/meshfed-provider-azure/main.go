// Command meshfed-provider-azure is meshfed's Azure provider plugin. It is
// started by meshfed (package providers) from its plugin directory and
// serves the provider contract over go-plugin; the logic is in
// providers/azure.
package main

import (
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/azure"
)

func main() {
	providers.Serve(&azure.Server{})
}
