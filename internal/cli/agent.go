package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/logflag"
	"github.com/meshfed/meshfed/kube/agent"
	"github.com/meshfed/meshfed/kube/mcsapi"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// DefaultAgentAdmin is the agent's default admin listen address.
const DefaultAgentAdmin = "127.0.0.1:15022"

func newAgentCommand(s Streams) *cobra.Command {
	var (
		kubeconfig, kubeContext, cpConfig string
		cfg                               agent.Config
		ports                             string
		admin                             string
		logLevel, logFormat               string
	)
	cmd := &cobra.Command{
		Use:   "agent --cluster NAME --controlplane-config FILE [--kubeconfig FILE]",
		Short: "Run the Kubernetes agent: ServiceExports become clusterset exports, clusterset imports become ServiceImports",
		Long: `Run meshfed's Kubernetes agent for one cluster (Multi-Cluster Services API,
multicluster.x-k8s.io).

Exports: for every ServiceExport, the Service of the same name and its ready
endpoints per zone are published to the control plane, and the ServiceExport's
conditions say how it went (Valid, Ready, Conflict). Deleting the ServiceExport
or the Service withdraws the export.

Imports: for every service any cluster exports, the agent keeps a ServiceImport
in the namespace of the same name, a derived Service (mcs-NAME) whose ClusterIP
is the import's IP, and EndpointSlices (one per exporting cluster) whose
endpoints are the local gateway's pods on a per-service port from
--import-ports. The ServiceImport's multicluster.meshfed.io/gateway-ports
annotation records those ports; gateways open them.

Run two replicas for availability: they elect a leader through the Lease
--lease-namespace/--lease-name, and only the leader writes. The control plane
is called with the SVID named in --controlplane-config, which must be
spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/agent (meshfed ca issue makes one).

Admin endpoints on --admin: /healthz, /readyz, /metrics.`,
		Example: `  # In a pod (in-cluster credentials):
  meshfed agent --cluster east --controlplane-config /etc/meshfed/controlplane/meshfed.yaml \
    --gateway-service meshfed-system/meshfed-gateway

  # From a workstation, gateway at a fixed address:
  meshfed agent --kubeconfig ~/.kube/east --cluster east \
    --controlplane-config ./agent-east.yaml --gateway-address 10.0.0.5`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logflag.New(s.Err, logLevel, logFormat)
			if err != nil {
				return usagef("%v", err)
			}
			if cfg.ImportPorts, err = agent.ParsePortRange(ports); err != nil {
				return usagef("--import-ports: %v", err)
			}
			if cpConfig == "" {
				return usagef("--controlplane-config is required: a meshfed.yaml with the control plane's address, CA and SPIFFE ID and the agent's SVID (cert, key)")
			}
			cc, err := client.Load(cpConfig)
			if err != nil {
				return fmt.Errorf("--controlplane-config: %w", err)
			}
			if cc.Cert == "" {
				return fmt.Errorf("--controlplane-config %s has no cert/key: the agent calls the control plane as spiffe://TD/meshfed/gateway/%s/agent; issue that SVID with `meshfed ca issue`", cpConfig, cfg.Cluster)
			}
			conn, err := client.Dial(cc)
			if err != nil {
				return err
			}
			defer conn.Close()
			cfg.ControlPlane = []meshfedv1.GatewayServiceClient{conn.Gateway}
			if cfg.Kube, err = mcsapi.LoadKubeConfig(kubeconfig, kubeContext); err != nil {
				return err
			}
			if cfg.LeaseNamespace == "" {
				cfg.LeaseNamespace = os.Getenv("POD_NAMESPACE")
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			cfg.Metrics, cfg.Logger = reg, log
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			var stopAdmin func()
			if admin != "off" {
				if stopAdmin, err = serveAgentAdmin(admin, a, reg); err != nil {
					return err
				}
				defer stopAdmin()
			}
			fmt.Fprintf(s.Out, "agent for cluster %s running (admin: http://%s/healthz /readyz /metrics)\n", cfg.Cluster, admin)
			return a.Run(c.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster credentials, else $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&kubeContext, "context", "", "kubeconfig context (default: the current one)")
	f.StringVar(&cfg.Cluster, "cluster", "", "this cluster's name in the clusterset (required)")
	f.StringVar(&cpConfig, "controlplane-config", "", "meshfed.yaml: control plane address, CA, SPIFFE ID, and the agent's SVID (required)")
	f.StringVar(&cfg.LeaseNamespace, "lease-namespace", "", "namespace of the leader-election Lease (default $POD_NAMESPACE, else "+agent.DefaultLeaseNamespace+")")
	f.StringVar(&cfg.LeaseName, "lease-name", agent.DefaultLeaseName, "name of the leader-election Lease")
	f.StringVar(&cfg.Identity, "id", "", "this replica's identity in the Lease (default HOSTNAME_RANDOM)")
	f.StringVar(&cfg.GatewayService, "gateway-service", "", "NAMESPACE/NAME of the Service selecting the local gateway pods; their ready addresses become derived endpoints")
	f.StringSliceVar(&cfg.GatewayAddresses, "gateway-address", nil, "the local gateway's IP addresses, instead of --gateway-service (repeatable)")
	f.StringVar(&ports, "import-ports", agent.DefaultImportPorts.String(), "range of gateway ports for imported service ports, FIRST-LAST")
	f.BoolVar(&cfg.CreateNamespaces, "create-namespaces", false, "create an imported service's namespace when it does not exist (default: wait for it)")
	f.StringVar(&cfg.MCSVersion, "mcs-version", "", "force the MCS API version, v1alpha1 or v1beta1 (default: v1beta1 when the CRDs serve it, else v1alpha1)")
	f.StringVar(&admin, "admin", DefaultAgentAdmin, `admin listen address for /healthz /readyz /metrics ("off" disables)`)
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

func serveAgentAdmin(addr string, a *agent.Agent, reg *prometheus.Registry) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Ready() {
			http.Error(w, "leader, caches or control-plane state not synced yet", http.StatusServiceUnavailable)
			return
		}
		role := "standby"
		if a.Leading() {
			role = "leader"
		}
		fmt.Fprintln(w, "ok:", role)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "agent admin:", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
