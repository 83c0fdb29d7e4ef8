package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// The clusters, and the service the exporters serve.
const (
	Caller = "c0"
	Near   = "near"
	Far    = "far"

	Namespace   = "demo"
	ServiceName = "echo"
	ServicePort = 8080
	// URL is what the traffic asks c0's forward proxy for.
	URL = "http://echo.demo.svc.clusterset.local:8080/"
)

// service is NAME.NAMESPACE, as /debug/routes names it.
const service = ServiceName + "." + Namespace

// ClusterSpec is one cluster of the topology.
type ClusterSpec struct {
	Name                   string
	Provider, Region, Zone string
	// Exports: the cluster runs a backend for echo.demo and exports it.
	Exports bool
}

// Topology returns the three clusters: two regions, two providers.
func Topology() []ClusterSpec {
	return []ClusterSpec{
		{Name: Caller, Provider: "aws", Region: "us-east-1", Zone: "us-east-1a"},
		{Name: Near, Provider: "aws", Region: "us-east-1", Zone: "us-east-1b", Exports: true},
		{Name: Far, Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b", Exports: true},
	}
}

// Options configure Start.
type Options struct {
	// Dir receives every file: control-plane data, certificates, gateway
	// configs and logs (required; the caller removes it).
	Dir string
	// Bin is the meshfed binary; empty builds cmd/meshfed into Dir (run
	// from inside the module).
	Bin string
	// Rate of the traffic generator in requests per second (default 200).
	Rate int
	// ClientTimeout bounds each request of the generator (default 10s).
	ClientTimeout time.Duration
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Env is a running federation: the control plane, one backend per
// exporter and a gateway process per cluster. Its methods are not safe
// for concurrent use: scenarios run one after the other.
type Env struct {
	opts  Options
	specs map[string]ClusterSpec

	cp     *Process
	cpAddr string
	cpCfg  *client.Config
	admin  *client.Conn
	// shmDir is the control plane's data on tmpfs, removed by Close.
	shmDir string

	ids      map[string]identityFiles
	backends map[string]*http.Server
	// backendAddrs are the backends' loopback addresses, by cluster.
	backendAddrs map[string]string
	gateways     map[string]*Process

	proxy  *http.Transport
	client *http.Client
	debug  *http.Client
	// c0Admin is c0's admin address (c0 is never restarted).
	c0Admin string
}

type identityFiles struct{ cert, key, bundle string }

// Start builds the environment and waits until c0 routes echo.demo to
// near (its nearest exporter) with far healthy behind it. Close it, also
// after an error of a later call.
func Start(ctx context.Context, opts Options) (e *Env, err error) {
	if opts.Dir == "" {
		return nil, errors.New("failover: Options.Dir is required")
	}
	if opts.Rate <= 0 {
		opts.Rate = 200
	}
	if opts.ClientTimeout <= 0 {
		opts.ClientTimeout = 10 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	e = &Env{
		opts: opts, specs: map[string]ClusterSpec{},
		ids: map[string]identityFiles{}, backends: map[string]*http.Server{}, backendAddrs: map[string]string{},
		gateways: map[string]*Process{},
		debug:    &http.Client{Timeout: 2 * time.Second},
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, e.Logs(20))
			e.Close()
			e = nil
		}
	}()
	if e.opts.Bin == "" {
		if e.opts.Bin, err = Build(ctx, opts.Dir); err != nil {
			return e, err
		}
	}
	if err := e.startControlPlane(ctx); err != nil {
		return e, err
	}
	for _, s := range Topology() {
		e.specs[s.Name] = s
		if err := e.addCluster(ctx, s); err != nil {
			return e, err
		}
	}
	// Exporters first, so c0's first snapshot already has both.
	for _, name := range []string{Near, Far, Caller} {
		p, err := e.startGateway(ctx, name, nil)
		if err != nil {
			return e, err
		}
		e.gateways[name] = p
	}
	e.c0Admin = e.gateways[Caller].Addrs.Admin
	u, _ := url.Parse("http://" + e.gateways[Caller].Addrs.Outbound)
	e.proxy = &http.Transport{Proxy: http.ProxyURL(u), MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
	e.client = &http.Client{Transport: e.proxy, Timeout: opts.ClientTimeout}
	if err := e.waitSteady(ctx, 30*time.Second); err != nil {
		return e, err
	}
	return e, nil
}

// Build compiles cmd/meshfed into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "meshfed")
	// Default build settings, as test/up and test/drill use, so the three
	// share the build cache that make prebuild warms.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/meshfed/meshfed/cmd/meshfed")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failover: go build cmd/meshfed (run from inside the module, or set Options.Bin): %w\n%s", err, b)
	}
	return out, nil
}

// startControlPlane runs `meshfed controlplane` (embedded etcd) as a
// process of its own, so its timing does not depend on this process
// (which may run under the race detector). Its data goes to tmpfs when
// /dev/shm exists: etcd fsyncs every write, and a busy disk would delay
// the gateways' lease renewals, which is not what is measured here.
func (e *Env) startControlPlane(ctx context.Context) error {
	dir := filepath.Join(e.opts.Dir, "controlplane")
	if shm, err := os.MkdirTemp("/dev/shm", "meshfed-failover-"); err == nil {
		dir, e.shmDir = shm, shm
	}
	p, found, err := startProcess(ctx, "controlplane", filepath.Join(e.opts.Dir, "controlplane.log"),
		[]string{"gRPC API:", "admin config:"}, e.opts.Bin, "controlplane", "--data-dir", dir,
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--write-user-config=false", "--log-level", "info")
	if err != nil {
		return err
	}
	e.cp, e.cpAddr = p, found["gRPC API:"]
	e.opts.Logf("control plane: pid %d, gRPC %s, data %s", p.PID, e.cpAddr, dir)
	if e.cpCfg, err = client.Load(found["admin config:"]); err != nil {
		return fmt.Errorf("failover: admin config: %w", err)
	}
	if e.admin, err = client.Dial(e.cpCfg); err != nil {
		return fmt.Errorf("failover: admin client: %w", err)
	}
	return nil
}

// addCluster registers a cluster with its own dev CA (trust domain
// NAME.test), writes its gateway's SVID and starts its backend.
func (e *Env) addCluster(ctx context.Context, s ClusterSpec) error {
	dir := filepath.Join(e.opts.Dir, s.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	td := spiffeid.RequireTrustDomainFromString(s.Name + ".test")
	ca, err := devca.New(td, 24*time.Hour)
	if err != nil {
		return err
	}
	ids := identityFiles{cert: filepath.Join(dir, "gw.pem"), key: filepath.Join(dir, "gw-key.pem"), bundle: filepath.Join(dir, "ca.pem")}
	if err := ca.WriteBundlePEM(ids.bundle); err != nil {
		return err
	}
	svid, err := ca.IssueSVID(spiffeid.RequireFromPath(td, "/meshfed/gateway/"+s.Name+"/gw"), 24*time.Hour, devca.SVIDOptions{})
	if err != nil {
		return err
	}
	if err := devca.WriteSVID(ids.cert, ids.key, svid); err != nil {
		return err
	}
	e.ids[s.Name] = ids
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.admin.Admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{
		Name: s.Name, TrustDomain: td.Name(),
		Locality: &meshfedv1.Locality{Provider: s.Provider, Region: s.Region, Zone: s.Zone},
	}}); err != nil {
		return fmt.Errorf("failover: put cluster %s: %w", s.Name, err)
	}
	jwks, err := ca.SPIFFEBundle(1, 0).Marshal()
	if err != nil {
		return err
	}
	if _, err := e.admin.Admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}}); err != nil {
		return fmt.Errorf("failover: put bundle %s: %w", td.Name(), err)
	}
	if s.Exports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		name := s.Name
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(name))
		}), ReadHeaderTimeout: 10 * time.Second}
		e.backends[s.Name] = srv
		e.backendAddrs[s.Name] = l.Addr().String()
		go srv.Serve(l)
	}
	return nil
}

// gatewayConfig is cluster's gateway config; listen holds the addresses
// (nil: free loopback ports, read back from the process's output).
func (e *Env) gatewayConfig(cluster string, listen *Addrs) *gateway.Config {
	ids := e.ids[cluster]
	cfg := &gateway.Config{
		Cluster: cluster,
		Name:    "gw",
		DataDir: filepath.Join(e.opts.Dir, cluster, "data"),
		ControlPlane: gateway.ControlPlaneConfig{
			Address: e.cpAddr, CA: e.cpCfg.CA, ServerID: e.cpCfg.ServerID,
		},
		Identity: gateway.IdentityConfig{Cert: ids.cert, Key: ids.key, Bundle: ids.bundle},
		Listen:   gateway.ListenConfig{Inbound: "127.0.0.1:0", Outbound: "127.0.0.1:0", Admin: "127.0.0.1:0"},
		Limits:   gateway.Limits{DrainTimeout: gateway.Duration(time.Second)},
	}
	if listen != nil {
		cfg.Listen = gateway.ListenConfig{Inbound: listen.Inbound, Outbound: listen.Outbound, Admin: listen.Admin}
	}
	if srv := e.backends[cluster]; srv != nil {
		cfg.Services = []gateway.LocalService{{
			Namespace: Namespace, Name: ServiceName,
			Ports:     []gateway.LocalPort{{Name: "http", Port: ServicePort, AppProtocol: "http"}},
			Endpoints: []gateway.LocalEndpoint{{Address: e.backendAddrs[cluster], Zone: e.specs[cluster].Zone}},
		}}
	}
	return cfg
}

// Gateway returns cluster's gateway process.
func (e *Env) Gateway(cluster string) *Process { return e.gateways[cluster] }

// Admin is the control plane's admin API.
func (e *Env) Admin() meshfedv1.AdminServiceClient { return e.admin.Admin }

// Close kills every gateway process and the control plane (by PID) and
// stops the backends. It is safe to call on a partly started Env.
func (e *Env) Close() error {
	var errs []error
	for _, p := range e.gateways {
		p.Kill()
	}
	for _, srv := range e.backends {
		srv.Close()
	}
	if e.proxy != nil {
		e.proxy.CloseIdleConnections()
	}
	e.debug.CloseIdleConnections()
	if e.admin != nil {
		errs = append(errs, e.admin.Close())
	}
	if e.cp != nil {
		e.cp.Kill()
	}
	if e.shmDir != "" {
		errs = append(errs, os.RemoveAll(e.shmDir))
	}
	return errors.Join(errs...)
}

// Logs returns the last lines of every gateway's log, for a failure
// report.
func (e *Env) Logs(lines int) string {
	var b strings.Builder
	for _, p := range []*Process{e.gateways[Caller], e.gateways[Near], e.gateways[Far], e.cp} {
		if p != nil {
			fmt.Fprintf(&b, "--- %s (%s), last %d lines:\n%s\n", p.Cluster, p.LogPath, lines, tail(p.LogPath, lines))
		}
	}
	return b.String()
}
