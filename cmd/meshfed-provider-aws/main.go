// Command meshfed-provider-aws is meshfed's AWS provider plugin. It is
// started by meshfed (package providers) from its plugin directory and
// serves the provider contract over go-plugin; the logic is in
// providers/aws.
package main

import (
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/aws"
)

func main() {
	providers.Serve(&aws.Server{})
}
