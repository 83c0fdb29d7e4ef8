// Package gatewaytest runs a federation on loopback for tests: a control
// plane on embedded etcd, and per cluster a dev CA (its own trust domain)
// registered with its bundle, and gateways with SVIDs written to files.
package gatewaytest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// ClusterSpec describes a cluster to create.
type ClusterSpec struct {
	Name                   string
	Provider, Region, Zone string
}

// Federation is a control plane and its clusters.
type Federation struct {
	t     testing.TB
	CP    *controlplanetest.Server
	Admin *client.Conn
	Dir   string
	// Clusters by name.
	Clusters map[string]*Cluster
}

// Cluster is one cluster: its trust domain and dev CA.
type Cluster struct {
	Spec ClusterSpec
	TD   spiffeid.TrustDomain
	CA   *devca.CA
	Dir  string
}

// New starts a control plane and registers the clusters, each with a new
// dev CA whose bundle the control plane federates.
func New(t testing.TB, specs ...ClusterSpec) *Federation {
	t.Helper()
	f := &Federation{t: t, Dir: t.TempDir(), Clusters: map[string]*Cluster{}}
	f.CP = controlplanetest.Start(t, controlplane.Config{})
	f.Admin = f.CP.Dial(t)
	for _, s := range specs {
		f.AddCluster(s)
	}
	return f
}

// AddCluster registers a cluster with a new dev CA and trust domain
// NAME.test.
func (f *Federation) AddCluster(s ClusterSpec) *Cluster {
	t := f.t
	t.Helper()
	if s.Provider == "" {
		s.Provider, s.Region = "onprem", "dc1"
	}
	td := spiffeid.RequireTrustDomainFromString(s.Name + ".test")
	ca, err := devca.New(td, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Spec: s, TD: td, CA: ca, Dir: filepath.Join(f.Dir, s.Name)}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteBundlePEM(filepath.Join(c.Dir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.Admin.Admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{
		Name: s.Name, TrustDomain: td.Name(),
		Locality: &meshfedv1.Locality{Provider: s.Provider, Region: s.Region, Zone: s.Zone},
	}}); err != nil {
		t.Fatal(err)
	}
	jwks, err := ca.SPIFFEBundle(1, 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Admin.Admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}}); err != nil {
		t.Fatal(err)
	}
	f.Clusters[s.Name] = c
	return c
}

// IssueSVID writes an SVID for id, valid for ttl, to DIR/NAME.pem and
// DIR/NAME-key.pem and returns the two paths.
func (c *Cluster) IssueSVID(t testing.TB, name string, id spiffeid.ID, ttl time.Duration) (cert, key string) {
	t.Helper()
	svid, err := c.CA.IssueSVID(id, ttl, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(c.Dir, name+".pem"), filepath.Join(c.Dir, name+"-key.pem")
	if err := devca.WriteSVID(cert, key, svid); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// GatewayID is the SPIFFE ID of the cluster's gateway name.
func (c *Cluster) GatewayID(name string) spiffeid.ID {
	return spiffeid.RequireFromPath(c.TD, "/meshfed/gateway/"+c.Spec.Name+"/"+name)
}

// Config returns a gateway config for the cluster: loopback listeners on
// free ports, identity files for gateway "gw", and a data dir that stays
// the same across restarts of the same cluster's gateway.
func (f *Federation) Config(cluster string) *gateway.Config {
	t := f.t
	t.Helper()
	c := f.Clusters[cluster]
	cert, key := c.IssueSVID(t, "gw", c.GatewayID("gw"), time.Hour)
	return &gateway.Config{
		Cluster: cluster,
		Name:    "gw",
		DataDir: filepath.Join(c.Dir, "data"),
		ControlPlane: gateway.ControlPlaneConfig{
			Address: f.CP.CP.Addr(), CA: f.CP.Config.CA, ServerID: f.CP.Config.ServerID,
		},
		Identity: gateway.IdentityConfig{Cert: cert, Key: key, Bundle: filepath.Join(c.Dir, "ca.pem")},
		Listen:   gateway.ListenConfig{Inbound: "127.0.0.1:0", Outbound: "127.0.0.1:0", Admin: "127.0.0.1:0"},
		Limits:   gateway.Limits{DrainTimeout: gateway.Duration(5 * time.Second)},
	}
}

// Gateway is a running gateway.
type Gateway struct {
	*gateway.Gateway
	Config *gateway.Config
	stop   context.CancelFunc
	done   chan error
}

// Start runs a gateway with cfg until Stop or the end of the test. It
// waits until the gateway has routes.
func Start(t testing.TB, cfg *gateway.Config) *Gateway {
	t.Helper()
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw := &Gateway{Gateway: g, Config: cfg, stop: cancel, done: make(chan error, 1)}
	go func() { gw.done <- g.Run(ctx) }()
	t.Cleanup(gw.Stop)
	select {
	case <-g.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway %s: no routes after 20s", cfg.Cluster)
	}
	return gw
}

// Stop drains the gateway and waits for Run to return; safe to repeat.
func (g *Gateway) Stop() {
	if g.stop == nil {
		return
	}
	g.stop()
	g.stop = nil
	<-g.done
}

// WaitFor polls cond every 20 ms until it holds or 20 s pass.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitRoutable waits until g's debug snapshot shows service (NAME.NAMESPACE)
// exported by cluster with ready endpoints, and cluster alive (unless it
// is g's own).
func WaitRoutable(t testing.TB, g *Gateway, service, cluster string) {
	t.Helper()
	WaitFor(t, "gateway "+g.Config.Cluster+" to route "+service+" to "+cluster, func() bool {
		d := g.DebugSnapshot()
		alive := cluster == g.Config.Cluster
		for _, c := range d.Clusters {
			if c.Name == cluster && c.Alive {
				alive = true
			}
		}
		for _, s := range d.Services {
			if s.Service != service {
				continue
			}
			for _, c := range s.Clusters {
				if c.Cluster == cluster && c.Ready > 0 && alive {
					return true
				}
			}
		}
		return false
	})
}

// Listen opens a loopback listener.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
