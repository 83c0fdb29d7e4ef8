package cli

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/up"
)

func defaultUpDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "meshfed-up"
	}
	return filepath.Join(dir, "meshfed", "up")
}

func newUpCommand(s Streams) *cobra.Command {
	var (
		opts    up.Options
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a whole federation on this machine, on loopback: control plane, clusters, gateways, demo services",
		Long: `Run a whole federation on this machine, on loopback, as child processes of
this binary: a control plane on embedded etcd, and --clusters clusters,
each with its own trust domain and dev CA, a gateway and demo backends.

Every cluster exports echo.demo (HTTP on port 8080, gRPC on 9090; the
answer names the cluster that served it); the last cluster alone exports
catalog.demo (HTTP on 8080). The default three clusters are east and
east-b (aws, us-east-1, two zones) and west (gcp, europe-west1).

Ports are fixed from --base-port: the control plane takes BASE (gRPC) and
BASE+1 (HTTP); cluster i (from 1) takes BASE+10*i to BASE+10*i+9: inbound,
forward proxy, admin, then its backends and its gRPC port. Every port is
checked before anything starts.

It writes DIR/up.json (what runs where; see docs/up.md) and
DIR/meshfed.yaml (MESHFED_CONFIG for every meshfed command), prints what
to try, and stays in the foreground until Ctrl-C, which stops everything.
With --detach it returns once the federation is ready and ` + "`meshfed down`" + `
stops it. Running it again on the same --dir reuses the CAs, the control
plane's data and the gateways' snapshots.`,
		Example: `  meshfed up
  meshfed up --clusters 5 --base-port 17000
  meshfed up --detach --dir /tmp/fed && meshfed down --dir /tmp/fed`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.Clusters < 1 || opts.Clusters > up.MaxClusters {
				return usagef("--clusters %d: want 1 to %d", opts.Clusters, up.MaxClusters)
			}
			if opts.BasePort < 1024 || up.LastPort(opts.BasePort, opts.Clusters) > 65535 {
				return usagef("--base-port %d: %d clusters need ports %d-%d, which must lie within 1024-65535",
					opts.BasePort, opts.Clusters, opts.BasePort, up.LastPort(opts.BasePort, opts.Clusters))
			}
			if timeout <= 0 {
				return usagef("--timeout %s must be positive", timeout)
			}
			opts.ReadyTimeout = timeout
			opts.Progress = s.Out
			ctx := c.Context()
			fed, err := up.Start(ctx, opts)
			if err != nil {
				return err
			}
			printUpSummary(s.Out, fed)
			if opts.Detach {
				return nil
			}
			err = fed.Wait(ctx, func(what string, pid int, err error) {
				how := "exited"
				if err != nil {
					how = err.Error()
				}
				fmt.Fprintf(s.Out, "%s (pid %d): %s\n", what, pid, how)
			})
			if err == nil {
				fmt.Fprintln(s.Out, "every process has exited; cleaning up")
			} else {
				fmt.Fprintln(s.Out, "\nstopping...")
			}
			begin := time.Now()
			fed.Stop(func(st up.Stopped) { printStopped(s.Out, st) })
			fmt.Fprintf(s.Out, "stopped in %s; state kept in %s\n", time.Since(begin).Round(10*time.Millisecond), fed.State().Dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Clusters, "clusters", up.DefaultClusters, fmt.Sprintf("how many clusters (1-%d)", up.MaxClusters))
	f.StringVar(&opts.Dir, "dir", defaultUpDir(), "state directory: CAs, control-plane data, configs, logs, up.json")
	f.IntVar(&opts.BasePort, "base-port", up.DefaultBasePort, "first loopback port; the federation takes BASE to BASE+10*(CLUSTERS+1)-1")
	f.BoolVar(&opts.Detach, "detach", false, "leave the federation running in the background and return once it is ready; stop it with meshfed down")
	f.DurationVar(&timeout, "timeout", up.DefaultReadyTimeout, "give up if the federation is not ready within this time")
	return cmd
}

// printUpSummary prints where everything runs and what to try.
func printUpSummary(w io.Writer, fed *up.Federation) {
	st := fed.State()
	fmt.Fprintf(w, "\nfederation ready in %s; state in %s, logs in %s\n\n",
		fed.ReadyIn.Round(10*time.Millisecond), filepath.Join(st.Dir, up.StateFile), filepath.Join(st.Dir, "logs"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tTRUST DOMAIN\tLOCALITY\tFORWARD PROXY\tGRPC PORT\tADMIN")
	for _, c := range st.Clusters {
		fmt.Fprintf(tw, "%s\t%s\t%s %s %s\t%s\t%s\thttp://%s\n", c.Name, c.TrustDomain, c.Provider, c.Region, c.Zone,
			c.ForwardProxy, c.TCPListeners[fmt.Sprintf("%s:%d", up.Echo, up.EchoGRPCPort)], c.Admin)
	}
	tw.Flush()
	first, last := st.Clusters[0], st.Clusters[len(st.Clusters)-1]
	victim := first
	if len(st.Clusters) > 1 {
		victim = st.Clusters[1]
	}
	fmt.Fprintf(w, "\nservices: %s in every cluster (HTTP %d, gRPC %d: grpc.testing.TestService, grpc.health.v1.Health),\n          %s in %s only (HTTP %d)\n",
		up.Echo, up.EchoHTTPPort, up.EchoGRPCPort, up.Catalog, last.Name, up.CatalogHTTPPort)
	fmt.Fprintf(w, "\ntry:\n  export %s=%s\n", client.EnvConfig, shellQuote(st.Config))
	if _, err := exec.LookPath("meshfed"); err != nil {
		fmt.Fprintf(w, "  export PATH=%s:$PATH\n", shellQuote(filepath.Dir(fed.Executable)))
	}
	fmt.Fprintf(w, "  curl -x %s http://%s.svc.clusterset.local:%d/\n", first.ForwardProxy, up.Echo, up.EchoHTTPPort)
	fmt.Fprintf(w, "  curl -x %s http://%s.svc.clusterset.local:%d/\n", first.ForwardProxy, up.Catalog, up.CatalogHTTPPort)
	fmt.Fprintf(w, "  grpcurl -plaintext %s grpc.testing.TestService/UnaryCall\n", first.TCPListeners[fmt.Sprintf("%s:%d", up.Echo, up.EchoGRPCPort)])
	fmt.Fprintf(w, "  meshfed route explain %s --from %s\n", up.Echo, first.Name)
	fmt.Fprintf(w, "  meshfed cluster list\n")
	fmt.Fprintf(w, "  meshfed drill run --dir %s --fault kill --scope cluster=%s --dry-run   # blast radius only: who is affected, where traffic would go\n", shellQuote(st.Dir), victim.Name)
	if len(st.Clusters) > 1 {
		fmt.Fprintf(w, "  meshfed drill run --dir %s --fault drain --scope cluster=%s,service=%s --from %s --duration 20s   # %s's traffic fails over to %s\n",
			shellQuote(st.Dir), first.Name, up.Echo, first.Name, first.Name, st.Clusters[1].Name)
	}
	if st.Detached {
		fmt.Fprintf(w, "\nrunning in the background; stop it with: meshfed down --dir %s\n", shellQuote(st.Dir))
	} else {
		fmt.Fprintf(w, "\npress Ctrl-C to stop everything\n")
	}
}

func printStopped(w io.Writer, s up.Stopped) {
	fmt.Fprintf(w, "%s (pid %d): %s\n", s.What, s.PID, s.Result)
}

func newDownCommand(s Streams) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the federation `meshfed up --detach` started",
		Long: `Stop every process DIR/up.json records that is still running and still
this federation's (a meshfed process with DIR in its command line): the
gateways and demo backends first, then the control plane; SIGTERM, then
SIGKILL after 5 s. The state stays in DIR, so ` + "`meshfed up`" + ` with the same
--dir starts the same federation again.`,
		Example: `  meshfed down
  meshfed down --dir /tmp/fed`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			begin := time.Now()
			stopped, err := up.Down(dir, func(st up.Stopped) { printStopped(s.Out, st) })
			if err != nil {
				return err
			}
			n := 0
			for _, st := range stopped {
				if st.Result == "stopped" || st.Result == "killed" {
					n++
				}
			}
			abs, _ := filepath.Abs(dir)
			if n == 0 {
				fmt.Fprintf(s.Out, "nothing was running in %s\n", abs)
				return nil
			}
			fmt.Fprintf(s.Out, "stopped %d processes in %s; state kept in %s (meshfed up --dir %s starts it again)\n",
				n, time.Since(begin).Round(10*time.Millisecond), abs, shellQuote(abs))
			for _, st := range stopped {
				if st.Result == "still running" {
					return fmt.Errorf("%s (pid %d) survived SIGKILL", st.What, st.PID)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultUpDir(), "the directory meshfed up used")
	return cmd
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// plain path characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:,=@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
