package gateway

import (
	"fmt"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/globallb"
)

// ExplainRoute computes, from a control-plane state, the routing table
// that a gateway of cluster from would use for svc: the same code the
// gateway runs, but without its own signals (active probes, outlier
// detection), which only the gateway's /debug/routes shows.
func ExplainRoute(st *client.State, from string, svc ServiceName, cfg globallb.Config, now time.Time) (*globallb.Table, error) {
	if _, ok := st.Clusters[from]; !ok {
		return nil, fmt.Errorf("cluster %q is not registered (see meshfed cluster list)", from)
	}
	r := buildRoutes(st, from, "controlplane", nil)
	route, ok := r.services[svc.Key()]
	if !ok {
		return nil, fmt.Errorf("%s is not imported: no cluster exports it (see meshfed import list)", svc)
	}
	return globallb.Compute(cfg, globallb.Input{
		From: from, Local: r.local, Targets: route.targets, Policy: r.failover[svc.Key()],
		Drains: r.drainsFor(svc.Key()), Now: now,
	}), nil
}
