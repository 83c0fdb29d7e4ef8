package gateway

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/globallb"
)

// balancers holds one globallb.Balancer per imported service. Balancers
// outlive snapshots (a capped shift or a drain continues across updates);
// rebalance is the only writer and holds mu, so Balancer.Update calls
// never overlap, and readers take the map from an atomic pointer.
type balancers struct {
	mu      sync.Mutex
	cfg     globallb.Config
	rand    func() uint64
	current atomic.Pointer[map[string]*globallb.Balancer]
	// kick wakes the transition loop.
	kick chan struct{}
}

func newBalancers(cfg globallb.Config) *balancers {
	b := &balancers{cfg: cfg, kick: make(chan struct{}, 1)}
	empty := map[string]*globallb.Balancer{}
	b.current.Store(&empty)
	return b
}

// get returns the balancer of service key, or nil.
func (b *balancers) get(key string) *globallb.Balancer { return (*b.current.Load())[key] }

// rebalance recomputes every service's table from the current routes,
// health and time. It reports whether any table is in transition.
func (g *Gateway) rebalance() bool {
	b := g.lb
	b.mu.Lock()
	defer b.mu.Unlock()
	r := g.routes.Load()
	now := time.Now()
	health := g.health.snapshot(now)
	probed := g.health.aliveByProbe(now)
	old := *b.current.Load()
	next := make(map[string]*globallb.Balancer, len(r.services))
	transitioning := false
	for key, route := range r.services {
		bal := old[key]
		if bal == nil {
			bal = globallb.NewBalancer(b.cfg, b.rand)
		}
		next[key] = bal
		targets := route.targets
		if len(probed) > 0 {
			// A cluster whose lease expired (a control-plane outage expires
			// them all) but whose gateways answer probes is alive.
			targets = make([]globallb.Target, len(route.targets))
			copy(targets, route.targets)
			for i := range targets {
				if probed[targets[i].Cluster] {
					targets[i].Alive = true
				}
			}
		}
		in := globallb.Input{
			From: g.cfg.Cluster, Local: r.local, Targets: targets, Policy: r.failover[key],
			Drains: r.drainsFor(key), Health: health, Now: now,
		}
		if bal.Update(in) {
			transitioning = true
		}
	}
	b.current.Store(&next)
	return transitioning
}

// transitions re-runs rebalance every 100 ms while a drain, slow start
// or capped shift is in progress, and whenever kicked.
func (g *Gateway) transitions(ctx context.Context) {
	var tick <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.lb.kick:
		case <-tick:
		}
		if g.rebalance() {
			tick = time.After(100 * time.Millisecond)
		} else {
			tick = nil
		}
	}
}

// kickBalancers asks the transition loop to rebalance soon.
func (g *Gateway) kickBalancers() {
	select {
	case g.lb.kick <- struct{}{}:
	default:
	}
}

// parseFailover returns a service's failover policy, or nil if it has none
// or it does not parse (the control plane validated it; an unparsable one
// is ignored rather than blocking traffic).
func parseFailover(doc []byte) *schema.FailoverPolicy {
	var p schema.FailoverPolicy
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil
	}
	return &p
}
