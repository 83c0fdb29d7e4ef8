// Command terraform-provider-meshfed is the meshfed Terraform provider. It
// is started by Terraform, not by hand; see docs/terraform.md.
//
// With -debug it runs in the foreground and prints a TF_REATTACH_PROVIDERS
// value, so a debugger can be attached while Terraform talks to it.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/meshfed/meshfed/internal/tfprovider"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run the provider in the foreground for a debugger (delve) and print TF_REATTACH_PROVIDERS")
	flag.Parse()
	// No signal handling: Terraform stops providers itself (an interrupt
	// reaches the whole process group and go-plugin ignores it here).
	if err := run(context.Background(), *debug); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, debug bool) error {
	return providerserver.Serve(ctx, tfprovider.New(version), providerserver.ServeOpts{
		Address: tfprovider.Address,
		Debug:   debug,
	})
}
