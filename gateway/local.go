package gateway

import (
	"sort"
	"sync/atomic"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// localServices is the local service source: the services whose
// endpoints run in this cluster, built from the config. Immutable except
// for the balancing counters.
type localServices struct {
	byKey map[string]*localService
	// leastRequest selects least-request balancing over round robin.
	leastRequest bool
}

type localService struct {
	name   ServiceName
	export bool
	spec   *LocalService
	ports  map[uint32]*localPort
}

// localPort is one service port and its ready endpoints.
type localPort struct {
	addrs    []string
	inflight []atomic.Int64
	next     atomic.Uint32
}

func newLocalServices(cfg *Config) *localServices {
	ls := &localServices{byKey: map[string]*localService{}, leastRequest: cfg.LocalBalancing == "least_request"}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		svc := &localService{
			name:   ServiceName{Namespace: s.Namespace, Name: s.Name},
			export: s.Export == nil || *s.Export,
			spec:   s,
			ports:  map[uint32]*localPort{},
		}
		for _, p := range s.Ports {
			svc.ports[p.Port] = &localPort{}
		}
		for _, e := range s.Endpoints {
			if e.Ready != nil && !*e.Ready {
				continue
			}
			addrs, err := s.endpointAddrs(e)
			if err != nil {
				continue // refused by Config.Validate
			}
			for port, a := range addrs {
				svc.ports[port].addrs = append(svc.ports[port].addrs, a)
			}
		}
		for _, lp := range svc.ports {
			lp.inflight = make([]atomic.Int64, len(lp.addrs))
		}
		ls.byKey[svc.name.Key()] = svc
	}
	return ls
}

// lookup returns the ready endpoints of a local service port.
func (ls *localServices) lookup(t Target) (*localPort, bool) {
	s, ok := ls.byKey[t.Service.Key()]
	if !ok {
		return nil, false
	}
	port := t.Port
	if port == 0 && len(s.ports) == 1 {
		for p := range s.ports {
			port = p
		}
	}
	lp, ok := s.ports[port]
	return lp, ok && len(lp.addrs) > 0
}

// pick returns an endpoint index, starting the rotation (round robin) or
// the scan (least request) at a different endpoint each call. Callers
// that dial it must call done(i) when the connection ends.
func (lp *localPort) pick(leastRequest bool) int {
	n := len(lp.addrs)
	start := int(lp.next.Add(1)-1) % n
	if !leastRequest {
		lp.inflight[start].Add(1)
		return start
	}
	best, bestN := start, lp.inflight[start].Load()
	for i := 1; i < n && bestN > 0; i++ {
		j := (start + i) % n
		if v := lp.inflight[j].Load(); v < bestN {
			best, bestN = j, v
		}
	}
	lp.inflight[best].Add(1)
	return best
}

func (lp *localPort) done(i int) { lp.inflight[i].Add(-1) }

// exports returns the exports this gateway publishes for its cluster.
func (ls *localServices) exports(cluster string) []*meshfedv1.Export {
	var out []*meshfedv1.Export
	for _, s := range ls.byKey {
		if s.export {
			out = append(out, s.spec.export(cluster))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].GetNamespace()+"/"+out[i].GetName() < out[j].GetNamespace()+"/"+out[j].GetName()
	})
	return out
}

// export converts a configured service to the control plane's form,
// counting ready endpoints per zone.
func (s *LocalService) export(cluster string) *meshfedv1.Export {
	e := &meshfedv1.Export{Cluster: cluster, Namespace: s.Namespace, Name: s.Name}
	for _, p := range s.Ports {
		e.Ports = append(e.Ports, &meshfedv1.ServicePort{Name: p.Name, Port: p.Port, Protocol: "TCP", AppProtocol: p.AppProtocol})
	}
	zones := map[string]uint32{}
	for _, ep := range s.Endpoints {
		if ep.Ready == nil || *ep.Ready {
			zones[ep.Zone]++
		}
	}
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	sort.Strings(names)
	for _, z := range names {
		e.Endpoints = append(e.Endpoints, &meshfedv1.ZoneEndpoints{Zone: z, Ready: zones[z]})
	}
	return e
}
