package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// The services gateway A exports, each with one port, and the names the
// tunnel carries in its SNI.
var (
	echoService = serviceSpec{name: "echo", port: 8080}
	sinkService = serviceSpec{name: "sink", port: 9000}
	holdService = serviceSpec{name: "hold", port: 7000}
)

const namespace = "demo"

type serviceSpec struct {
	name string
	port uint32
}

func (s serviceSpec) key() string { return s.name + "." + namespace }

// sni is what a tunnel for s carries in its TLS server name.
func (s serviceSpec) sni() string {
	return fmt.Sprintf("%d.%s.%s.%s", s.port, s.name, namespace, gateway.ClustersetDomain)
}

// host is the clusterset host:port a forward-proxy client asks for.
func (s serviceSpec) host() string {
	return fmt.Sprintf("%s.%s.%s:%d", s.name, namespace, gateway.ClustersetDomain, s.port)
}

// cluster is one cluster's identity material, as files.
type cluster struct {
	name     string
	td       spiffeid.TrustDomain
	ca       *devca.CA
	cert     string // gateway SVID chain (PEM)
	key      string // its key (PEM)
	bundle   string // the cluster's CA (PEM)
	combined string // cert + key in one file, for HAProxy
}

// federation is the meshfed side: a control plane and two gateways.
// Gateway A (cluster a) serves the backend's services; gateway B
// (cluster b) is where clients connect.
type federation struct {
	cp   *benchkit.Child
	a, b *benchkit.Child
	// Addresses of B's listeners for clients, and the admin ports.
	bProxy, bEcho, bSink, bHold string
	aAdmin, bAdmin              string
	// aInbound is A's mTLS address, as B learned it from the control plane.
	aInbound string
	ca, cb   *cluster
}

func (f *federation) children() []*benchkit.Child { return []*benchkit.Child{f.cp, f.a, f.b} }

// stop kills every child by PID.
func (f *federation) stop() {
	for _, c := range []*benchkit.Child{f.b, f.a, f.cp} {
		c.Stop()
	}
}

// gatewayPIDs are A's and B's process IDs.
func (f *federation) gatewayPIDs() []int { return []int{f.a.PID, f.b.PID} }

// startFederation runs `meshfed controlplane`, registers clusters a and b
// with dev CAs, and runs gateway A and gateway B as processes of their own;
// it returns once B routes every service to A. The caller must
// call stop, also after an error.
func startFederation(ctx context.Context, bin, gatewayBin, dir string, procs int, be backendAddrs) (*federation, error) {
	f := &federation{}
	// 1. Control plane.
	cpDir := filepath.Join(dir, "controlplane")
	grpcAddr, err1 := benchkit.FreeAddr()
	httpAddr, err2 := benchkit.FreeAddr()
	if err1 != nil || err2 != nil {
		return f, fmt.Errorf("pick ports: %v %v", err1, err2)
	}
	var err error
	f.cp, err = benchkit.StartChild("control plane", bin, []string{"controlplane", "--data-dir", cpDir, "--listen", grpcAddr,
		"--http-listen", httpAddr, "--write-user-config=false", "--log-level", "warn"}, nil, childStderr)
	if err != nil {
		return f, err
	}
	var cfg *client.Config
	if err := waitFor(ctx, "control plane admin API", 60*time.Second, f.children()[:1], func() error {
		c, err := client.Load(filepath.Join(cpDir, "meshfed.yaml"))
		if err != nil {
			return err
		}
		if err := benchkit.PingControlPlane(ctx, c); err != nil {
			return err
		}
		cfg = c
		return nil
	}); err != nil {
		return f, err
	}
	benchkit.Logf("control plane pid %d ready on %s", f.cp.PID, grpcAddr)

	// 2. Clusters, CAs and gateway SVIDs. A's SVID also names the
	// services' SNIs as DNS SANs: HAProxy B checks the server's
	// certificate against the SNI it sends, and both chains use the
	// same certificates. meshfed checks the SPIFFE ID and ignores them.
	var sans []string
	for _, s := range []serviceSpec{echoService, sinkService, holdService} {
		sans = append(sans, s.sni())
	}
	if f.ca, err = newCluster(ctx, cfg, dir, "a", sans); err != nil {
		return f, err
	}
	if f.cb, err = newCluster(ctx, cfg, dir, "b", nil); err != nil {
		return f, err
	}

	// 3. Gateways.
	addrs := make([]string, 6)
	for i := range addrs {
		if addrs[i], err = benchkit.FreeAddr(); err != nil {
			return f, err
		}
	}
	f.aAdmin, f.bAdmin, f.bProxy, f.bEcho, f.bSink, f.bHold = addrs[0], addrs[1], addrs[2], addrs[3], addrs[4], addrs[5]
	ac := gatewayConfig(f.ca, cfg, dir, "127.0.0.1:0", "off", f.aAdmin)
	ac.Procs = procs
	for _, s := range []struct {
		spec serviceSpec
		addr string
	}{{echoService, be.http}, {sinkService, be.sink}, {holdService, be.hold}} {
		ac.Services = append(ac.Services, gateway.LocalService{
			Namespace: namespace, Name: s.spec.name,
			Ports:     []gateway.LocalPort{{Port: s.spec.port}},
			Endpoints: []gateway.LocalEndpoint{{Address: s.addr}},
		})
	}
	bc := gatewayConfig(f.cb, cfg, dir, "127.0.0.1:0", f.bProxy, f.bAdmin)
	bc.Procs = procs
	bc.TCPListeners = []gateway.TCPListener{
		{Service: echoService.key(), Port: echoService.port, Listen: f.bEcho},
		{Service: sinkService.key(), Port: sinkService.port, Listen: f.bSink},
		{Service: holdService.key(), Port: holdService.port, Listen: f.bHold},
	}
	if f.a, err = startGateway(gatewayBin, dir, ac); err != nil {
		return f, err
	}
	if f.b, err = startGateway(gatewayBin, dir, bc); err != nil {
		return f, err
	}
	if err := waitFor(ctx, "gateway B to route every service to cluster a", 60*time.Second, f.children(), func() error {
		return f.routable(ctx)
	}); err != nil {
		return f, err
	}
	benchkit.Logf("gateways running: A pid %d (inbound %s), B pid %d", f.a.PID, f.aInbound, f.b.PID)
	return f, nil
}

// newCluster makes a dev CA for trust domain NAME.test, registers the
// cluster and its bundle, and writes its gateway's SVID files.
func newCluster(ctx context.Context, cfg *client.Config, dir, name string, dnsNames []string) (*cluster, error) {
	td := spiffeid.RequireTrustDomainFromString(name + ".test")
	ca, err := devca.New(td, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	cdir := filepath.Join(dir, "cluster-"+name)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return nil, err
	}
	c := &cluster{name: name, td: td, ca: ca, cert: filepath.Join(cdir, "gw.pem"), key: filepath.Join(cdir, "gw-key.pem"),
		bundle: filepath.Join(cdir, "ca.pem"), combined: filepath.Join(cdir, "gw-combined.pem")}
	id := spiffeid.RequireFromPath(td, "/meshfed/gateway/"+name+"/gw")
	svid, err := ca.IssueSVID(id, 24*time.Hour, devca.SVIDOptions{DNSNames: dnsNames})
	if err != nil {
		return nil, err
	}
	if err := devca.WriteSVID(c.cert, c.key, svid); err != nil {
		return nil, err
	}
	if err := ca.WriteBundlePEM(c.bundle); err != nil {
		return nil, err
	}
	certPEM, err1 := os.ReadFile(c.cert)
	keyPEM, err2 := os.ReadFile(c.key)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("read back the SVID files: %v %v", err1, err2)
	}
	if err := os.WriteFile(c.combined, append(certPEM, keyPEM...), 0o600); err != nil {
		return nil, err
	}

	conn, err := client.Dial(cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := conn.Admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{
		Name: name, TrustDomain: td.Name(), Locality: &meshfedv1.Locality{Provider: "onprem", Region: "dc1"},
	}}); err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", name, err)
	}
	jwks, err := ca.SPIFFEBundle(1, 0).Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}}); err != nil {
		return nil, fmt.Errorf("put bundle of %s: %w", td.Name(), err)
	}
	return c, nil
}

// gatewayConfig is a gateway config for c with default limits and no
// access log.
func gatewayConfig(c *cluster, cp *client.Config, dir, inbound, outbound, admin string) *gateway.Config {
	return &gateway.Config{
		Cluster:      c.name,
		Name:         "gw",
		DataDir:      filepath.Join(dir, "gateway-"+c.name),
		ControlPlane: gateway.ControlPlaneConfig{Address: cp.Server, CA: cp.CA, ServerID: cp.ServerID},
		Identity:     gateway.IdentityConfig{Cert: c.cert, Key: c.key, Bundle: c.bundle},
		Listen:       gateway.ListenConfig{Inbound: inbound, Outbound: outbound, Admin: admin},
	}
}

// startGateway writes cfg as YAML and runs `meshfed-gateway --config`
// (or `meshfed gateway --config` when bin is a meshfed binary).
func startGateway(bin, dir string, cfg *gateway.Config) (*benchkit.Child, error) {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "gateway-"+cfg.Cluster+".yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	args := []string{"--config", path, "--log-level", "warn"}
	if filepath.Base(bin) == "meshfed" {
		args = append([]string{"gateway"}, args...)
	}
	return benchkit.StartChild("gateway "+cfg.Cluster, bin, args, nil, childStderr)
}

// routable checks B's /debug/snapshot: cluster a alive with an address,
// and every service exported by a with a ready endpoint.
func (f *federation) routable(ctx context.Context) error {
	d, err := debugSnapshot(ctx, f.bAdmin)
	if err != nil {
		return err
	}
	f.aInbound = ""
	for _, c := range d.Clusters {
		if c.Name == "a" && c.Alive && len(c.Addresses) > 0 {
			f.aInbound = c.Addresses[0]
		}
	}
	if f.aInbound == "" {
		return fmt.Errorf("gateway B does not see cluster a alive with an address yet")
	}
	for _, s := range []serviceSpec{echoService, sinkService, holdService} {
		ok := false
		for _, ds := range d.Services {
			for _, c := range ds.Clusters {
				ok = ok || (ds.Service == s.key() && c.Cluster == "a" && c.Ready > 0)
			}
		}
		if !ok {
			return fmt.Errorf("gateway B does not route %s to cluster a yet", s.key())
		}
	}
	return nil
}

func debugSnapshot(ctx context.Context, admin string) (*gateway.DebugSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/debug/snapshot", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var d gateway.DebugSnapshot
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, fmt.Errorf("/debug/snapshot: %w", err)
	}
	return &d, nil
}
