package gateway

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/meshfed/meshfed/federation/schema"
)

// ClustersetDomain is the MCS domain of clusterset services.
const ClustersetDomain = "svc.clusterset.local"

// maxHostLen caps a host name taken from a request, SNI or config.
const maxHostLen = 253

// ServiceName is a clusterset service: NAME.NAMESPACE.
type ServiceName struct {
	Namespace, Name string
}

// Key is the service's key in the control plane's state: NAMESPACE/NAME.
func (s ServiceName) Key() string { return s.Namespace + "/" + s.Name }

// String is NAME.NAMESPACE.
func (s ServiceName) String() string { return s.Name + "." + s.Namespace }

// Host is the service's clusterset DNS name.
func (s ServiceName) Host() string { return s.Name + "." + s.Namespace + "." + ClustersetDomain }

// Target is a service port requested by a client or a peer gateway. Port
// 0 means the client did not say; see resolvePort.
type Target struct {
	Service ServiceName
	Port    uint32
}

// SNI is how a target travels between gateways: the TLS server name
// "PORT.NAME.NAMESPACE.svc.clusterset.local".
func (t Target) SNI() string { return strconv.Itoa(int(t.Port)) + "." + t.Service.Host() }

func (t Target) String() string {
	if t.Port == 0 {
		return t.Service.String()
	}
	return t.Service.String() + ":" + strconv.Itoa(int(t.Port))
}

// ErrNotClusterset means a host is not a clusterset service name; the
// gateway is not an open proxy and refuses it.
var ErrNotClusterset = errors.New("not a clusterset service (want NAME.NAMESPACE.svc.clusterset.local)")

// ParseServiceName parses "NAME.NAMESPACE" or
// "NAME.NAMESPACE.svc.clusterset.local" (case-insensitive, with an
// optional trailing dot).
func ParseServiceName(s string) (ServiceName, error) {
	if len(s) > maxHostLen {
		return ServiceName{}, fmt.Errorf("service name of %d bytes is longer than %d", len(s), maxHostLen)
	}
	h := strings.ToLower(strings.TrimSuffix(s, "."))
	h = strings.TrimSuffix(h, "."+ClustersetDomain)
	name, ns, ok := strings.Cut(h, ".")
	if !ok || !schema.IsDNSLabel(name) || !schema.IsDNSLabel(ns) {
		return ServiceName{}, fmt.Errorf("%q is not a service name: want NAME.NAMESPACE or NAME.NAMESPACE.%s: %w", s, ClustersetDomain, ErrNotClusterset)
	}
	return ServiceName{Namespace: ns, Name: name}, nil
}

// ParseHost parses a request host, "NAME.NAMESPACE.svc.clusterset.local"
// with an optional ":PORT"; the full clusterset domain is required, so
// an HTTP proxy never mistakes another host for a service.
func ParseHost(hostport string) (Target, error) {
	if len(hostport) > maxHostLen+6 {
		return Target{}, fmt.Errorf("host of %d bytes is too long", len(hostport))
	}
	host, port, hasPort := hostport, "", false
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		var err error
		if host, port, err = net.SplitHostPort(hostport); err != nil {
			return Target{}, fmt.Errorf("host %q: %w", hostport, err)
		}
		hasPort = true
	}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if !strings.HasSuffix(lower, "."+ClustersetDomain) {
		return Target{}, fmt.Errorf("%q: %w", host, ErrNotClusterset)
	}
	svc, err := ParseServiceName(lower)
	if err != nil {
		return Target{}, err
	}
	t := Target{Service: svc}
	if hasPort {
		n, err := parsePort(port)
		if err != nil {
			return Target{}, fmt.Errorf("host %q: %w", hostport, err)
		}
		t.Port = n
	}
	return t, nil
}

// ParseSNI parses a server name written by Target.SNI.
func ParseSNI(sni string) (Target, error) {
	if len(sni) > maxHostLen {
		return Target{}, fmt.Errorf("server name of %d bytes is too long", len(sni))
	}
	port, rest, ok := strings.Cut(sni, ".")
	if !ok {
		return Target{}, fmt.Errorf("server name %q: want PORT.NAME.NAMESPACE.%s", sni, ClustersetDomain)
	}
	n, err := parsePort(port)
	if err != nil {
		return Target{}, fmt.Errorf("server name %q: %w", sni, err)
	}
	if !strings.HasSuffix(strings.ToLower(rest), "."+ClustersetDomain) {
		return Target{}, fmt.Errorf("server name %q: %w", sni, ErrNotClusterset)
	}
	svc, err := ParseServiceName(rest)
	if err != nil {
		return Target{}, err
	}
	return Target{Service: svc, Port: n}, nil
}

// parsePort accepts 1-65535 written in plain decimal digits only.
func parsePort(s string) (uint32, error) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, fmt.Errorf("port %q is not 1-65535", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("port %q is not 1-65535", s)
		}
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 {
		return 0, fmt.Errorf("port %q is not 1-65535", s)
	}
	return uint32(n), nil
}
