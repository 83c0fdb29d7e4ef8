package up

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/meshfed/meshfed/gateway"
)

// Defaults and limits of the layout.
const (
	// DefaultBasePort is the first port of the default layout. It stays
	// clear of the defaults of `meshfed controlplane` (15012, 15014) and
	// `meshfed gateway` (15443, 15001, 15021).
	DefaultBasePort = 16000
	// DefaultClusters is how many clusters `meshfed up` starts.
	DefaultClusters = 3
	// MaxClusters bounds --clusters: every cluster is three processes'
	// worth of work on one machine.
	MaxClusters = 20
	// ClusterStride is the number of ports each cluster's block takes.
	ClusterStride = 10
	// TrustDomainSuffix follows the cluster name in its trust domain.
	TrustDomainSuffix = ".meshfed.test"
	// GatewayName is the name of every cluster's gateway.
	GatewayName = "gw"
)

// The demo services.
const (
	DemoNamespace = "demo"
	// Echo is exported by every cluster, on EchoHTTPPort and
	// EchoGRPCPort.
	Echo         = "echo." + DemoNamespace
	EchoHTTPPort = 8080
	EchoGRPCPort = 9090
	// Catalog is exported by the last cluster only, on CatalogHTTPPort.
	Catalog         = "catalog." + DemoNamespace
	CatalogHTTPPort = 8080
)

// Port offsets inside a cluster's block of ClusterStride ports, which
// starts at base + ClusterStride*(index+1). The control plane takes base
// (gRPC) and base+1 (HTTP).
const (
	offInbound  = 0
	offOutbound = 1
	offAdmin    = 2
	offEchoHTTP = 3
	offEchoGRPC = 4
	offCatalog  = 5
	offGRPCPort = 6 // the gateway's TCP listener for echo.demo:9090
)

// locality is where a cluster of the layout claims to run.
type locality struct{ name, provider, region, zone string }

// localities are the named clusters, in order: the first two share a
// provider and region in different zones, the third is another provider
// and region. Clusters past the table cycle through it with a numbered
// name and another zone of the same region.
var localities = []locality{
	{"east", "aws", "us-east-1", "us-east-1a"},
	{"east-b", "aws", "us-east-1", "us-east-1b"},
	{"west", "gcp", "europe-west1", "europe-west1-b"},
	{"north", "azure", "northeurope", "northeurope-1"},
	{"south", "aws", "sa-east-1", "sa-east-1a"},
	{"central", "gcp", "us-central1", "us-central1-a"},
}

func clusterLocality(i int) locality {
	l := localities[i%len(localities)]
	if round := i / len(localities); round > 0 {
		l.name = "c" + strconv.Itoa(i+1)
		l.zone += "-" + strconv.Itoa(round+1)
	}
	return l
}

// PlanConfig is what a plan is made from.
type PlanConfig struct {
	// Dir holds every file; it must be absolute.
	Dir string
	// Clusters is how many clusters (1 to MaxClusters; 0 means
	// DefaultClusters).
	Clusters int
	// BasePort is the first port (0 means DefaultBasePort).
	BasePort int
	// Executable is the meshfed binary every child runs.
	Executable string
}

// PortUse is one loopback port of the layout and what listens on it.
type PortUse struct {
	Addr string
	Port int
	// Use says what listens there, for error messages.
	Use string
}

// Plan is everything a `meshfed up` run starts, decided before anything
// starts: paths, ports, command lines and the up.json it will write
// (without PIDs). It is pure data; NewPlan does no I/O.
type Plan struct {
	Config PlanConfig
	// State is up.json without PIDs, StartedAt and Detached.
	State State
	// Ports lists every port in the order they are checked.
	Ports []PortUse
	// Backends are the demo backends, by cluster in order.
	Backends []Backend
	// Localities of the clusters, in State.Clusters order.
	zones []string
}

// NewPlan lays out a federation; errors name the offending flag.
func NewPlan(cfg PlanConfig) (*Plan, error) {
	if cfg.Clusters == 0 {
		cfg.Clusters = DefaultClusters
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = DefaultBasePort
	}
	switch {
	case !filepath.IsAbs(cfg.Dir):
		return nil, fmt.Errorf("up: --dir %q must be an absolute path", cfg.Dir)
	case cfg.Executable == "":
		return nil, errors.New("up: no meshfed executable to run")
	case cfg.Clusters < 1 || cfg.Clusters > MaxClusters:
		return nil, fmt.Errorf("up: --clusters %d: want 1 to %d", cfg.Clusters, MaxClusters)
	case cfg.BasePort < 1024:
		return nil, fmt.Errorf("up: --base-port %d: want a port from 1024 up (lower ports need privileges)", cfg.BasePort)
	}
	if last := LastPort(cfg.BasePort, cfg.Clusters); last > 65535 {
		return nil, fmt.Errorf("up: --base-port %d: %d clusters need ports %d-%d, past 65535: pick a lower --base-port", cfg.BasePort, cfg.Clusters, cfg.BasePort, last)
	}
	p := &Plan{Config: cfg}
	addr := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	use := func(port int, what string) string {
		p.Ports = append(p.Ports, PortUse{Addr: addr(port), Port: port, Use: what})
		return addr(port)
	}
	base := cfg.BasePort
	p.State = State{
		Controlplane:     use(base, "control plane gRPC API"),
		ControlplaneHTTP: use(base+1, "control plane /metrics /healthz /readyz"),
		Config:           filepath.Join(cfg.Dir, "meshfed.yaml"),
		Dir:              cfg.Dir,
		BasePort:         base,
		Logs: map[string]string{
			"controlplane": filepath.Join(cfg.Dir, "logs", "controlplane.log"),
			"demo":         filepath.Join(cfg.Dir, "logs", "demo.log"),
		},
	}
	for i := range cfg.Clusters {
		l := clusterLocality(i)
		b := base + ClusterStride*(i+1)
		of := func(what string) string { return "cluster " + l.name + " " + what }
		c := Cluster{
			Name:        l.name,
			TrustDomain: l.name + TrustDomainSuffix,
			Provider:    l.provider,
			Region:      l.region,
			Zone:        l.zone,
			Inbound:     use(b+offInbound, of("gateway inbound (mTLS)")),
			Outbound:    use(b+offOutbound, of("gateway forward proxy")),
			Admin:       use(b+offAdmin, of("gateway admin")),
			GatewayLog:  filepath.Join(cfg.Dir, "logs", "gateway-"+l.name+".log"),
			Services: map[string]map[string]string{
				Echo: {"http": use(b+offEchoHTTP, of("demo backend echo.demo HTTP")), "grpc": use(b+offEchoGRPC, of("demo backend echo.demo gRPC"))},
			},
		}
		c.ForwardProxy = "http://" + c.Outbound
		p.Backends = append(p.Backends,
			Backend{Cluster: l.name, Service: Echo, Protocol: "http", Addr: c.Services[Echo]["http"]},
			Backend{Cluster: l.name, Service: Echo, Protocol: "grpc", Addr: c.Services[Echo]["grpc"]})
		if i == cfg.Clusters-1 {
			c.Services[Catalog] = map[string]string{"http": use(b+offCatalog, of("demo backend catalog.demo HTTP"))}
			p.Backends = append(p.Backends, Backend{Cluster: l.name, Service: Catalog, Protocol: "http", Addr: c.Services[Catalog]["http"]})
		}
		c.TCPListeners = map[string]string{
			Echo + ":" + strconv.Itoa(EchoGRPCPort): use(b+offGRPCPort, of("gateway port for echo.demo:9090 (gRPC)")),
		}
		c.GatewayArgs = []string{cfg.Executable, "gateway", "--config", p.GatewayConfigPath(l.name), "--enable-faults"}
		p.State.Clusters = append(p.State.Clusters, c)
		p.zones = append(p.zones, l.zone)
	}
	return p, nil
}

// LastPort is the highest port a layout of n clusters from base uses.
func LastPort(base, n int) int { return base + ClusterStride*(n+1) - 1 }

// ClusterDir is where a cluster's CA, SVID, gateway config and snapshot
// live.
func (p *Plan) ClusterDir(name string) string {
	return filepath.Join(p.Config.Dir, "clusters", name)
}

// CADir is the cluster's dev CA directory (devca files).
func (p *Plan) CADir(name string) string { return filepath.Join(p.ClusterDir(name), "ca") }

// GatewayConfigPath is the cluster's gateway.yaml.
func (p *Plan) GatewayConfigPath(name string) string {
	return filepath.Join(p.ClusterDir(name), "gateway.yaml")
}

// ControlplaneDir is the control plane's --data-dir.
func (p *Plan) ControlplaneDir() string { return filepath.Join(p.Config.Dir, "controlplane") }

// ControlplaneArgs is the control plane's command line.
func (p *Plan) ControlplaneArgs() []string {
	return []string{p.Config.Executable, "controlplane",
		"--data-dir", p.ControlplaneDir(),
		"--listen", p.State.Controlplane,
		"--http-listen", p.State.ControlplaneHTTP,
		"--write-user-config=false"}
}

// DemoArgs is the demo backends' command line: one process serves every
// cluster's backends.
func (p *Plan) DemoArgs() []string {
	args := []string{p.Config.Executable, "demo-backend", "--up-dir", p.Config.Dir}
	for _, b := range p.Backends {
		args = append(args, "--"+b.Protocol, b.String())
	}
	return args
}

// SVIDTTL is how long the gateways' SVIDs live; every `meshfed up`
// issues new ones.
const SVIDTTL = 30 * 24 * time.Hour

// GatewayConfig is cluster i's gateway configuration; cp says how to
// reach the control plane.
func (p *Plan) GatewayConfig(i int, cp gateway.ControlPlaneConfig) *gateway.Config {
	c := p.State.Clusters[i]
	dir := p.ClusterDir(c.Name)
	cfg := &gateway.Config{
		Cluster:      c.Name,
		Name:         GatewayName,
		DataDir:      filepath.Join(dir, "gateway"),
		ControlPlane: cp,
		Identity: gateway.IdentityConfig{
			Cert:   filepath.Join(dir, "gw.pem"),
			Key:    filepath.Join(dir, "gw-key.pem"),
			Bundle: filepath.Join(dir, "bundle.pem"),
		},
		Listen: gateway.ListenConfig{Inbound: c.Inbound, Outbound: c.Outbound, Admin: c.Admin},
		// Short drains: Ctrl-C and `meshfed down` should not wait 30 s.
		Limits: gateway.Limits{DrainTimeout: gateway.Duration(2 * time.Second)},
	}
	endpoint := func(svc string, ports map[string]string) gateway.LocalEndpoint {
		e := gateway.LocalEndpoint{Address: "127.0.0.1", Zone: p.zones[i], Ports: map[string]uint32{}}
		for proto, addr := range ports {
			_, port, _ := net.SplitHostPort(addr)
			n, _ := strconv.Atoi(port)
			e.Ports[strconv.Itoa(int(servicePort(svc, proto)))] = uint32(n)
		}
		return e
	}
	for _, svc := range []string{Echo, Catalog} {
		ports, ok := c.Services[svc]
		if !ok {
			continue
		}
		name, _ := gateway.ParseServiceName(svc)
		ls := gateway.LocalService{Namespace: name.Namespace, Name: name.Name, Endpoints: []gateway.LocalEndpoint{endpoint(svc, ports)}}
		for _, proto := range []string{"http", "grpc"} {
			if _, ok := ports[proto]; ok {
				ls.Ports = append(ls.Ports, gateway.LocalPort{Name: proto, Port: servicePort(svc, proto), AppProtocol: proto})
			}
		}
		cfg.Services = append(cfg.Services, ls)
	}
	for _, key := range slices.Sorted(maps.Keys(c.TCPListeners)) {
		svc, port, _ := net.SplitHostPort(key)
		n, _ := strconv.Atoi(port)
		cfg.TCPListeners = append(cfg.TCPListeners, gateway.TCPListener{Service: svc, Port: uint32(n), Listen: c.TCPListeners[key]})
	}
	return cfg
}

// servicePort is the service port of a demo service's protocol.
func servicePort(svc, proto string) uint32 {
	switch {
	case svc == Echo && proto == "grpc":
		return EchoGRPCPort
	case svc == Echo:
		return EchoHTTPPort
	default:
		return CatalogHTTPPort
	}
}
