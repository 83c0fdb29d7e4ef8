package gateway

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/globallb"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// routes is what the gateway believes, derived from one control-plane
// state: built on every update, then only read (it is shared by every
// connection through an atomic pointer).
type routes struct {
	version int64
	// source is "controlplane" or "disk" (a snapshot loaded at start).
	source    string
	updatedAt time.Time
	self      string
	local     globallb.Locality
	clusters  map[string]*peerCluster
	services  map[string]*serviceRoute
	// authz holds each service's authorization policy; a service with
	// none admits any gateway of a federated cluster.
	authz map[string]*authzPolicy
	// failover holds each service's failover policy.
	failover map[string]*schema.FailoverPolicy
	// drains by service key, then cluster; clusterDrains apply to every
	// service of a cluster.
	drains        map[string]map[string]globallb.Drain
	clusterDrains map[string]globallb.Drain
}

// peerCluster is a federated cluster as the gateway sees it.
type peerCluster struct {
	name        string
	trustDomain spiffeid.TrustDomain
	locality    globallb.Locality
	// addrs are the inbound addresses of its live gateways (presence),
	// then its statically registered gateway addresses.
	addrs []string
	// lastLive are the presence addresses last seen: kept when the
	// presence leases expire (a control-plane outage expires them all)
	// so the gateway can still probe and reach the cluster.
	lastLive []string
	alive    bool
}

// serviceRoute is an imported service and its exporting clusters as
// globallb targets (the gateway's balancer for it lives in Gateway.lb).
type serviceRoute struct {
	imp     *meshfedv1.Import
	targets []globallb.Target
}

// authzPolicy is a parsed authorization policy; invalid means the stored
// document did not parse, and everybody is denied (fail closed).
type authzPolicy struct {
	rules   []schema.AuthorizationRule
	invalid bool
}

func buildRoutes(st *client.State, self, source string, prev *routes) *routes {
	r := &routes{
		version:   st.Version,
		source:    source,
		updatedAt: time.Now(),
		self:      self,
		clusters:  make(map[string]*peerCluster, len(st.Clusters)),
		services:  make(map[string]*serviceRoute, len(st.Imports)),
		authz:     map[string]*authzPolicy{},
		failover:  map[string]*schema.FailoverPolicy{},
	}
	live := map[string][]string{}
	for _, p := range sortedPresence(st.Presence) {
		live[p.GetCluster()] = append(live[p.GetCluster()], p.GetAddresses()...)
	}
	for name, c := range st.Clusters {
		td, err := spiffeid.TrustDomainFromString(c.GetTrustDomain())
		if err != nil {
			continue // validated by the control plane; never expected
		}
		lastLive := live[name]
		if len(lastLive) == 0 && prev != nil && prev.clusters[name] != nil {
			lastLive = prev.clusters[name].lastLive
		}
		pc := &peerCluster{
			name:        name,
			trustDomain: td,
			locality:    locality(c.GetLocality()),
			addrs:       append(append([]string(nil), lastLive...), c.GetGatewayAddresses()...),
			lastLive:    lastLive,
			alive:       len(live[name]) > 0,
		}
		r.clusters[name] = pc
		if name == self {
			r.local = pc.locality
		}
	}
	for key, imp := range st.Imports {
		targets := make([]globallb.Target, 0, len(imp.GetClusters()))
		for _, ic := range imp.GetClusters() {
			if conflicted(ic) {
				continue
			}
			t := globallb.Target{Cluster: ic.GetCluster(), Ready: ic.GetReady()}
			if pc := r.clusters[ic.GetCluster()]; pc != nil {
				t.Locality = pc.locality
				t.Labels = st.Clusters[ic.GetCluster()].GetLabels()
				// The local cluster is served without a hop, so it needs
				// no presence of its own to be usable.
				t.Alive = pc.alive || ic.GetCluster() == self
			}
			targets = append(targets, t)
		}
		r.services[key] = &serviceRoute{imp: imp, targets: targets}
	}
	for _, d := range st.Drains {
		gd := globallb.Drain{StartedAt: d.GetStartedAt().AsTime(), Period: time.Duration(d.GetPeriodSeconds()) * time.Second}
		if d.GetNamespace() == "" {
			if r.clusterDrains == nil {
				r.clusterDrains = map[string]globallb.Drain{}
			}
			r.clusterDrains[d.GetCluster()] = gd
			continue
		}
		if r.drains == nil {
			r.drains = map[string]map[string]globallb.Drain{}
		}
		key := d.GetNamespace() + "/" + d.GetName()
		if r.drains[key] == nil {
			r.drains[key] = map[string]globallb.Drain{}
		}
		r.drains[key][d.GetCluster()] = gd
	}
	for _, p := range st.Policies {
		if p.GetKind() == schema.PolicyFailover {
			if f := parseFailover(p.GetDocument()); f != nil {
				r.failover[p.GetNamespace()+"/"+p.GetName()] = f
			}
			continue
		}
		if p.GetKind() != schema.PolicyAuthorization {
			continue
		}
		var doc schema.AuthorizationPolicy
		ap := &authzPolicy{}
		if err := json.Unmarshal(p.GetDocument(), &doc); err != nil {
			ap.invalid = true
		}
		ap.rules = doc.Allow
		r.authz[p.GetNamespace()+"/"+p.GetName()] = ap
	}
	return r
}

// drainsFor returns the drains that apply to service key, by cluster: a
// service drain wins over its cluster's drain.
func (r *routes) drainsFor(key string) map[string]globallb.Drain {
	if len(r.drains[key]) == 0 {
		return r.clusterDrains
	}
	if len(r.clusterDrains) == 0 {
		return r.drains[key]
	}
	out := make(map[string]globallb.Drain, len(r.clusterDrains)+len(r.drains[key]))
	for c, d := range r.clusterDrains {
		out[c] = d
	}
	for c, d := range r.drains[key] {
		out[c] = d
	}
	return out
}

// conflicted reports whether a cluster's export lost a conflict: its
// definition differs from the clusterset's, so it gets no traffic.
func conflicted(ic *meshfedv1.ImportCluster) bool {
	for _, c := range ic.GetConditions() {
		if c.GetType() == "Conflict" && c.GetStatus() == "True" {
			return true
		}
	}
	return false
}

func locality(l *meshfedv1.Locality) globallb.Locality {
	return globallb.Locality{Provider: l.GetProvider(), Region: l.GetRegion(), Zone: l.GetZone()}
}

func sortedPresence(m map[string]*meshfedv1.Presence) []*meshfedv1.Presence {
	out := make([]*meshfedv1.Presence, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].GetCluster()+"/"+schema.PresenceName(out[i].GetGateway(), out[i].GetInstance()) < out[j].GetCluster()+"/"+schema.PresenceName(out[j].GetGateway(), out[j].GetInstance())
	})
	return out
}

// resolvePort returns the import's port for a requested port; port 0
// (not given) means the service's only port, else port 80.
func resolvePort(imp *meshfedv1.Import, port uint32) (*meshfedv1.ServicePort, bool) {
	ports := imp.GetPorts()
	if port == 0 {
		if len(ports) == 1 {
			return ports[0], true
		}
		port = 80
	}
	for _, p := range ports {
		if p.GetPort() == port && schema.Protocol(p) == "TCP" {
			return p, true
		}
	}
	return nil, false
}

// allowed reports whether a peer gateway (cluster, SPIFFE ID) may reach
// service key under the service's authorization policy.
func (r *routes) allowed(key string, peer spiffeid.ID, cluster string) bool {
	p, ok := r.authz[key]
	if !ok {
		return true // default: any gateway of a federated cluster
	}
	if p.invalid {
		return false
	}
	for _, rule := range p.rules {
		if rule.TrustDomain != "" && rule.TrustDomain != peer.TrustDomain().Name() {
			continue
		}
		if rule.Cluster != "" && rule.Cluster != cluster {
			continue
		}
		if rule.SPIFFEID != "" && !matchID(rule.SPIFFEID, peer.String()) {
			continue
		}
		return true
	}
	return false
}

// matchID matches an exact SPIFFE ID or a prefix pattern ending in "/*".
func matchID(pattern, id string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(id, prefix+"/")
	}
	return pattern == id
}
