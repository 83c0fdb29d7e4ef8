// Command meshfed-gateway is the east-west gateway alone: the same
// command as `meshfed gateway`, in a binary without the rest of the CLI
// (control plane, embedded etcd, cloud SDKs), so a gateway maps and
// touches far less code. Deploy this one next to workloads.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshfed/meshfed/internal/gatewaycmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	cmd := gatewaycmd.New(gatewaycmd.Streams{Out: os.Stdout, Err: os.Stderr})
	cmd.Use = "meshfed-gateway"
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "meshfed-gateway: %s\n", err)
		os.Exit(1)
	}
}
