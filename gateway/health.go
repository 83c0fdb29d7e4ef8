package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/meshfed/meshfed/globallb"
)

// probeSNI is the server name of a health probe: an inbound handshake
// with it proves the peer gateway is up and accepts this gateway's SVID,
// and is closed at once.
const probeSNI = "probe.meshfed.invalid"

// HealthConfig tunes the gateway's own view of peer clusters.
type HealthConfig struct {
	// ProbeInterval between active probes of each peer gateway address
	// (default 1s, jittered by ±10%); ProbeTimeout bounds one probe
	// (default 500ms). A negative interval disables probing.
	ProbeInterval Duration `json:"probe_interval,omitempty"`
	ProbeTimeout  Duration `json:"probe_timeout,omitempty"`
	// HealthyAfter consecutive successful probes a failing cluster is
	// healthy again (default 2).
	HealthyAfter int `json:"healthy_after,omitempty"`
	// ConsecutiveFailures of real traffic to a cluster (connect errors,
	// resets, 5xx) eject it (default 5).
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// BaseEjection is the first ejection's length; it doubles with each
	// ejection in a row, up to MaxEjection (defaults 1s and 30s).
	BaseEjection Duration `json:"base_ejection,omitempty"`
	MaxEjection  Duration `json:"max_ejection,omitempty"`
	// MaxEjectedPercent of known peer clusters may be ejected at once
	// (default 50).
	MaxEjectedPercent int `json:"max_ejected_percent,omitempty"`
	// SlowStart is how long a cluster's weight takes to ramp from 0 to
	// full after it returns (default 5s; negative: no ramp).
	SlowStart Duration `json:"slow_start,omitempty"`
}

func (h *HealthConfig) setDefaults() {
	def := func(v *Duration, d time.Duration) {
		if *v == 0 {
			*v = Duration(d)
		}
	}
	def(&h.ProbeInterval, time.Second)
	def(&h.ProbeTimeout, 500*time.Millisecond)
	def(&h.BaseEjection, time.Second)
	def(&h.MaxEjection, 30*time.Second)
	def(&h.SlowStart, 5*time.Second)
	if h.HealthyAfter <= 0 {
		h.HealthyAfter = 2
	}
	if h.ConsecutiveFailures <= 0 {
		h.ConsecutiveFailures = 5
	}
	if h.MaxEjectedPercent <= 0 {
		h.MaxEjectedPercent = 50
	}
}

// clusterHealth is one peer cluster's health as this gateway sees it.
type clusterHealth struct {
	probeFailing   bool
	probeSuccesses int // consecutive, while failing
	failures       int // consecutive real-traffic failures
	ejections      int // ejections in a row
	ejectedUntil   time.Time
	// returnedAt is when the cluster last became usable again (slow start).
	returnedAt time.Time
	lastProbe  time.Time
	lastOK     time.Time
	lastError  string
}

// healthState holds every peer cluster's health.
type healthState struct {
	cfg HealthConfig
	mu  sync.Mutex
	m   map[string]*clusterHealth
	// onChange is called (outside mu) when a cluster's usability changed.
	onChange func()
}

func (h *healthState) get(cluster string) *clusterHealth {
	c := h.m[cluster]
	if c == nil {
		c = &clusterHealth{}
		h.m[cluster] = c
	}
	return c
}

// snapshot returns globallb health for every cluster with something to
// say, with slow-start ramps computed for now.
func (h *healthState) snapshot(now time.Time) map[string]globallb.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]globallb.Health, len(h.m))
	for name, c := range h.m {
		hh := globallb.Health{ProbeFailing: c.probeFailing, Ejected: now.Before(c.ejectedUntil)}
		if ss := h.cfg.SlowStart.D(); ss > 0 && !c.returnedAt.IsZero() && now.Sub(c.returnedAt) < ss {
			hh.Ramp = max(0.01, float64(now.Sub(c.returnedAt))/float64(ss))
		}
		if hh != (globallb.Health{}) {
			out[name] = hh
		}
	}
	return out
}

// aliveByProbe lists the clusters whose gateways answered a probe within
// the last three probe intervals and are not failing: alive in the data
// plane, whatever the control plane's presence leases say.
func (h *healthState) aliveByProbe(now time.Time) map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	window := 3 * h.cfg.ProbeInterval.D()
	for name, c := range h.m {
		if !c.probeFailing && !c.lastOK.IsZero() && now.Sub(c.lastOK) <= window {
			out[name] = true
		}
	}
	return out
}

// probeResult records one probe round of a cluster.
func (h *healthState) probeResult(cluster string, ok bool, errText string, now time.Time) {
	h.mu.Lock()
	c := h.get(cluster)
	c.lastProbe = now
	changed := false
	if ok {
		if c.probeFailing {
			c.probeSuccesses++
			if c.probeSuccesses >= h.cfg.HealthyAfter {
				c.probeFailing, c.probeSuccesses = false, 0
				c.returnedAt = now
				changed = true
			}
		}
		c.lastError = ""
		c.lastOK = now
	} else {
		c.lastError = errText
		c.probeSuccesses = 0
		if !c.probeFailing {
			c.probeFailing = true
			changed = true
		}
	}
	h.mu.Unlock()
	if changed && h.onChange != nil {
		h.onChange()
	}
}

// observe records the outcome of real traffic to a cluster (passive
// outlier detection): enough consecutive failures eject it, unless that
// would eject more than the allowed share of the known clusters.
func (h *healthState) observe(cluster string, ok bool, knownClusters int, now time.Time) {
	h.mu.Lock()
	c := h.get(cluster)
	changed := false
	if ok {
		c.failures = 0
		if !c.ejectedUntil.IsZero() && now.After(c.ejectedUntil) {
			c.ejections = 0 // served well after its ejection ended
			c.ejectedUntil = time.Time{}
		}
	} else if !now.Before(c.ejectedUntil) {
		c.failures++
		if c.failures >= h.cfg.ConsecutiveFailures && h.canEject(knownClusters, now) {
			c.failures = 0
			c.ejections++
			d := h.cfg.BaseEjection.D() << min(c.ejections-1, 16)
			d = min(d, h.cfg.MaxEjection.D())
			c.ejectedUntil = now.Add(d)
			c.returnedAt = c.ejectedUntil
			changed = true
		}
	}
	h.mu.Unlock()
	if changed && h.onChange != nil {
		h.onChange()
	}
}

// canEject reports whether one more cluster may be ejected; h.mu held.
func (h *healthState) canEject(known int, now time.Time) bool {
	ejected := 0
	for _, c := range h.m {
		if now.Before(c.ejectedUntil) {
			ejected++
		}
	}
	return known > 0 && (ejected+1)*100 <= h.cfg.MaxEjectedPercent*known
}

// probeLoop probes every peer cluster's gateways until ctx ends.
func (g *Gateway) probeLoop(ctx context.Context) {
	cfg := g.health.cfg
	if cfg.ProbeInterval < 0 {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(cfg.ProbeInterval.D()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.ProbeInterval.D() + jitter):
		}
		r := g.routes.Load()
		for name, pc := range r.clusters {
			if name == g.cfg.Cluster || len(pc.addrs) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := g.probe(ctx, name, pc.addrs)
				if ctx.Err() != nil {
					return
				}
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				g.health.probeResult(name, err == nil, msg, time.Now())
			}()
		}
		wg.Wait()
	}
}

// probe handshakes with the cluster's gateway addresses; one success is
// enough.
func (g *Gateway) probe(ctx context.Context, cluster string, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, g.health.cfg.ProbeTimeout.D())
	defer cancel()
	var err error
	for _, addr := range addrs {
		var d net.Dialer
		raw, derr := d.DialContext(ctx, "tcp", addr)
		if derr != nil {
			err = derr
			continue
		}
		cfg := g.clientTLS(cluster, Target{}, g.peers.cache(cluster))
		cfg.ServerName = probeSNI
		tc := tls.Client(raw, cfg)
		err = tc.HandshakeContext(ctx)
		if err == nil {
			err = probeVerdict(ctx, tc)
		}
		raw.Close()
		if err == nil {
			return nil
		}
	}
	return err
}

// probeVerdict reads the peer's answer to a probe. In TLS 1.3 the
// client's side of the handshake is done before the server has checked
// the client's certificate, so a completed handshake does not prove the
// peer accepts this gateway's SVID: the next record does, close_notify
// when it does (the inbound side closes a probe at once) or an alert
// when it does not.
func probeVerdict(ctx context.Context, tc *tls.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		tc.SetReadDeadline(dl)
	}
	_, err := tc.Read(make([]byte, 1))
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return errors.New("the peer sent data in answer to a probe")
	}
	return err
}
