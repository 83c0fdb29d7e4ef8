package controlplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/meshfed/meshfed/federation/api"
	"github.com/meshfed/meshfed/federation/auth"
	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/embedetcd"
	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/federation/view"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/endpoint"
	"github.com/meshfed/meshfed/trustbundle/fetch"
)

// Defaults.
const (
	DefaultListen      = "127.0.0.1:15012"
	DefaultHTTPListen  = "127.0.0.1:15014"
	DefaultTrustDomain = "meshfed.local"
	DefaultRetain      = 10000
)

// Config configures a replica. Zero values mean the documented defaults.
type Config struct {
	// DataDir holds the embedded etcd (when EtcdEndpoints is empty), the
	// PKI (unless PKIDir is set) and the admin CLI config meshfed.yaml.
	// Required.
	DataDir string
	// PKIDir holds the CA, server and admin certificates and the admin
	// token; default DataDir/pki. Replicas of one control plane share it.
	PKIDir string
	// Listen is the gRPC address; default DefaultListen. Port 0 picks one.
	Listen string
	// HTTPListen serves /metrics, /healthz, /readyz; default DefaultHTTPListen.
	HTTPListen string
	// TrustDomain is the control plane's own SPIFFE trust domain (its
	// server and admin identities); default DefaultTrustDomain.
	TrustDomain string
	// EtcdEndpoints, if set, selects an external etcd cluster instead of
	// the embedded one, with optional client TLS files.
	EtcdEndpoints []string
	EtcdCertFile  string
	EtcdKeyFile   string
	EtcdCAFile    string
	// Retain is how many etcd revisions the elected compactor keeps; 0
	// means DefaultRetain, negative disables compaction.
	Retain int64
	// CompactEvery is the compactor's period; default 1 minute.
	CompactEvery time.Duration
	// ElectionTTL is the leadership lease in seconds; default 5.
	ElectionTTL int
	// ReplicaName identifies this replica in elections; default host-pid.
	ReplicaName string
	// WriteUserConfig also writes the admin CLI config to the user's
	// default path (client.DefaultPath) when no file is there yet.
	WriteUserConfig bool
	// BundleEndpointListen, if set, serves a SPIFFE bundle endpoint
	// (https://ADDR/bundles/TRUST_DOMAIN) for every stored bundle and the
	// control plane's own trust domain; empty disables it.
	BundleEndpointListen string
	// BundleEndpointProfile is https_web or https_spiffe; empty means
	// https_web when BundleEndpointCertFile is set, https_spiffe (with the
	// server SVID) otherwise.
	BundleEndpointProfile string
	// BundleEndpointCertFile and BundleEndpointKeyFile are the PEM
	// certificate chain and key of the https_web profile, re-read when
	// they change.
	BundleEndpointCertFile string
	BundleEndpointKeyFile  string
	// BundleFetchRoots verify https_web bundle endpoints of other trust
	// domains; nil means the system roots.
	BundleFetchRoots *x509.CertPool
	// BundleRefreshMin and BundleRefreshMax bound the refresh interval of
	// fetched bundles (their refresh hint, 5 minutes without one) and the
	// back-off after failures; defaults fetch.DefaultMinInterval (10 s)
	// and fetch.DefaultMaxInterval (1 h).
	BundleRefreshMin, BundleRefreshMax time.Duration
	// BundleFetchPoll is how often the elected fetcher looks for due
	// endpoints and refresh requests; default fetch.DefaultPoll (1 s).
	BundleFetchPoll time.Duration
	// Logger receives the control plane's logs; nil discards them.
	Logger *slog.Logger
}

// ControlPlane is one replica.
type ControlPlane struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	ready      chan struct{}
	grpcAddr   net.Addr
	httpAddr   net.Addr
	bundleAddr net.Addr // nil when the bundle endpoint is disabled
	cliPath    string
}

// New checks cfg and returns a replica; Run starts it.
func New(cfg Config) (*ControlPlane, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("controlplane: --data-dir is required")
	}
	if cfg.PKIDir == "" {
		cfg.PKIDir = filepath.Join(cfg.DataDir, "pki")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = DefaultHTTPListen
	}
	if cfg.TrustDomain == "" {
		cfg.TrustDomain = DefaultTrustDomain
	}
	if _, err := spiffeid.TrustDomainFromString(cfg.TrustDomain); err != nil {
		return nil, fmt.Errorf("controlplane: --trust-domain %q is not a valid SPIFFE trust domain name (lowercase letters, digits, '.', '-', '_')", cfg.TrustDomain)
	}
	for _, a := range []struct{ flag, v string }{{"--listen", cfg.Listen}, {"--http-listen", cfg.HTTPListen}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return nil, fmt.Errorf("controlplane: %s %q is not host:port (for example 127.0.0.1:15012)", a.flag, a.v)
		}
	}
	if err := checkBundleEndpoint(cfg); err != nil {
		return nil, err
	}
	if (cfg.EtcdCertFile == "") != (cfg.EtcdKeyFile == "") {
		return nil, errors.New("controlplane: --etcd-cert and --etcd-key must be given together")
	}
	if cfg.Retain == 0 {
		cfg.Retain = DefaultRetain
	}
	if cfg.CompactEvery <= 0 {
		cfg.CompactEvery = time.Minute
	}
	if cfg.ElectionTTL <= 0 {
		cfg.ElectionTTL = 5
	}
	if cfg.ReplicaName == "" {
		host, _ := os.Hostname()
		cfg.ReplicaName = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ControlPlane{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), ready: make(chan struct{})}, nil
}

// Ready is closed when the replica serves (its view loaded from etcd).
func (cp *ControlPlane) Ready() <-chan struct{} { return cp.ready }

// Addr returns the bound gRPC address; valid after Ready.
func (cp *ControlPlane) Addr() string { return cp.grpcAddr.String() }

// HTTPAddr returns the bound HTTP address; valid after Ready.
func (cp *ControlPlane) HTTPAddr() string { return cp.httpAddr.String() }

// BundleEndpointAddr returns the bound address of the SPIFFE bundle
// endpoint, or "" when it is disabled; valid after Ready.
func (cp *ControlPlane) BundleEndpointAddr() string {
	if cp.bundleAddr == nil {
		return ""
	}
	return cp.bundleAddr.String()
}

// AdminConfigPath returns the path of the admin CLI config; valid after Ready.
func (cp *ControlPlane) AdminConfigPath() string { return cp.cliPath }

// Run starts the replica and blocks until ctx is done or a component
// fails; it then stops everything and returns (nil after a clean stop).
func (cp *ControlPlane) Run(ctx context.Context) error {
	cfg := cp.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("controlplane: data dir: %w", err)
	}
	endpoints := cfg.EtcdEndpoints
	var embedded *embedetcd.Server
	if len(endpoints) == 0 {
		var err error
		embedded, err = embedetcd.Start(ctx, embedetcd.Config{Dir: cfg.DataDir})
		if err != nil {
			return err
		}
		defer embedded.Close()
		endpoints = embedded.Endpoints()
		cp.log.Info("embedded etcd started", "endpoints", endpoints, "dir", cfg.DataDir)
	}
	etcd, err := cp.etcdClient(endpoints)
	if err != nil {
		return err
	}
	defer etcd.Close()

	st, err := store.New(store.Config{KV: etcd, Watcher: etcd, Lease: etcd, Observe: func(op string, d time.Duration) {
		cp.metrics.etcdLatency.WithLabelValues(op).Observe(d.Seconds())
	}})
	if err != nil {
		return err
	}
	v, err := view.New(view.Config{Source: st, Logger: cp.log.With("component", "view"),
		OnVersion: func(rev int64) { cp.metrics.version.Set(float64(rev)) }})
	if err != nil {
		return err
	}
	td := spiffeid.RequireTrustDomainFromString(cfg.TrustDomain)
	host, _, _ := net.SplitHostPort(cfg.Listen)
	p, err := loadPKI(cfg.PKIDir, td, []string{host})
	if err != nil {
		return err
	}
	if p.created {
		cp.log.Info("created control-plane CA", "dir", cfg.PKIDir, "trust_domain", td.Name())
	}
	authn, err := auth.New(auth.Config{TrustDomain: td, Bundle: p.ca.Bundle(), Lookup: v, AdminToken: p.token})
	if err != nil {
		return err
	}

	grpcLis, err := listen(cfg.Listen, "--listen")
	if err != nil {
		return err
	}
	httpLis, err := listen(cfg.HTTPListen, "--http-listen")
	if err != nil {
		grpcLis.Close()
		return err
	}
	cp.grpcAddr, cp.httpAddr = grpcLis.Addr(), httpLis.Addr()
	bundles, bundleLis, err := cp.bundleEndpoint(v, p)
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}

	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(authn.ServerTLSConfig(p.server))),
		grpc.ChainUnaryInterceptor(cp.metrics.unary, authn.UnaryInterceptor),
		grpc.ChainStreamInterceptor(cp.metrics.stream, authn.StreamInterceptor),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 15 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(8<<20),
		grpc.ForceServerCodecV2(api.Codec()),
	)
	meshfedv1.RegisterAdminServiceServer(srv, api.NewAdmin(st, td))
	gw := api.NewGateway(st, v, func(d int) { cp.metrics.watches.Add(float64(d)) })
	cp.metrics.registry.MustRegister(newBundleCollector(v.Bundles))
	fetcher, err := fetch.New(fetch.Config{
		Store:       st,
		WebPKIRoots: cfg.BundleFetchRoots,
		MinInterval: cfg.BundleRefreshMin,
		MaxInterval: cfg.BundleRefreshMax,
		Poll:        cfg.BundleFetchPoll,
		OnResult: func(td string, err error) {
			if err != nil {
				cp.metrics.refreshErrors.WithLabelValues(td).Inc()
			}
		},
		Logger: cp.log.With("component", "bundle-fetcher"),
	})
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		if bundleLis != nil {
			bundleLis.Close()
		}
		return fmt.Errorf("controlplane: %w", err)
	}
	meshfedv1.RegisterGatewayServiceServer(srv, gw)

	httpSrv := &http.Server{Handler: cp.httpHandler(st, v), ReadHeaderTimeout: 5 * time.Second}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ignoreCanceled(v.Run(gctx)) })
	g.Go(func() error { return srv.Serve(grpcLis) })
	g.Go(func() error {
		if err := httpSrv.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if bundles != nil {
		g.Go(func() error { return bundles.Serve(gctx, bundleLis) })
	}
	if cfg.Retain > 0 {
		g.Go(func() error {
			return ignoreCanceled(runElected(gctx, etcd, cfg.ReplicaName, cfg.ElectionTTL, compactor(st, cfg.Retain, cfg.CompactEvery, cp.log),
				func(b bool) { cp.metrics.leader.WithLabelValues("compactor").Set(boolFloat(b)) }, cp.log))
		})
	}
	g.Go(func() error {
		return ignoreCanceled(runElected(gctx, etcd, cfg.ReplicaName, cfg.ElectionTTL, job{name: "bundlefetcher", run: fetcher.Run},
			func(b bool) { cp.metrics.leader.WithLabelValues("bundlefetcher").Set(boolFloat(b)) }, cp.log))
	})
	if embedded != nil {
		g.Go(func() error {
			select {
			case err := <-embedded.Err():
				return fmt.Errorf("controlplane: embedded etcd: %w", err)
			case <-gctx.Done():
				return nil
			}
		})
	}
	g.Go(func() error {
		select {
		case <-v.Loaded():
		case <-gctx.Done():
			return nil
		}
		if err := cp.writeAdminConfig(p); err != nil {
			return err
		}
		close(cp.ready)
		cp.log.Info("control plane ready", "grpc", cp.Addr(), "http", cp.HTTPAddr(), "bundle_endpoint", cp.BundleEndpointAddr(), "admin_config", cp.cliPath)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		gw.Stop()
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return httpSrv.Shutdown(shutCtx)
	})
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, grpc.ErrServerStopped)) {
		return nil
	}
	return err
}

func (cp *ControlPlane) etcdClient(endpoints []string) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		AutoSyncInterval:     30 * time.Second,
		Logger:               zap.NewNop(),
	}
	if cp.cfg.EtcdCertFile != "" || cp.cfg.EtcdCAFile != "" {
		info := transport.TLSInfo{CertFile: cp.cfg.EtcdCertFile, KeyFile: cp.cfg.EtcdKeyFile, TrustedCAFile: cp.cfg.EtcdCAFile}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("controlplane: etcd TLS files: %w", err)
		}
		cfg.TLS = tlsCfg
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("controlplane: etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}

func (cp *ControlPlane) httpHandler(st *store.Store, v *view.View) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cp.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-v.Loaded():
		default:
			http.Error(w, "not ready: state not loaded from etcd yet", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Revision(clientv3.WithRequireLeader(ctx)); err != nil {
			http.Error(w, "not ready: etcd does not answer: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// writeAdminConfig writes DataDir/meshfed.yaml, and the user's default
// config when asked and absent.
func (cp *ControlPlane) writeAdminConfig(p *pki) error {
	server := cp.grpcAddr.String()
	if tcp, ok := cp.grpcAddr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		server = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	cfg := p.adminConfig(server)
	cp.cliPath = filepath.Join(cp.cfg.DataDir, "meshfed.yaml")
	if err := cfg.Save(cp.cliPath); err != nil {
		return err
	}
	if cp.cfg.WriteUserConfig {
		user := client.DefaultPath()
		if _, err := os.Stat(user); errors.Is(err, os.ErrNotExist) {
			if err := cfg.Save(user); err != nil {
				cp.log.Warn("could not write the user CLI config", "path", user, "error", err)
			} else {
				cp.log.Info("wrote CLI config", "path", user)
			}
		}
	}
	return nil
}

func listen(addr, flag string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s %s: %w (is another process using that port? pick another with %s)", flag, addr, err, flag)
	}
	return l, nil
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// checkBundleEndpoint checks the bundle endpoint flags; the certificate
// files are loaded by Run.
func checkBundleEndpoint(cfg Config) error {
	if cfg.BundleEndpointListen == "" {
		if cfg.BundleEndpointProfile != "" || cfg.BundleEndpointCertFile != "" || cfg.BundleEndpointKeyFile != "" {
			return errors.New("controlplane: --bundle-endpoint-profile, --bundle-endpoint-cert and --bundle-endpoint-key need --bundle-endpoint-listen (for example 127.0.0.1:8443)")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(cfg.BundleEndpointListen); err != nil {
		return fmt.Errorf("controlplane: --bundle-endpoint-listen %q is not host:port (for example 127.0.0.1:8443)", cfg.BundleEndpointListen)
	}
	if _, err := endpoint.ParseProfile(cfg.BundleEndpointProfile); err != nil {
		return fmt.Errorf("controlplane: --bundle-endpoint-profile: %w", err)
	}
	if (cfg.BundleEndpointCertFile == "") != (cfg.BundleEndpointKeyFile == "") {
		return errors.New("controlplane: --bundle-endpoint-cert and --bundle-endpoint-key must be given together")
	}
	return nil
}

// bundleEndpoint builds the SPIFFE bundle endpoint and binds its listener;
// both are nil when it is disabled.
func (cp *ControlPlane) bundleEndpoint(v *view.View, p *pki) (*endpoint.Server, net.Listener, error) {
	cfg := cp.cfg
	if cfg.BundleEndpointListen == "" {
		return nil, nil, nil
	}
	s, err := endpoint.New(endpoint.Config{
		Bundles:  v,
		Own:      spiffebundle.FromX509Bundle(p.ca.Bundle()),
		Profile:  endpoint.Profile(cfg.BundleEndpointProfile),
		SVID:     p.server,
		CertFile: cfg.BundleEndpointCertFile,
		KeyFile:  cfg.BundleEndpointKeyFile,
		Logger:   cp.log.With("component", "bundle-endpoint"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("controlplane: bundle endpoint: %w", err)
	}
	lis, err := listen(cfg.BundleEndpointListen, "--bundle-endpoint-listen")
	if err != nil {
		return nil, nil, err
	}
	cp.bundleAddr = lis.Addr()
	return s, lis, nil
}
