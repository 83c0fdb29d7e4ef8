// Package gatewaycmd is the `meshfed gateway` command, in a package of
// its own so that the slim meshfed-gateway binary can run it without the
// rest of the CLI (control plane, etcd, cloud SDKs).
package gatewaycmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/logflag"
	"github.com/meshfed/meshfed/kube/mcsapi"
)

// Streams are where the command writes.
type Streams struct {
	Out, Err io.Writer
}

// New returns the gateway command.
func New(s Streams) *cobra.Command {
	var (
		configFile, cpConfig string
		logLevel, logFormat  string
		over                 gateway.Config
		advertise            []string
		accessLog            bool
		enableFaults         bool
		procs                int
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run an east-west gateway: mTLS between clusters, a forward proxy and per-service ports for local clients",
		Long: `Run an east-west gateway for one cluster.

The gateway watches the control plane and keeps its last snapshot in
--data-dir, so it keeps serving (and restarts) while the control plane is
down. It registers its presence and publishes the exports of its local
services.

Listeners:
  inbound   east-west mTLS from other clusters' gateways; the service
            travels in the TLS server name (PORT.NAME.NAMESPACE.svc.clusterset.local)
  outbound  HTTP forward proxy for local clients:
              HTTP_PROXY=http://OUTBOUND curl http://echo.demo.svc.clusterset.local:8080/
              and CONNECT echo.demo.svc.clusterset.local:8080 for any protocol
  admin     /metrics /healthz /readyz /debug/snapshot

Settings come from --config (YAML; see docs/gateway.md); flags override it.`,
		Example: `  meshfed gateway --config /etc/meshfed/gateway.yaml

  # Everything on the command line, identity from files made by meshfed ca issue:
  meshfed gateway --cluster east --data-dir /var/lib/meshfed-gw \
    --controlplane-config /var/lib/meshfed/meshfed.yaml \
    --cert gw.pem --key gw-key.pem --bundle ca.pem --inbound 10.0.0.5:15443`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logflag.New(s.Err, logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg := &gateway.Config{}
			if configFile != "" {
				if cfg, err = gateway.LoadConfig(configFile); err != nil {
					return err
				}
			}
			if cpConfig != "" {
				cc, err := client.Load(cpConfig)
				if err != nil {
					return fmt.Errorf("--controlplane-config: %w", err)
				}
				cfg.ControlPlane = gateway.ControlPlaneConfig{Address: cc.Server, CA: cc.CA, ServerID: cc.ServerID}
			}
			f := c.Flags()
			set := func(name string, dst *string, v string) {
				if f.Changed(name) {
					*dst = v
				}
			}
			set("cluster", &cfg.Cluster, over.Cluster)
			set("name", &cfg.Name, over.Name)
			set("instance", &cfg.Instance, over.Instance)
			set("data-dir", &cfg.DataDir, over.DataDir)
			set("controlplane", &cfg.ControlPlane.Address, over.ControlPlane.Address)
			set("controlplane-ca", &cfg.ControlPlane.CA, over.ControlPlane.CA)
			set("controlplane-id", &cfg.ControlPlane.ServerID, over.ControlPlane.ServerID)
			set("workload-api", &cfg.Identity.WorkloadAPI, over.Identity.WorkloadAPI)
			set("cert", &cfg.Identity.Cert, over.Identity.Cert)
			set("key", &cfg.Identity.Key, over.Identity.Key)
			set("bundle", &cfg.Identity.Bundle, over.Identity.Bundle)
			set("inbound", &cfg.Listen.Inbound, over.Listen.Inbound)
			set("outbound", &cfg.Listen.Outbound, over.Listen.Outbound)
			set("admin", &cfg.Listen.Admin, over.Listen.Admin)
			if f.Changed("advertise") {
				cfg.Listen.Advertise = advertise
			}
			if f.Changed("enable-faults") {
				cfg.AdminFaults = enableFaults
			}
			if f.Changed("access-log") {
				cfg.AccessLog = accessLog
			}
			if f.Changed("procs") {
				cfg.Procs = procs
			}
			if cfg.DataDir == "" {
				if dir, err := os.UserCacheDir(); err == nil && cfg.Cluster != "" {
					cfg.DataDir = filepath.Join(dir, "meshfed", "gateway-"+cfg.Cluster)
				}
			}
			if cfg.Procs > 0 && cfg.Procs <= 1024 {
				runtime.GOMAXPROCS(cfg.Procs)
			}
			g, err := gateway.New(cfg, gateway.Options{Logger: log})
			if err != nil {
				return err
			}
			if k := cfg.Kubernetes; k != nil {
				stop, err := WatchImportPorts(c.Context(), g, k, log)
				if err != nil {
					g.Close()
					return err
				}
				defer stop()
			}
			fmt.Fprintf(s.Out, "gateway %s/%s running\n  inbound (mTLS): %s\n  forward proxy:  http://%s\n  admin:          http://%s/metrics /healthz /readyz /debug/snapshot\n",
				cfg.Cluster, cfg.Name, g.InboundAddr(), g.OutboundAddr(), g.AdminAddr())
			return g.Run(c.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "gateway config file (YAML)")
	f.StringVar(&over.Cluster, "cluster", "", "this gateway's cluster")
	f.StringVar(&over.Name, "name", gateway.DefaultName, "this gateway's name within its cluster (its SVID must be spiffe://TD/meshfed/gateway/CLUSTER/NAME)")
	f.StringVar(&over.Instance, "instance", "", "this replica's instance name when several run as one gateway (e.g. the pod name); each registers as NAME.INSTANCE")
	f.IntVar(&procs, "procs", 0, "threads running Go code at once (GOMAXPROCS; 0: one per CPU). fewer threads cost less CPU per request when the gateway shares its CPUs with busy work")
	f.StringVar(&over.DataDir, "data-dir", "", "where the last control-plane snapshot is kept (default USER_CACHE_DIR/meshfed/gateway-CLUSTER)")
	f.StringVar(&cpConfig, "controlplane-config", "", "take the control plane's address, CA and SPIFFE ID from this meshfed.yaml (its credentials are not used)")
	f.StringVar(&over.ControlPlane.Address, "controlplane", "", "control plane gRPC address (host:port)")
	f.StringVar(&over.ControlPlane.CA, "controlplane-ca", "", "PEM authorities of the control plane's certificate")
	f.StringVar(&over.ControlPlane.ServerID, "controlplane-id", "", "the control plane's SPIFFE ID")
	f.StringVar(&over.Identity.WorkloadAPI, "workload-api", "", "SPIFFE Workload API address for the gateway's SVID (e.g. unix:///run/spire/agent.sock)")
	f.StringVar(&over.Identity.Cert, "cert", "", "SVID certificate file (PEM), instead of the Workload API")
	f.StringVar(&over.Identity.Key, "key", "", "SVID key file (PEM)")
	f.StringVar(&over.Identity.Bundle, "bundle", "", "PEM bundle of the gateway's own trust domain")
	f.StringVar(&over.Listen.Inbound, "inbound", gateway.DefaultInbound, "east-west mTLS listen address")
	f.StringSliceVar(&advertise, "advertise", nil, "addresses peers dial (default the inbound address when it names a host)")
	f.StringVar(&over.Listen.Outbound, "outbound", gateway.DefaultOutbound, `forward-proxy listen address ("off" disables)`)
	f.StringVar(&over.Listen.Admin, "admin", gateway.DefaultAdmin, `admin listen address ("off" disables)`)
	f.BoolVar(&accessLog, "access-log", false, "log every connection and proxied request")
	f.BoolVar(&enableFaults, "enable-faults", false, "serve the fault-injection API (/faults) on the admin port, for drills")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// WatchImportPorts opens, on g, the per-service ports of the cluster's
// imports (Kubernetes mode: the ports meshfed's agent allocated and
// recorded on ServiceImports) until stop is called.
func WatchImportPorts(ctx context.Context, g *gateway.Gateway, k *gateway.KubernetesConfig, log *slog.Logger) (stop func(), err error) {
	rc, err := mcsapi.LoadKubeConfig(k.Kubeconfig, "")
	if err != nil {
		return nil, fmt.Errorf("gateway: kubernetes.kubeconfig: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := mcsapi.WatchImportPorts(ctx, rc, func(ports []mcsapi.ImportPort) error {
			ls := make([]gateway.ServiceListener, len(ports))
			for i, p := range ports {
				ls[i] = gateway.ServiceListener{
					Service: gateway.ServiceName{Namespace: p.Namespace, Name: p.Name}, Port: p.Port,
					Listen: net.JoinHostPort(k.ImportListenHost, strconv.Itoa(p.GatewayPort)),
				}
			}
			err := g.SetServiceListeners(ls)
			if err != nil {
				log.Error("opening import ports; retrying in 5s", "error", err)
			}
			return err
		}, log)
		if err != nil {
			log.Error("watching ServiceImports stopped", "error", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
