package providers

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// Replies come from another process, possibly written by someone else:
// nothing reaches the core before it is checked here.

const (
	maxNameLen  = 63
	maxIDLen    = 256
	maxHostLen  = 253
	maxClusters = 10000
	maxAddrs    = 64
)

func (l Locality) proto() *providersv1.Locality {
	return &providersv1.Locality{Provider: l.Provider, Region: l.Region, Zone: l.Zone}
}

// LocalityFromProto validates a locality from a plugin reply. Provider and
// region are required; zone may be empty.
func LocalityFromProto(l *providersv1.Locality) (Locality, error) {
	if l == nil {
		return Locality{}, fmt.Errorf("no locality")
	}
	loc := Locality{Provider: l.GetProvider(), Region: l.GetRegion(), Zone: l.GetZone()}
	if err := checkToken("provider", loc.Provider, true); err != nil {
		return Locality{}, err
	}
	if err := checkToken("region", loc.Region, true); err != nil {
		return Locality{}, err
	}
	if err := checkToken("zone", loc.Zone, false); err != nil {
		return Locality{}, err
	}
	return loc, nil
}

// InstanceFromProto validates a Locality reply. A non-empty provider is the
// name the plugin reported at Configure; a locality of another provider is
// refused rather than passed on as a wrong locality.
func InstanceFromProto(r *providersv1.LocalityResponse, provider string) (Instance, error) {
	loc, err := LocalityFromProto(r.GetLocality())
	if err != nil {
		return Instance{}, err
	}
	if provider != "" && loc.Provider != provider {
		return Instance{}, fmt.Errorf("locality provider %q is not %q, the provider the plugin said it serves", loc.Provider, provider)
	}
	inst := Instance{Locality: loc, InstanceID: r.GetInstanceId(), Account: r.GetAccount(), Cluster: r.GetCluster()}
	for _, f := range []struct{ name, v string }{{"instance_id", inst.InstanceID}, {"account", inst.Account}, {"cluster", inst.Cluster}} {
		if err := checkText(f.name, f.v); err != nil {
			return Instance{}, err
		}
	}
	return inst, nil
}

// AddressesFromProto validates a GatewayAddresses reply: each address is an
// IP address or a DNS name without a port, of a known kind.
func AddressesFromProto(r *providersv1.GatewayAddressesResponse) ([]Address, error) {
	if len(r.GetAddresses()) > maxAddrs {
		return nil, fmt.Errorf("%d addresses, more than %d", len(r.GetAddresses()), maxAddrs)
	}
	out := make([]Address, 0, len(r.GetAddresses()))
	for _, a := range r.GetAddresses() {
		if err := checkHost(a.GetAddress()); err != nil {
			return nil, err
		}
		var kind AddressKind
		switch a.GetKind() {
		case providersv1.GatewayAddress_KIND_PUBLIC:
			kind = AddressPublic
		case providersv1.GatewayAddress_KIND_PRIVATE:
			kind = AddressPrivate
		default:
			return nil, fmt.Errorf("address %q: kind %v is not public or private", a.GetAddress(), a.GetKind())
		}
		if err := checkText("source", a.GetSource()); err != nil {
			return nil, err
		}
		out = append(out, Address{Address: a.GetAddress(), Kind: kind, Source: a.GetSource()})
	}
	return out, nil
}

// ClustersFromProto validates a DiscoverClusters reply.
func ClustersFromProto(r *providersv1.DiscoverClustersResponse) ([]Cluster, error) {
	if len(r.GetClusters()) > maxClusters {
		return nil, fmt.Errorf("%d clusters, more than %d", len(r.GetClusters()), maxClusters)
	}
	out := make([]Cluster, 0, len(r.GetClusters()))
	for _, c := range r.GetClusters() {
		if c.GetName() == "" {
			return nil, fmt.Errorf("cluster with an empty name")
		}
		loc, err := LocalityFromProto(c.GetLocality())
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
		}
		cl := Cluster{Name: c.GetName(), Locality: loc, ID: c.GetId(), Endpoint: c.GetEndpoint(), Status: c.GetStatus()}
		for _, f := range []struct{ name, v string }{{"name", cl.Name}, {"id", cl.ID}, {"endpoint", cl.Endpoint}, {"status", cl.Status}} {
			if err := checkText(f.name, f.v); err != nil {
				return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
			}
		}
		out = append(out, cl)
	}
	return out, nil
}

// checkToken accepts lowercase letters, digits, '-', '_' and '.', as
// provider, region and zone names are on every cloud.
func checkToken(field, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%s is empty", field)
		}
		return nil
	}
	if len(v) > maxNameLen {
		return fmt.Errorf("%s %.20q... is longer than %d characters", field, v, maxNameLen)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%s %q has %q (want lowercase letters, digits, '-', '_', '.')", field, v, r)
		}
	}
	return nil
}

func checkText(field, v string) error {
	if len(v) > maxIDLen {
		return fmt.Errorf("%s %.20q... is longer than %d bytes", field, v, maxIDLen)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%s %q has a non-printable character", field, v)
		}
	}
	return nil
}

func checkHost(v string) error {
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	if v == "" || len(v) > maxHostLen {
		return fmt.Errorf("address %.30q is not an IP address or DNS name", v)
	}
	for _, label := range strings.Split(strings.TrimSuffix(v, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("address %q is not an IP address or DNS name (host names have no port)", v)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("address %q is not an IP address or DNS name (host names have no port)", v)
			}
		}
	}
	return nil
}
