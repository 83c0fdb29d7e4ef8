package cli

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/internal/logflag"
)

func defaultDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "meshfed-controlplane"
	}
	return filepath.Join(dir, "meshfed", "controlplane")
}

func newControlPlaneCommand(s Streams) *cobra.Command {
	var (
		cfg           controlplane.Config
		etcdEndpoints string
		fetchCAFile   string
		logLevel      string
		logFormat     string
	)
	cmd := &cobra.Command{
		Use:   "controlplane",
		Short: "Run a control-plane replica (gRPC API, bundle and metrics endpoints) on etcd",
		Long: `Run a control-plane replica.

By default it starts an embedded single-member etcd in --data-dir, which is
right for one machine. With --etcd-endpoints it uses an external etcd
cluster instead; any number of replicas may then run against it, sharing
one --pki-dir.

On start it writes an admin CLI config to DATA_DIR/meshfed.yaml (and to the
user's default config path if none exists there) and prints the path: set
MESHFED_CONFIG to it to point every meshfed command at this control plane.`,
		Example: `  # One machine, embedded etcd:
  meshfed controlplane --data-dir /var/lib/meshfed

  # A replica of an HA control plane:
  meshfed controlplane --data-dir /var/lib/meshfed --pki-dir /etc/meshfed/pki \
    --etcd-endpoints https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379 \
    --etcd-cert etcd-client.pem --etcd-key etcd-client-key.pem --etcd-ca etcd-ca.pem \
    --listen 0.0.0.0:15012 --http-listen 0.0.0.0:15014

  # Serve every federated bundle to SPIRE servers (https_spiffe, the
  # control plane's own SVID; its trust domain's bundle is served too):
  meshfed controlplane --data-dir /var/lib/meshfed --bundle-endpoint-listen 0.0.0.0:8443`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(s, logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = log
			for _, e := range strings.Split(etcdEndpoints, ",") {
				if e = strings.TrimSpace(e); e != "" {
					if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
						return usagef("--etcd-endpoints: %q is not a URL (for example https://10.0.0.1:2379)", e)
					}
					cfg.EtcdEndpoints = append(cfg.EtcdEndpoints, e)
				}
			}
			if fetchCAFile != "" {
				pem, err := os.ReadFile(fetchCAFile)
				if err != nil {
					return fmt.Errorf("--bundle-fetch-ca: %w", err)
				}
				cfg.BundleFetchRoots = x509.NewCertPool()
				if !cfg.BundleFetchRoots.AppendCertsFromPEM(pem) {
					return fmt.Errorf("--bundle-fetch-ca %s holds no PEM certificate", fetchCAFile)
				}
			}
			cp, err := controlplane.New(cfg)
			if err != nil {
				return err
			}
			ctx := c.Context()
			go func() {
				select {
				case <-cp.Ready():
					fmt.Fprintf(s.Out, "control plane ready\n  gRPC API:     %s\n  metrics/health: http://%s/metrics /healthz /readyz\n  admin config: %s\n  try:          export %s=%s; meshfed cluster list\n",
						cp.Addr(), cp.HTTPAddr(), cp.AdminConfigPath(), client.EnvConfig, cp.AdminConfigPath())
					if addr := cp.BundleEndpointAddr(); addr != "" {
						fmt.Fprintf(s.Out, "  bundle endpoint: https://%s/bundles/TRUST_DOMAIN\n", addr)
					}
				case <-ctx.Done():
				}
			}()
			return cp.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory for the embedded etcd, the PKI and the admin CLI config")
	f.StringVar(&cfg.PKIDir, "pki-dir", "", "directory of the control plane's CA, certificates and admin token (default DATA_DIR/pki); replicas share it")
	f.StringVar(&cfg.Listen, "listen", controlplane.DefaultListen, "gRPC API address (host:port)")
	f.StringVar(&cfg.HTTPListen, "http-listen", controlplane.DefaultHTTPListen, "address of /metrics, /healthz and /readyz (host:port)")
	f.StringVar(&cfg.BundleEndpointListen, "bundle-endpoint-listen", "", "address (host:port) of the SPIFFE bundle endpoint serving https://ADDR/bundles/TRUST_DOMAIN for every federated trust domain (empty: disabled)")
	f.StringVar(&cfg.BundleEndpointProfile, "bundle-endpoint-profile", "", "bundle endpoint profile: https_web or https_spiffe (default https_web with --bundle-endpoint-cert, else https_spiffe with the control plane's SVID)")
	f.StringVar(&cfg.BundleEndpointCertFile, "bundle-endpoint-cert", "", "certificate chain (PEM) of the https_web bundle endpoint; re-read when it changes")
	f.StringVar(&cfg.BundleEndpointKeyFile, "bundle-endpoint-key", "", "private key (PEM) of the https_web bundle endpoint; re-read when it changes")
	f.StringVar(&cfg.TrustDomain, "trust-domain", controlplane.DefaultTrustDomain, "SPIFFE trust domain of the control plane's own identities")
	f.StringVar(&etcdEndpoints, "etcd-endpoints", "", "comma-separated client URLs of an external etcd cluster (default: embedded etcd)")
	f.StringVar(&cfg.EtcdCertFile, "etcd-cert", "", "client certificate (PEM) for the external etcd")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-key", "", "client key (PEM) for the external etcd")
	f.StringVar(&cfg.EtcdCAFile, "etcd-ca", "", "CA bundle (PEM) that signed the external etcd's server certificates")
	f.Int64Var(&cfg.Retain, "retain-revisions", controlplane.DefaultRetain, "etcd revisions the elected compactor keeps (negative disables compaction)")
	f.DurationVar(&cfg.CompactEvery, "compact-interval", time.Minute, "how often the elected compactor runs")
	f.StringVar(&cfg.ReplicaName, "replica-name", "", "this replica's name in leader elections (default host-pid)")
	f.BoolVar(&cfg.WriteUserConfig, "write-user-config", true, "also write the admin CLI config to the default path ("+client.DefaultPath()+") if none exists there")
	f.StringVar(&fetchCAFile, "bundle-fetch-ca", "", "PEM CA certificates that verify https_web bundle endpoints of other trust domains (default: system roots)")
	f.DurationVar(&cfg.BundleRefreshMin, "bundle-refresh-min", 0, "shortest interval between fetches of a remote bundle endpoint, whatever its refresh hint (default 10s)")
	f.DurationVar(&cfg.BundleRefreshMax, "bundle-refresh-max", 0, "longest interval between fetches of a remote bundle endpoint (default 1h)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

func newLogger(s Streams, level, format string) (*slog.Logger, error) {
	l, err := logflag.New(s.Err, level, format)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return l, nil
}
