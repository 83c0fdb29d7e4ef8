package gateway

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer serves /metrics, /healthz, /readyz and /debug/snapshot.
// It binds to loopback by default: /debug/snapshot shows the gateway's
// view of the federation.
func (g *Gateway) adminServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if msg, ok := g.readiness(); !ok {
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /debug/snapshot", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(g.debugSnapshot())
	})
	mux.HandleFunc("GET /debug/routes", g.serveDebugRoutes)
	if g.cfg.AdminFaults {
		g.serveFaults(mux)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// readiness is ready once the gateway has routes and an SVID, and until
// it starts draining.
func (g *Gateway) readiness() (string, bool) {
	if g.draining.Load() {
		return "draining\n", false
	}
	select {
	case <-g.haveRoutes:
	default:
		return "no snapshot yet: waiting for the control plane\n", false
	}
	if _, err := g.svid.GetX509SVID(); err != nil {
		return "no SVID: " + err.Error() + "\n", false
	}
	return "", true
}

// DebugSnapshot is what /debug/snapshot returns: what the gateway
// currently believes.
type DebugSnapshot struct {
	Cluster      string                  `json:"cluster"`
	Gateway      string                  `json:"gateway"`
	SPIFFEID     string                  `json:"spiffe_id"`
	Version      int64                   `json:"version"`
	Source       string                  `json:"source"`
	UpdatedAt    time.Time               `json:"updated_at"`
	Connected    bool                    `json:"controlplane_connected"`
	Locality     map[string]string       `json:"locality"`
	Clusters     []DebugCluster          `json:"clusters"`
	Services     []DebugService          `json:"services"`
	Local        []DebugLocalService     `json:"local_services"`
	Listeners    map[string]string       `json:"listeners"`
	TCPListeners []DebugTCPListener      `json:"tcp_listeners,omitempty"`
	Policies     map[string]DebugPolicy  `json:"authorization_policies,omitempty"`
	Connections  int                     `json:"open_connections"`
	Bundles      map[string]DebugBundles `json:"trust_bundles"`
}

// DebugCluster is a federated cluster.
type DebugCluster struct {
	Name        string   `json:"name"`
	TrustDomain string   `json:"trust_domain"`
	Provider    string   `json:"provider"`
	Region      string   `json:"region"`
	Zone        string   `json:"zone"`
	Alive       bool     `json:"alive"`
	Addresses   []string `json:"addresses"`
}

// DebugService is an imported service and its exporting clusters.
type DebugService struct {
	Service  string              `json:"service"`
	Ports    []uint32            `json:"ports"`
	Clusters []DebugImportTarget `json:"clusters"`
}

// DebugImportTarget is one exporting cluster of a service.
type DebugImportTarget struct {
	Cluster    string `json:"cluster"`
	Ready      uint32 `json:"ready"`
	Conflicted bool   `json:"conflicted,omitempty"`
}

// DebugLocalService is a service with local endpoints.
type DebugLocalService struct {
	Service   string              `json:"service"`
	Exported  bool                `json:"exported"`
	Endpoints map[uint32][]string `json:"endpoints"`
}

// DebugTCPListener is a per-service TCP listener.
type DebugTCPListener struct {
	Service string `json:"service"`
	Port    uint32 `json:"port"`
	Listen  string `json:"listen"`
}

// DebugPolicy is a service's authorization policy as enforced.
type DebugPolicy struct {
	Invalid bool `json:"invalid,omitempty"`
	Rules   int  `json:"rules"`
}

// DebugBundles is a trust domain's bundle as held.
type DebugBundles struct {
	Sequence uint64 `json:"sequence"`
}

func (g *Gateway) debugSnapshot() DebugSnapshot {
	r := g.routes.Load()
	d := DebugSnapshot{
		Cluster: g.cfg.Cluster, Gateway: g.cfg.Name, SPIFFEID: g.self.String(),
		Version: r.version, Source: r.source, UpdatedAt: r.updatedAt,
		Connected: readGauge(g.m.controlPlaneUp) == 1,
		Locality:  map[string]string{"provider": r.local.Provider, "region": r.local.Region, "zone": r.local.Zone},
		Listeners: map[string]string{"inbound": g.InboundAddr(), "outbound": g.OutboundAddr(), "admin": g.AdminAddr()},
		Bundles:   map[string]DebugBundles{}, Connections: g.conns.count(),
	}
	for _, name := range sortedKeys(r.clusters) {
		c := r.clusters[name]
		d.Clusters = append(d.Clusters, DebugCluster{Name: name, TrustDomain: c.trustDomain.Name(), Provider: c.locality.Provider,
			Region: c.locality.Region, Zone: c.locality.Zone, Alive: c.alive, Addresses: c.addrs})
		if seq, ok := g.bundles.Sequence(c.trustDomain); ok {
			d.Bundles[c.trustDomain.Name()] = DebugBundles{Sequence: seq}
		}
	}
	for _, key := range sortedKeys(r.services) {
		imp := r.services[key].imp
		s := DebugService{Service: imp.GetName() + "." + imp.GetNamespace()}
		for _, p := range imp.GetPorts() {
			s.Ports = append(s.Ports, p.GetPort())
		}
		for _, c := range imp.GetClusters() {
			s.Clusters = append(s.Clusters, DebugImportTarget{Cluster: c.GetCluster(), Ready: c.GetReady(), Conflicted: conflicted(c)})
		}
		d.Services = append(d.Services, s)
	}
	for _, key := range sortedKeys(g.local.byKey) {
		s := g.local.byKey[key]
		ls := DebugLocalService{Service: s.name.String(), Exported: s.export, Endpoints: map[uint32][]string{}}
		for p, lp := range s.ports {
			ls.Endpoints[p] = lp.addrs
		}
		d.Local = append(d.Local, ls)
	}
	for i, t := range g.tcp {
		d.TCPListeners = append(d.TCPListeners, DebugTCPListener{Service: t.target.Service.String(), Port: t.target.Port, Listen: g.TCPAddrs()[i]})
	}
	if len(r.authz) > 0 {
		d.Policies = map[string]DebugPolicy{}
		for k, p := range r.authz {
			d.Policies[k] = DebugPolicy{Invalid: p.invalid, Rules: len(p.rules)}
		}
	}
	sort.Slice(d.Local, func(i, j int) bool { return d.Local[i].Service < d.Local[j].Service })
	return d
}

// DebugSnapshot returns what /debug/snapshot serves.
func (g *Gateway) DebugSnapshot() DebugSnapshot { return g.debugSnapshot() }
