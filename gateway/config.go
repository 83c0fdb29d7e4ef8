package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/globallb"
)

// Default listen addresses; the inbound port is the one peers dial.
const (
	DefaultInbound  = "0.0.0.0:15443"
	DefaultOutbound = "127.0.0.1:15001"
	DefaultAdmin    = "127.0.0.1:15021"
	DefaultName     = "gw"
)

// MaxConfigBytes caps the configuration file.
const MaxConfigBytes = 4 << 20

// Config is a gateway's configuration, read from YAML (or JSON) by
// LoadConfig; flags may override fields afterwards. Unknown fields are
// refused so a typo is an error, not a silently ignored setting.
type Config struct {
	// Cluster is the cluster this gateway belongs to (required).
	Cluster string `json:"cluster"`
	// Name is the gateway's name within its cluster; its SPIFFE ID must
	// be spiffe://TD/meshfed/gateway/CLUSTER/NAME. Default "gw".
	Name string `json:"name,omitempty"`
	// Instance tells replicas of this gateway apart (they share Name and
	// the SVID): each registers its presence as NAME.INSTANCE, so one
	// replica stopping does not take the others' presence with it. Give
	// each replica its own, e.g. the pod name (--instance $(POD_NAME));
	// empty for a single instance.
	Instance string `json:"instance,omitempty"`
	// Procs is how many threads run Go code at once (GOMAXPROCS), like
	// HAProxy's nbthread or Envoy's --concurrency; 0 keeps Go's default
	// (the CPUs the process may use). Fewer threads mean fewer thread
	// wake-ups: on the 2-CPU benchmark machine, shared with the load,
	// the byte tunnel cost both gateways 53-59 µs of CPU per request
	// with 1, against 71 µs with the default. The gateway command
	// applies it at start.
	Procs int `json:"procs,omitempty"`
	// DataDir holds the last control-plane snapshot (snapshot.pb), so a
	// gateway restarted while the control plane is down still serves.
	DataDir string `json:"data_dir"`

	ControlPlane ControlPlaneConfig `json:"controlplane"`
	Identity     IdentityConfig     `json:"identity"`
	Listen       ListenConfig       `json:"listen"`
	// Services is the static local service source: services whose
	// endpoints run next to this gateway.
	Services []LocalService `json:"services,omitempty"`
	// TCPListeners are per-imported-service ports for plain TCP clients.
	TCPListeners []TCPListener `json:"tcp_listeners,omitempty"`
	Limits       Limits        `json:"limits"`
	// LocalBalancing picks among a service's ready local endpoints:
	// "round_robin" (default) or "least_request".
	LocalBalancing string `json:"local_balancing,omitempty"`
	// Balancing tunes global load balancing (globallb.Config).
	Balancing globallb.Config `json:"balancing"`
	// Health tunes active probes of peer gateways and passive outlier
	// detection on real traffic.
	Health HealthConfig `json:"health"`
	// Retry tunes retries of proxied HTTP requests on another cluster.
	Retry RetryConfig `json:"retry"`
	// AdminFaults enables the fault-injection API on the admin port
	// (/faults: blackhole, latency, trust-expiry) that drills use. Off by
	// default; faults always expire by themselves.
	AdminFaults bool `json:"admin_faults,omitempty"`
	// AccessLog enables a structured (JSON) access log line per
	// connection and per proxied HTTP request on the gateway's logger.
	AccessLog bool `json:"access_log,omitempty"`
	// Kubernetes, when set, runs the gateway as part of a Kubernetes
	// cluster with meshfed's agent: it opens the per-service ports the
	// agent allocated for imports, and forwards inbound traffic for
	// services this cluster exports to their Service DNS names.
	Kubernetes *KubernetesConfig `json:"kubernetes,omitempty"`
}

// KubernetesConfig configures the gateway's Kubernetes mode.
type KubernetesConfig struct {
	// Kubeconfig is the API server's kubeconfig; empty means the pod's
	// in-cluster credentials. The gateway only lists and watches
	// ServiceImports.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// ClusterDomain is the cluster's DNS domain (default cluster.local):
	// inbound traffic for exported service NAME.NAMESPACE port P goes to
	// NAME.NAMESPACE.svc.CLUSTER_DOMAIN:P.
	ClusterDomain string `json:"cluster_domain,omitempty"`
	// ImportListenHost is the address the per-service import ports
	// listen on (default 0.0.0.0).
	ImportListenHost string `json:"import_listen_host,omitempty"`
}

// DefaultClusterDomain is Kubernetes' default DNS domain.
const DefaultClusterDomain = "cluster.local"

// ControlPlaneConfig says how to reach the control plane. The gateway
// authenticates with its own SVID.
type ControlPlaneConfig struct {
	// Address is host:port of the control plane's gRPC API (required).
	Address string `json:"address"`
	// CA is a PEM file of the authorities that sign the control plane's
	// certificate (the control plane's data dir has it as ca.pem).
	CA string `json:"ca"`
	// ServerID is the control plane's SPIFFE ID.
	ServerID string `json:"server_id"`
}

// IdentityConfig is where the gateway's X.509-SVID comes from: the SPIFFE
// Workload API, or files (re-read when they change).
type IdentityConfig struct {
	WorkloadAPI string `json:"workload_api,omitempty"`
	Cert        string `json:"cert,omitempty"`
	Key         string `json:"key,omitempty"`
	// Bundle is the PEM bundle of the gateway's own trust domain.
	Bundle string `json:"bundle,omitempty"`
	// PushBundle sends the trust domain's bundle from the Workload API
	// to the control plane now and whenever it changes (GatewayService.
	// PushBundle), so peers learn root rotations from the gateway. Only
	// with workload_api; leave it off when the bundle is managed with
	// `meshfed trust` or a bundle endpoint.
	PushBundle bool `json:"push_bundle,omitempty"`
}

// ListenConfig holds the gateway's listen addresses.
type ListenConfig struct {
	// Inbound is the east-west mTLS listener (default 0.0.0.0:15443).
	Inbound string `json:"inbound,omitempty"`
	// Advertise are the addresses peers dial, registered with the control
	// plane; default the inbound address when it names a host.
	Advertise []string `json:"advertise,omitempty"`
	// Outbound is the HTTP forward-proxy port for local clients
	// (default 127.0.0.1:15001); "off" disables it.
	Outbound string `json:"outbound,omitempty"`
	// Admin serves /metrics, /healthz, /readyz and /debug/snapshot
	// (default 127.0.0.1:15021); "off" disables it.
	Admin string `json:"admin,omitempty"`
}

// LocalService is a service with endpoints in this cluster.
type LocalService struct {
	Namespace string      `json:"namespace"`
	Name      string      `json:"name"`
	Ports     []LocalPort `json:"ports"`
	// Endpoints are the service's backends.
	Endpoints []LocalEndpoint `json:"endpoints"`
	// Export publishes the service to the clusterset (default true).
	Export *bool `json:"export,omitempty"`
}

// LocalPort is a service port.
type LocalPort struct {
	Name        string `json:"name,omitempty"`
	Port        uint32 `json:"port"`
	AppProtocol string `json:"app_protocol,omitempty"`
	// TargetPort is the endpoints' port; default Port.
	TargetPort uint32 `json:"target_port,omitempty"`
}

// LocalEndpoint is one backend of a local service.
type LocalEndpoint struct {
	// Address is an IP or host name, or host:port when the service has
	// exactly one port.
	Address string `json:"address"`
	Zone    string `json:"zone,omitempty"`
	// Ports maps a service port (number, as a string) to this
	// endpoint's port, overriding the port's target_port.
	Ports map[string]uint32 `json:"ports,omitempty"`
	// Ready defaults to true.
	Ready *bool `json:"ready,omitempty"`
}

// TCPListener forwards every connection on Listen to one imported
// service port, e.g. for Kubernetes derived Services.
type TCPListener struct {
	// Service is NAME.NAMESPACE (or the full clusterset name).
	Service string `json:"service"`
	Port    uint32 `json:"port"`
	Listen  string `json:"listen"`
	// Protocol is "tcp" (default: a byte tunnel per connection, the
	// cluster chosen per connection) or "grpc": the listener speaks
	// HTTP/2 cleartext (h2c), and each call picks its cluster and is
	// retried elsewhere on UNAVAILABLE (see docs/loadbalancing.md).
	Protocol string `json:"protocol,omitempty"`
}

// Limits bound what clients and peers may use. Zero values take the
// defaults given in DefaultLimits.
type Limits struct {
	ConnectTimeout   Duration `json:"connect_timeout,omitempty"`
	HandshakeTimeout Duration `json:"handshake_timeout,omitempty"`
	IdleTimeout      Duration `json:"idle_timeout,omitempty"`
	// RequestTimeout bounds a proxied HTTP request until its response
	// headers arrive (bodies may stream for longer).
	RequestTimeout Duration `json:"request_timeout,omitempty"`
	// HeaderTimeout is the slowloris guard: a client must send its
	// request headers (and a CONNECT its request) within it.
	HeaderTimeout        Duration `json:"header_timeout,omitempty"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	MaxHeaderBytes       int      `json:"max_header_bytes,omitempty"`
	MaxConcurrentStreams int      `json:"max_concurrent_streams,omitempty"`
	// DrainTimeout is how long SIGTERM waits for in-flight work.
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{
	ConnectTimeout:       Duration(5 * time.Second),
	HandshakeTimeout:     Duration(10 * time.Second),
	IdleTimeout:          Duration(5 * time.Minute),
	RequestTimeout:       Duration(60 * time.Second),
	HeaderTimeout:        Duration(10 * time.Second),
	MaxConnections:       20000,
	MaxHeaderBytes:       64 << 10,
	MaxConcurrentStreams: 250,
	DrainTimeout:         Duration(30 * time.Second),
}

// Duration is a time.Duration written as a Go duration string ("5s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: want a non-negative Go duration such as \"5s\" or \"2m\"", s)
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads and parses a config file; relative paths in it are
// taken relative to the file's directory. It does not validate: call
// Validate after applying flag overrides.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gateway config %s: %w", path, err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("gateway config %s: larger than %d bytes", path, MaxConfigBytes)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("gateway config %s: %w", path, err)
	}
	cfg.resolve(filepath.Dir(path))
	return cfg, nil
}

// ParseConfig parses YAML or JSON strictly.
func ParseConfig(data []byte) (*Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.ControlPlane.CA)
	abs(&c.Identity.Cert)
	abs(&c.Identity.Key)
	abs(&c.Identity.Bundle)
}

// SetDefaults fills unset fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Listen.Inbound == "" {
		c.Listen.Inbound = DefaultInbound
	}
	if c.Listen.Outbound == "" {
		c.Listen.Outbound = DefaultOutbound
	}
	if c.Listen.Admin == "" {
		c.Listen.Admin = DefaultAdmin
	}
	c.Health.setDefaults()
	c.Retry.setDefaults()
	if c.LocalBalancing == "" {
		c.LocalBalancing = "round_robin"
	}
	if k := c.Kubernetes; k != nil {
		if k.ClusterDomain == "" {
			k.ClusterDomain = DefaultClusterDomain
		}
		if k.ImportListenHost == "" {
			k.ImportListenHost = "0.0.0.0"
		}
	}
	l, d := &c.Limits, DefaultLimits
	def := func(v *Duration, dv Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&l.ConnectTimeout, d.ConnectTimeout)
	def(&l.HandshakeTimeout, d.HandshakeTimeout)
	def(&l.IdleTimeout, d.IdleTimeout)
	def(&l.RequestTimeout, d.RequestTimeout)
	def(&l.HeaderTimeout, d.HeaderTimeout)
	def(&l.DrainTimeout, d.DrainTimeout)
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
}

// Validate checks the configuration; errors name the field, the bad value
// and what is expected.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, value, rule string) {
		errs = append(errs, fmt.Errorf("%s %q %s", field, value, rule))
	}
	if c.Cluster == "" {
		errs = append(errs, errors.New("cluster is required (--cluster or cluster:)"))
	} else if !schema.IsDNSLabel(c.Cluster) {
		bad("cluster", c.Cluster, "is not a DNS-1123 label")
	}
	if !schema.IsDNSLabel(c.Name) {
		bad("name", c.Name, "is not a DNS-1123 label")
	}
	if c.Procs < 0 || c.Procs > 1024 {
		bad("procs", strconv.Itoa(c.Procs), "is outside 0-1024 (0: one per CPU)")
	}
	if c.Instance != "" && !schema.IsDNSLabel(c.Instance) {
		bad("instance", c.Instance, "is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)")
	}
	if k := c.Kubernetes; k != nil {
		for _, label := range strings.Split(k.ClusterDomain, ".") {
			if !schema.IsDNSLabel(label) {
				bad("kubernetes.cluster_domain", k.ClusterDomain, "is not a DNS name such as cluster.local")
				break
			}
		}
		if net.ParseIP(k.ImportListenHost) == nil {
			bad("kubernetes.import_listen_host", k.ImportListenHost, "is not an IP address (0.0.0.0 listens on all)")
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required (--data-dir or data_dir:): the gateway keeps its last snapshot there"))
	}
	if c.ControlPlane.Address == "" {
		errs = append(errs, errors.New("controlplane.address is required (--controlplane)"))
	} else if _, _, err := net.SplitHostPort(c.ControlPlane.Address); err != nil {
		bad("controlplane.address", c.ControlPlane.Address, "is not host:port")
	}
	if c.ControlPlane.CA == "" {
		errs = append(errs, errors.New("controlplane.ca is required (--controlplane-ca): the PEM authorities of the control plane's certificate"))
	}
	if _, err := spiffeid.FromString(c.ControlPlane.ServerID); err != nil {
		bad("controlplane.server_id", c.ControlPlane.ServerID, "is not a SPIFFE ID (the control plane's, e.g. spiffe://meshfed.local/meshfed/controlplane)")
	}
	id := c.Identity
	files := id.Cert != "" || id.Key != "" || id.Bundle != ""
	switch {
	case id.WorkloadAPI != "" && files:
		errs = append(errs, errors.New("identity: set workload_api or cert/key/bundle, not both"))
	case id.WorkloadAPI == "" && (id.Cert == "" || id.Key == "" || id.Bundle == ""):
		errs = append(errs, errors.New("identity: set workload_api (--workload-api), or all of cert, key and bundle (--cert, --key, --bundle)"))
	}
	if id.PushBundle && id.WorkloadAPI == "" {
		errs = append(errs, errors.New("identity.push_bundle needs identity.workload_api: files give no bundle updates to push"))
	}
	for _, l := range []struct{ field, v string }{{"listen.inbound", c.Listen.Inbound}, {"listen.outbound", c.Listen.Outbound}, {"listen.admin", c.Listen.Admin}} {
		if l.v == "off" && l.field != "listen.inbound" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.v); err != nil {
			bad(l.field, l.v, "is not host:port")
		}
	}
	for i, a := range c.Listen.Advertise {
		if err := schema.ValidateAddress("gateway", fmt.Sprintf("listen.advertise[%d]", i), a); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.LocalBalancing {
	case "round_robin", "least_request":
	default:
		bad("local_balancing", c.LocalBalancing, `is not "round_robin" or "least_request"`)
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		key := s.Namespace + "/" + s.Name
		if seen[key] {
			bad(fmt.Sprintf("services[%d]", i), key, "is listed twice")
		}
		seen[key] = true
		if err := s.validate(fmt.Sprintf("services[%d]", i)); err != nil {
			errs = append(errs, err)
		}
	}
	for i, l := range c.TCPListeners {
		field := fmt.Sprintf("tcp_listeners[%d]", i)
		if _, err := ParseServiceName(l.Service); err != nil {
			errs = append(errs, fmt.Errorf("%s.service: %w", field, err))
		}
		if l.Port == 0 || l.Port > 65535 {
			bad(field+".port", strconv.Itoa(int(l.Port)), "is not a port (1-65535)")
		}
		if _, _, err := net.SplitHostPort(l.Listen); err != nil {
			bad(field+".listen", l.Listen, "is not host:port")
		}
		if l.Protocol != "" && l.Protocol != "tcp" && l.Protocol != "grpc" {
			bad(field+".protocol", l.Protocol, `is not "tcp" or "grpc"`)
		}
	}
	lim := c.Limits
	if lim.MaxConnections < 0 || lim.MaxHeaderBytes < 0 || lim.MaxConcurrentStreams < 0 {
		errs = append(errs, errors.New("limits: max_connections, max_header_bytes and max_concurrent_streams must not be negative"))
	}
	return errors.Join(errs...)
}

func (s *LocalService) validate(field string) error {
	if err := schema.ValidateName(field, "namespace", s.Namespace); err != nil {
		return err
	}
	if err := schema.ValidateName(field, "name", s.Name); err != nil {
		return err
	}
	if len(s.Ports) == 0 {
		return fmt.Errorf("%s (%s.%s): ports: at least one port is required", field, s.Name, s.Namespace)
	}
	ports := map[uint32]bool{}
	for i, p := range s.Ports {
		if p.Port == 0 || p.Port > 65535 {
			return fmt.Errorf("%s.ports[%d].port %d is not a port (1-65535)", field, i, p.Port)
		}
		if p.TargetPort > 65535 {
			return fmt.Errorf("%s.ports[%d].target_port %d is not a port (1-65535)", field, i, p.TargetPort)
		}
		if ports[p.Port] {
			return fmt.Errorf("%s.ports[%d].port %d is listed twice", field, i, p.Port)
		}
		ports[p.Port] = true
	}
	if err := schema.ValidateExport(s.export("x")); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	for i, e := range s.Endpoints {
		if _, err := s.endpointAddrs(e); err != nil {
			return fmt.Errorf("%s.endpoints[%d]: %w", field, i, err)
		}
	}
	return nil
}

// endpointAddrs returns the endpoint's host:port for each service port.
func (s *LocalService) endpointAddrs(e LocalEndpoint) (map[uint32]string, error) {
	host := e.Address
	var hostPort string
	if h, p, err := net.SplitHostPort(e.Address); err == nil {
		if len(s.Ports) != 1 {
			return nil, fmt.Errorf("address %q has a port but the service has %d ports: give the host in address and the ports in ports", e.Address, len(s.Ports))
		}
		host, hostPort = h, p
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return nil, fmt.Errorf("address %q is not a host, IP or host:port", e.Address)
	}
	out := make(map[uint32]string, len(s.Ports))
	for k := range e.Ports {
		n, err := strconv.ParseUint(k, 10, 16)
		if err != nil || !s.hasPort(uint32(n)) {
			return nil, fmt.Errorf("ports key %q is not one of the service's ports", k)
		}
	}
	for _, p := range s.Ports {
		port := p.Port
		if p.TargetPort != 0 {
			port = p.TargetPort
		}
		if v, ok := e.Ports[strconv.Itoa(int(p.Port))]; ok {
			if v == 0 || v > 65535 {
				return nil, fmt.Errorf("ports[%d] %d is not a port (1-65535)", p.Port, v)
			}
			port = v
		}
		ps := strconv.Itoa(int(port))
		if hostPort != "" {
			ps = hostPort
		}
		out[p.Port] = net.JoinHostPort(host, ps)
	}
	return out, nil
}

func (s *LocalService) hasPort(n uint32) bool {
	for _, p := range s.Ports {
		if p.Port == n {
			return true
		}
	}
	return false
}
