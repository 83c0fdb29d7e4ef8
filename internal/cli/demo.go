package cli

import (
	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/internal/up"
)

// newDemoBackendCommand is the hidden process `meshfed up` runs for the
// demo services' backends.
func newDemoBackendCommand(s Streams) *cobra.Command {
	var (
		httpBackends, grpcBackends []string
		upDir, logLevel            string
	)
	cmd := &cobra.Command{
		Use:    "demo-backend --http CLUSTER/NAME.NAMESPACE=HOST:PORT ... --grpc CLUSTER/NAME.NAMESPACE=HOST:PORT ...",
		Short:  "Serve the demo services' backends of meshfed up (internal)",
		Hidden: true,
		Long: `Serve demo backends until SIGTERM or Ctrl-C. An HTTP backend answers every
request with JSON naming its cluster and service; a gRPC backend serves
grpc.testing.TestService (UnaryCall answers with the cluster's name) and
grpc.health.v1.Health. meshfed up runs one such process for all clusters.`,
		Example: `  meshfed demo-backend --http east/echo.demo=127.0.0.1:16013 --grpc east/echo.demo=127.0.0.1:16014`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(s, logLevel, "text")
			if err != nil {
				return err
			}
			var backends []up.Backend
			for _, set := range []struct {
				proto string
				vals  []string
			}{{"http", httpBackends}, {"grpc", grpcBackends}} {
				for _, v := range set.vals {
					b, err := up.ParseBackend(set.proto, v)
					if err != nil {
						return usagef("--%s: %v", set.proto, err)
					}
					backends = append(backends, b)
				}
			}
			if len(backends) == 0 {
				return usagef("give at least one --http or --grpc backend")
			}
			return up.RunDemo(c.Context(), backends, log.With("up_dir", upDir))
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&httpBackends, "http", nil, "an HTTP backend, CLUSTER/NAME.NAMESPACE=HOST:PORT; repeat for more")
	f.StringArrayVar(&grpcBackends, "grpc", nil, "a gRPC backend, CLUSTER/NAME.NAMESPACE=HOST:PORT; repeat for more")
	f.StringVar(&upDir, "up-dir", "", "the meshfed up directory this process belongs to (so that meshfed down recognizes it)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
