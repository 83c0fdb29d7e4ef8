package drill

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
)

// Fault kinds.
const (
	FaultDrain       = "drain"
	FaultKill        = "kill"
	FaultBlackhole   = gateway.FaultBlackhole
	FaultLatency     = gateway.FaultLatency
	FaultTrustExpiry = gateway.FaultTrustExpiry
)

// FaultKinds lists every fault kind, in the order messages show them.
var FaultKinds = []string{FaultDrain, FaultKill, FaultBlackhole, FaultLatency, FaultTrustExpiry}

// Traffic protocols of the built-in generator.
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"
)

// Defaults and limits of a Spec.
const (
	DefaultService  = "echo.demo"
	DefaultRate     = 50
	DefaultDuration = 30 * time.Second
	DefaultWarmup   = 5 * time.Second
	DefaultRestore  = 10 * time.Second
	DefaultTimeout  = 10 * time.Second
	// DefaultMaxErrorRate is the error-rate gate when the spec sets no
	// gate at all.
	DefaultMaxErrorRate = 0.01
	MaxRate             = 5000
	MaxDuration         = 30 * time.Minute
	MaxWarmup           = 10 * time.Minute
	MaxRestore          = 10 * time.Minute
	maxNameLen          = 40
)

// Spec is a drill: what breaks, where, which traffic is measured, for
// how long and against which gates. It is read from YAML (ParseSpec) and
// may be amended by flags; call Normalize before use. Zero fields take
// the defaults documented on them.
type Spec struct {
	// Name is a DNS label (at most 40 characters) that goes into the
	// report's id; default FAULT-SCOPE.
	Name    string      `yaml:"name" json:"name,omitempty"`
	Fault   FaultSpec   `yaml:"fault" json:"fault"`
	Scope   Scope       `yaml:"scope" json:"scope"`
	Traffic TrafficSpec `yaml:"traffic" json:"traffic"`
	// Duration the fault is held (unless a gate trips first); default 30s.
	Duration Duration `yaml:"duration" json:"duration"`
	// Warmup is traffic before the fault, for the baseline; default 5s.
	Warmup Duration `yaml:"warmup" json:"warmup"`
	// Restore is traffic after the rollback, to see it fail back;
	// default 10s. Zero is allowed only when set explicitly ("0s").
	Restore     Duration    `yaml:"restore" json:"restore"`
	Gates       Gates       `yaml:"gates" json:"gates"`
	Environment Environment `yaml:"environment" json:"environment,omitzero"`

	// restoreSet records that restore was given (0 is then meant).
	restoreSet bool
	// src says where each field came from, for error messages.
	src sources
}

// FaultSpec is what breaks.
type FaultSpec struct {
	// Kind is drain, kill, blackhole, latency or trust-expiry.
	Kind string `yaml:"kind" json:"kind"`
	// Period (drain only): traffic leaves linearly over it; 0 means at
	// once. Whole seconds.
	Period Duration `yaml:"period" json:"period,omitzero"`
	// Latency (latency only): the delay added by the scope's gateways.
	Latency Duration `yaml:"latency" json:"latency,omitzero"`
}

// Scope is where the fault applies: a cluster (optionally one service's
// copy in it) or every cluster of a zone.
type Scope struct {
	Cluster string `yaml:"cluster" json:"cluster,omitempty"`
	// Service is NAME.NAMESPACE.
	Service string `yaml:"service" json:"service,omitempty"`
	Zone    string `yaml:"zone" json:"zone,omitempty"`
}

// String is the scope as --scope takes it and reports show it:
// "cluster=east", "cluster=east,service=echo.demo", "zone=us-east-1b".
func (s Scope) String() string {
	var parts []string
	if s.Cluster != "" {
		parts = append(parts, "cluster="+s.Cluster)
	}
	if s.Zone != "" {
		parts = append(parts, "zone="+s.Zone)
	}
	if s.Service != "" {
		parts = append(parts, "service="+s.Service)
	}
	return strings.Join(parts, ",")
}

// ParseScope parses the --scope flag: comma-separated cluster=NAME,
// service=NAME.NAMESPACE and zone=ZONE.
func ParseScope(s string) (Scope, error) {
	var sc Scope
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return sc, fmt.Errorf("--scope %q: %q is not KEY=VALUE (cluster=NAME[,service=NAME.NAMESPACE] or zone=ZONE)", s, part)
		}
		var dst *string
		switch k {
		case "cluster":
			dst = &sc.Cluster
		case "service":
			dst = &sc.Service
		case "zone":
			dst = &sc.Zone
		default:
			return sc, fmt.Errorf("--scope %q: unknown key %q (cluster, service or zone)", s, k)
		}
		if *dst != "" {
			return sc, fmt.Errorf("--scope %q: %s given twice", s, k)
		}
		*dst = v
	}
	return sc, nil
}

// TrafficSpec is the traffic a drill measures.
type TrafficSpec struct {
	// From are the client clusters; default every cluster of the
	// environment outside the scope.
	From []string `yaml:"from" json:"from,omitempty"`
	// Service (NAME.NAMESPACE) the traffic calls; default the scope's
	// service, else echo.demo.
	Service string `yaml:"service" json:"service,omitempty"`
	// Protocols of the generator: http, grpc; default [http].
	Protocols []string `yaml:"protocols" json:"protocols,omitempty"`
	// Rate in requests per second, per client cluster and protocol;
	// default 50.
	Rate int `yaml:"rate" json:"rate,omitempty"`
	// Observe: run no generator, read the from-clusters' gateway metrics
	// (meshfed_gateway_requests_total) instead.
	Observe bool `yaml:"observe" json:"observe,omitempty"`
	// Timeout of one generated request; default 10s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitzero"`
	// Ports of the service; default its ports named (or with app
	// protocol) http and grpc, else 8080 and 9090.
	Ports Ports `yaml:"ports" json:"ports,omitzero"`
}

// Ports are the service ports the generator calls.
type Ports struct {
	HTTP int `yaml:"http" json:"http,omitempty"`
	GRPC int `yaml:"grpc" json:"grpc,omitempty"`
}

// Gates are the SLOs a drill is judged by. With no gate set at all, the
// error-rate gate is DefaultMaxErrorRate.
type Gates struct {
	// MaxErrorRate is the largest share of failed requests (0-1) over
	// the whole drill.
	MaxErrorRate *float64 `yaml:"max_error_rate" json:"max_error_rate,omitempty"`
	// MaxP99 is the largest 99th-percentile latency of any one-second
	// window of the drill.
	MaxP99 Duration `yaml:"max_p99" json:"max_p99,omitzero"`
}

// Environment says where the clusterset runs: a `meshfed up` directory
// (Dir, or the default one), or, for a real deployment, each cluster's
// gateway endpoints.
type Environment struct {
	// Dir is a `meshfed up --dir`; relative to the drill file.
	Dir string `yaml:"dir" json:"dir,omitempty"`
	// Gateways by cluster name.
	Gateways map[string]GatewayEndpoints `yaml:"gateways" json:"gateways,omitempty"`
}

// GatewayEndpoints are how the runner reaches one cluster's gateway.
type GatewayEndpoints struct {
	// Admin is the admin port's URL (http://HOST:PORT) or HOST:PORT.
	Admin string `yaml:"admin" json:"admin"`
	// ForwardProxy is the forward proxy's URL; needed for clusters that
	// send generated traffic.
	ForwardProxy string `yaml:"forward_proxy" json:"forward_proxy,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("300ms").
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string ("1m30s").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (such as 300ms, 20s or 2m)", b)
	}
	*d = Duration(v)
	return nil
}

// sources remembers, per field path ("traffic.rate"), the YAML line it
// came from or the flag that set it.
type sources struct {
	file  string
	lines map[string]int
	flags map[string]string
}

// SetFlag records that the field at path was set by flag, so errors
// about it name the flag.
func (s *Spec) SetFlag(path, flag string) {
	if s.src.flags == nil {
		s.src.flags = map[string]string{}
	}
	s.src.flags[path] = flag
	if path == "restore" {
		s.restoreSet = true
	}
}

// SpecError is a problem with one field of a drill spec.
type SpecError struct {
	// File and Line locate the field in the drill file (Line 0: unknown).
	File string
	Line int
	// Field is the field's path (traffic.rate); Flag is the flag that
	// set it, if one did.
	Field string
	Flag  string
	Msg   string
}

func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString("drill: ")
	switch {
	case e.Flag != "":
		fmt.Fprintf(&b, "%s (%s): ", e.Flag, e.Field)
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: %s: ", e.File, e.Line, e.Field)
	case e.File != "":
		fmt.Fprintf(&b, "%s: %s: ", e.File, e.Field)
	default:
		fmt.Fprintf(&b, "%s: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// fieldErr builds the SpecError for path, located by where the value
// came from; a missing field points at its parent's line.
func (s *Spec) fieldErr(path, format string, args ...any) *SpecError {
	e := &SpecError{File: s.src.file, Field: path, Flag: s.src.flags[path], Msg: fmt.Sprintf(format, args...)}
	for p := path; p != "" && e.Line == 0; {
		e.Line = s.src.lines[p]
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return e
}

// Normalize fills in defaults that need no environment and validates the
// spec. It returns the first problem as a *SpecError naming the field.
func (s *Spec) Normalize() error {
	f := &s.Fault
	if f.Kind == "" {
		return s.fieldErr("fault.kind", "is required: one of %s", strings.Join(FaultKinds, ", "))
	}
	if !slices.Contains(FaultKinds, f.Kind) {
		return s.fieldErr("fault.kind", "%q is not a fault (one of %s)", f.Kind, strings.Join(FaultKinds, ", "))
	}
	if f.Period != 0 && f.Kind != FaultDrain {
		return s.fieldErr("fault.period", "is only for a drain fault (the fault is %s)", f.Kind)
	}
	if f.Period < 0 || f.Period.D()%time.Second != 0 || f.Period.D() > schema.MaxDrainPeriodSeconds*time.Second {
		return s.fieldErr("fault.period", "%s must be whole seconds between 0 (at once) and 168h", f.Period)
	}
	if f.Latency != 0 && f.Kind != FaultLatency {
		return s.fieldErr("fault.latency", "is only for a latency fault (the fault is %s)", f.Kind)
	}
	if f.Kind == FaultLatency && (f.Latency <= 0 || f.Latency.D() > time.Minute) {
		if f.Latency == 0 {
			return s.fieldErr("fault.latency", "is required for a latency fault: the delay to add, such as 300ms")
		}
		return s.fieldErr("fault.latency", "%s must be between 1ms and 1m", f.Latency)
	}

	sc := &s.Scope
	switch {
	case sc.Cluster == "" && sc.Zone == "":
		return s.fieldErr("scope", "needs a cluster (cluster: NAME, optionally with service: NAME.NAMESPACE) or a zone (zone: ZONE)")
	case sc.Cluster != "" && sc.Zone != "":
		return s.fieldErr("scope.zone", "and scope.cluster exclude each other: a scope is one cluster or one zone")
	}
	if sc.Cluster != "" && !schema.IsDNSLabel(sc.Cluster) {
		return s.fieldErr("scope.cluster", "%q is not a cluster name (a DNS-1123 label)", sc.Cluster)
	}
	if sc.Zone != "" && strings.ContainsAny(sc.Zone, " \t\n/,=") {
		return s.fieldErr("scope.zone", "%q is not a zone name", sc.Zone)
	}
	if sc.Service != "" {
		svc, err := gateway.ParseServiceName(sc.Service)
		if err != nil {
			return s.fieldErr("scope.service", "%q is not NAME.NAMESPACE (for example echo.demo)", sc.Service)
		}
		sc.Service = svc.String()
		switch f.Kind {
		case FaultKill:
			return s.fieldErr("scope.service", "a kill stops the whole gateway; omit scope.service or use blackhole for one service")
		case FaultTrustExpiry:
			return s.fieldErr("scope.service", "trust expiry applies to the whole gateway; omit scope.service")
		}
	}

	if s.Name != "" && (!schema.IsDNSLabel(s.Name) || len(s.Name) > maxNameLen) {
		return s.fieldErr("name", "%q must be at most %d lowercase letters, digits or '-' (it goes into the report id)", s.Name, maxNameLen)
	}

	t := &s.Traffic
	for i, c := range t.From {
		if !schema.IsDNSLabel(c) {
			return s.fieldErr("traffic.from", "entry %d: %q is not a cluster name", i+1, c)
		}
		if slices.Contains(t.From[:i], c) {
			return s.fieldErr("traffic.from", "lists %q twice", c)
		}
	}
	if t.Service == "" {
		t.Service = sc.Service
		if t.Service == "" {
			t.Service = DefaultService
		}
	}
	svc, err := gateway.ParseServiceName(t.Service)
	if err != nil {
		return s.fieldErr("traffic.service", "%q is not NAME.NAMESPACE (for example echo.demo)", t.Service)
	}
	t.Service = svc.String()
	if t.Observe {
		if t.Rate != 0 || len(t.Protocols) > 0 {
			field := "traffic.rate"
			if t.Rate == 0 {
				field = "traffic.protocols"
			}
			return s.fieldErr(field, "is for the built-in generator, which observe: true turns off")
		}
	} else {
		if len(t.Protocols) == 0 {
			t.Protocols = []string{ProtocolHTTP}
		}
		for i, p := range t.Protocols {
			if p != ProtocolHTTP && p != ProtocolGRPC {
				return s.fieldErr("traffic.protocols", "%q is not a protocol (http or grpc)", p)
			}
			if slices.Contains(t.Protocols[:i], p) {
				return s.fieldErr("traffic.protocols", "lists %q twice", p)
			}
		}
		if t.Rate == 0 {
			t.Rate = DefaultRate
		}
		if t.Rate < 1 || t.Rate > MaxRate {
			return s.fieldErr("traffic.rate", "%d must be between 1 and %d requests per second", t.Rate, MaxRate)
		}
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(DefaultTimeout)
	}
	if t.Timeout.D() < 100*time.Millisecond || t.Timeout.D() > time.Minute {
		return s.fieldErr("traffic.timeout", "%s must be between 100ms and 1m", t.Timeout)
	}
	for _, p := range []struct {
		field string
		v     int
	}{{"traffic.ports.http", t.Ports.HTTP}, {"traffic.ports.grpc", t.Ports.GRPC}} {
		if p.v < 0 || p.v > 65535 {
			return s.fieldErr(p.field, "%d is not a port (1-65535)", p.v)
		}
	}

	if s.Duration == 0 {
		s.Duration = Duration(DefaultDuration)
	}
	if s.Duration.D() < time.Second || s.Duration.D() > MaxDuration {
		return s.fieldErr("duration", "%s must be between 1s and %s", s.Duration, MaxDuration)
	}
	if s.Warmup == 0 {
		s.Warmup = Duration(DefaultWarmup)
	}
	if s.Warmup.D() < time.Second || s.Warmup.D() > MaxWarmup {
		return s.fieldErr("warmup", "%s must be between 1s and %s (the baseline needs traffic before the fault)", s.Warmup, MaxWarmup)
	}
	if s.Restore == 0 && !s.restoreSet {
		s.Restore = Duration(DefaultRestore)
	}
	if s.Restore < 0 || s.Restore.D() > MaxRestore {
		return s.fieldErr("restore", "%s must be between 0s and %s", s.Restore, MaxRestore)
	}

	g := &s.Gates
	if g.MaxErrorRate == nil && g.MaxP99 == 0 {
		r := DefaultMaxErrorRate
		g.MaxErrorRate = &r
	}
	if g.MaxErrorRate != nil && (*g.MaxErrorRate < 0 || *g.MaxErrorRate > 1) {
		return s.fieldErr("gates.max_error_rate", "%s must be between 0 and 1 (0.001 is 0.1%%)", strconv.FormatFloat(*g.MaxErrorRate, 'g', -1, 64))
	}
	if g.MaxP99 < 0 || (g.MaxP99 > 0 && g.MaxP99.D() < time.Millisecond) {
		return s.fieldErr("gates.max_p99", "%s must be at least 1ms", g.MaxP99)
	}

	for name, gw := range s.Environment.Gateways {
		path := "environment.gateways." + name
		if !schema.IsDNSLabel(name) {
			return s.fieldErr(path, "%q is not a cluster name", name)
		}
		if gw.Admin == "" {
			return s.fieldErr(path+".admin", "is required: the gateway's admin address (http://HOST:PORT)")
		}
		if _, err := adminURL(gw.Admin); err != nil {
			return s.fieldErr(path+".admin", "%v", err)
		}
		if gw.ForwardProxy != "" {
			if _, err := proxyURL(gw.ForwardProxy); err != nil {
				return s.fieldErr(path+".forward_proxy", "%v", err)
			}
		}
	}
	if s.Environment.Dir != "" && len(s.Environment.Gateways) > 0 {
		return s.fieldErr("environment.dir", "and environment.gateways exclude each other: a `meshfed up` directory or a real deployment's gateways")
	}
	if s.Name == "" {
		s.Name = defaultName(s)
	}
	return nil
}

// defaultName is FAULT-SCOPE as a DNS label, e.g. "kill-east-b".
func defaultName(s *Spec) string {
	where := s.Scope.Cluster
	if where == "" {
		where = s.Scope.Zone
	}
	if s.Scope.Service != "" {
		where += "-" + strings.ReplaceAll(s.Scope.Service, ".", "-")
	}
	return labelize(s.Fault.Kind+"-"+where, maxNameLen)
}

// labelize maps s onto a DNS label of at most n characters.
func labelize(s string, n int) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if len(out) > n {
		out = out[:n]
	}
	return strings.Trim(out, "-")
}

// adminURL normalizes a gateway admin address to http://HOST:PORT.
func adminURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q is not an admin address such as http://127.0.0.1:15021", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// proxyURL checks a forward proxy's URL (http://HOST:PORT or HOST:PORT).
func proxyURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("%q is not a forward proxy URL such as http://127.0.0.1:15001", s)
	}
	return u, nil
}
