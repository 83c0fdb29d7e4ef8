package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// maxPlannedRequests bounds the request log of one drill.
const maxPlannedRequests = 2_000_000

// Config is what a Runner needs.
type Config struct {
	// Spec is a normalized spec (Spec.Normalize).
	Spec *Spec
	Env  *Env
	// ControlPlane reaches the admin API.
	ControlPlane ControlPlane
	// Progress receives one line per second while a drill runs; nil
	// means none.
	Progress io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient talks to gateway admin ports; nil means a default one.
	HTTPClient *http.Client
}

// Runner plans, dry-runs and runs one drill. It is not safe for
// concurrent use.
type Runner struct {
	cfg Config
}

// NewRunner checks cfg.
func NewRunner(cfg Config) (*Runner, error) {
	switch {
	case cfg.Spec == nil:
		return nil, errors.New("drill: no spec")
	case cfg.Env == nil:
		return nil, ErrNoEnvironment
	case cfg.ControlPlane == nil:
		return nil, errors.New("drill: no control plane")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}}
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	return &Runner{cfg: cfg}, nil
}

// Plan is a drill resolved against the live clusterset: which clusters
// the scope covers, who sends traffic, and what will be done.
type Plan struct {
	ID   string
	Spec *Spec
	// Scope are the clusters in the scope.
	Scope []string
	// From are the client clusters' gateways.
	From     []*Gateway
	Service  gateway.ServiceName
	HTTPPort int
	GRPCPort int
	// State is the control plane's state when the plan was made.
	State *client.State
	// Clusters are every registered cluster, sorted.
	Clusters  []string
	injectors []injector
}

// Actions says what the drill will do, one line per injector.
func (p *Plan) Actions() []string {
	out := make([]string, len(p.injectors))
	for i, in := range p.injectors {
		out[i] = in.String()
	}
	return out
}

// FromNames are the client clusters' names.
func (p *Plan) FromNames() []string {
	out := make([]string, len(p.From))
	for i, g := range p.From {
		out[i] = g.Cluster
	}
	return out
}

// Plan resolves the spec against the control plane's state and the
// environment, and checks (changing nothing) that every fault can be
// injected: the gateways' fault API answers, a killed gateway is the
// process up.json names, no drain of the scope exists already.
func (r *Runner) Plan(ctx context.Context) (*Plan, error) {
	s := r.cfg.Spec
	st, err := r.cfg.ControlPlane.State(ctx)
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: s, State: st}
	for name := range st.Clusters {
		p.Clusters = append(p.Clusters, name)
	}
	sort.Strings(p.Clusters)

	// Scope.
	switch {
	case s.Scope.Cluster != "":
		if _, ok := st.Clusters[s.Scope.Cluster]; !ok {
			return nil, s.fieldErr("scope.cluster", "cluster %q is not registered (clusters: %s)", s.Scope.Cluster, strings.Join(p.Clusters, ", "))
		}
		p.Scope = []string{s.Scope.Cluster}
	default:
		zones := map[string]bool{}
		for _, name := range p.Clusters {
			z := st.Clusters[name].GetLocality().GetZone()
			zones[z] = true
			if z == s.Scope.Zone {
				p.Scope = append(p.Scope, name)
			}
		}
		if len(p.Scope) == 0 {
			var zs []string
			for z := range zones {
				if z != "" {
					zs = append(zs, z)
				}
			}
			sort.Strings(zs)
			return nil, s.fieldErr("scope.zone", "no registered cluster is in zone %q (zones: %s)", s.Scope.Zone, strings.Join(zs, ", "))
		}
	}

	// Service and its ports.
	p.Service, _ = gateway.ParseServiceName(s.Traffic.Service)
	imp, ok := st.Imports[p.Service.Key()]
	if !ok {
		return nil, s.fieldErr("traffic.service", "%s is not imported: no cluster exports it (see meshfed import list)", p.Service)
	}
	if s.Scope.Service != "" {
		svc, _ := gateway.ParseServiceName(s.Scope.Service)
		simp, ok := st.Imports[svc.Key()]
		if !ok {
			return nil, s.fieldErr("scope.service", "%s is not imported: no cluster exports it", svc)
		}
		exporters := importClusters(simp)
		for _, c := range p.Scope {
			if !slices.Contains(exporters, c) {
				return nil, s.fieldErr("scope.service", "cluster %s does not export %s (exported by %s)", c, svc, strings.Join(exporters, ", "))
			}
		}
	}
	p.HTTPPort, p.GRPCPort = s.Traffic.Ports.HTTP, s.Traffic.Ports.GRPC
	if p.HTTPPort == 0 {
		p.HTTPPort = findPort(imp, ProtocolHTTP, 8080)
	}
	if p.GRPCPort == 0 {
		p.GRPCPort = findPort(imp, ProtocolGRPC, 9090)
	}

	// Client clusters.
	from := s.Traffic.From
	if len(from) == 0 {
		for _, name := range r.cfg.Env.Clusters() {
			if _, registered := st.Clusters[name]; registered && !slices.Contains(p.Scope, name) {
				from = append(from, name)
			}
		}
		if len(from) == 0 {
			return nil, s.fieldErr("traffic.from", "no client cluster: every cluster of the environment is in the scope; list the clients in traffic.from")
		}
	}
	for _, name := range from {
		if _, ok := st.Clusters[name]; !ok {
			return nil, s.fieldErr("traffic.from", "cluster %q is not registered (clusters: %s)", name, strings.Join(p.Clusters, ", "))
		}
		gw := r.cfg.Env.Gateways[name]
		switch {
		case gw == nil:
			return nil, s.fieldErr("traffic.from", "the environment has no gateway for cluster %q (add it under environment.gateways)", name)
		case !s.Traffic.Observe && gw.ForwardProxy == nil:
			return nil, s.fieldErr("traffic.from", "the environment has no forward proxy for cluster %q (environment.gateways.%s.forward_proxy)", name, name)
		case s.Traffic.Observe && gw.Admin == "":
			return nil, s.fieldErr("traffic.from", "observing traffic needs the admin address of cluster %q's gateway", name)
		}
		p.From = append(p.From, gw)
	}
	if !s.Traffic.Observe {
		total := s.Warmup.D() + s.Duration.D() + s.Restore.D()
		if n := float64(s.Traffic.Rate*len(p.From)*len(s.Traffic.Protocols)) * total.Seconds(); n > maxPlannedRequests {
			return nil, s.fieldErr("traffic.rate", "%d per second from %d clusters over %s is %.0f requests, more than the %d one drill may log", s.Traffic.Rate, len(p.From), total, n, maxPlannedRequests)
		}
	}

	// Injectors.
	svc := s.Scope.Service
	for _, c := range p.Scope {
		switch s.Fault.Kind {
		case FaultDrain:
			d := &meshfedv1.Drain{Cluster: c, PeriodSeconds: int64(s.Fault.Period.D() / time.Second)}
			if svc != "" {
				name, _ := gateway.ParseServiceName(svc)
				d.Namespace, d.Name = name.Namespace, name.Name
			}
			if old, ok := st.Drains[schema.DrainKey(d.GetCluster(), d.GetNamespace(), d.GetName())]; ok {
				return nil, fmt.Errorf("drill: %s is drained already (since %s): the drill's rollback would end that drain; undrain it first (meshfed cluster undrain %s)",
					schema.DescribeDrain(old.GetCluster(), old.GetNamespace(), old.GetName()), old.GetStartedAt().AsTime().Format(time.RFC3339), c)
			}
			p.injectors = append(p.injectors, &drainInjector{cp: r.cfg.ControlPlane, d: d})
		case FaultKill:
			gw := r.cfg.Env.Gateways[c]
			if gw == nil || gw.Process == nil || r.cfg.Env.UpDir == "" || !killSupported {
				return nil, s.fieldErr("fault.kind", "kill is only offered for gateways meshfed started (meshfed up); the gateway of cluster %s was not: use blackhole instead", c)
			}
			p.injectors = append(p.injectors, &killInjector{gw: gw, upDir: r.cfg.Env.UpDir, hc: r.cfg.HTTPClient})
		default:
			gw := r.cfg.Env.Gateways[c]
			if gw == nil || gw.Admin == "" {
				return nil, fmt.Errorf("drill: the environment has no admin address for the gateway of cluster %s (environment.gateways.%s.admin)", c, c)
			}
			f := gateway.Fault{Kind: s.Fault.Kind, Service: svc, Latency: gateway.Duration(s.Fault.Latency),
				Duration: gateway.Duration(s.Duration.D() + faultMargin)}
			p.injectors = append(p.injectors, &gatewayFaultInjector{gw: gw, fault: f, hc: r.cfg.HTTPClient})
		}
	}
	for _, in := range p.injectors {
		if err := in.check(ctx); err != nil {
			return nil, err
		}
	}
	p.ID = labelize(r.cfg.Now().UTC().Format("20060102-150405")+"-"+s.Name, 63)
	return p, nil
}

// importClusters lists the clusters exporting an import.
func importClusters(imp *meshfedv1.Import) []string {
	var out []string
	for _, c := range imp.GetClusters() {
		out = append(out, c.GetCluster())
	}
	sort.Strings(out)
	return out
}

// findPort picks the service port for protocol: the one named so, else
// the one with that app protocol, else def.
func findPort(imp *meshfedv1.Import, protocol string, def int) int {
	for _, p := range imp.GetPorts() {
		if p.GetName() == protocol {
			return int(p.GetPort())
		}
	}
	for _, p := range imp.GetPorts() {
		if strings.EqualFold(p.GetAppProtocol(), protocol) {
			return int(p.GetPort())
		}
	}
	if ps := imp.GetPorts(); len(ps) == 1 && protocol == ProtocolHTTP {
		return int(ps[0].GetPort())
	}
	return def
}
