package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/meshfed/meshfed/globallb"
)

// DebugRoutes is what /debug/routes serves: every imported service's
// routing table as this gateway computes it (control-plane state plus its
// own probes and outlier detection), and each peer cluster's health.
type DebugRoutes struct {
	Cluster  string                        `json:"cluster"`
	Version  int64                         `json:"version"`
	Services []DebugRouteTable             `json:"services"`
	Health   map[string]DebugClusterHealth `json:"peer_health"`
}

// DebugRouteTable is one service's table.
type DebugRouteTable struct {
	Service          string          `json:"service"`
	Panic            bool            `json:"panic"`
	NormalizedHealth float64         `json:"normalized_health"`
	PriorityHealth   []float64       `json:"priority_health"`
	PriorityLoad     []float64       `json:"priority_load"`
	Targets          []DebugRouteRow `json:"targets"`
	// Text is globallb.Explain's rendering.
	Text string `json:"text"`
}

// DebugRouteRow is one target cluster of a service.
type DebugRouteRow struct {
	Cluster  string   `json:"cluster"`
	Priority int      `json:"priority"`
	Why      string   `json:"why"`
	Weight   float64  `json:"weight"`
	Healthy  bool     `json:"healthy"`
	Excluded bool     `json:"excluded,omitempty"`
	Share    float64  `json:"share"`
	Notes    []string `json:"notes,omitempty"`
}

// DebugClusterHealth is the gateway's own view of a peer cluster.
type DebugClusterHealth struct {
	ProbeFailing bool      `json:"probe_failing"`
	LastProbe    time.Time `json:"last_probe,omitzero"`
	LastError    string    `json:"last_probe_error,omitempty"`
	Ejected      bool      `json:"ejected"`
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	Ejections    int       `json:"ejections_in_a_row,omitempty"`
	Failures     int       `json:"consecutive_failures,omitempty"`
}

// DebugRoutes returns what /debug/routes serves.
func (g *Gateway) DebugRoutes() DebugRoutes {
	r := g.routes.Load()
	d := DebugRoutes{Cluster: g.cfg.Cluster, Version: r.version, Health: map[string]DebugClusterHealth{}}
	keys := sortedKeys(r.services)
	for _, key := range keys {
		bal := g.lb.get(key)
		if bal == nil {
			continue
		}
		t := bal.Table()
		imp := r.services[key].imp
		rt := DebugRouteTable{Service: imp.GetName() + "." + imp.GetNamespace(), Panic: t.Panic, NormalizedHealth: t.NormalizedHealth,
			PriorityHealth: t.Health, PriorityLoad: t.Load, Text: globallb.Explain(t)}
		for _, row := range t.Rows {
			rt.Targets = append(rt.Targets, DebugRouteRow{Cluster: row.Cluster, Priority: row.Priority, Why: row.Why, Weight: row.Weight,
				Healthy: row.Healthy, Excluded: row.Excluded, Share: row.Share, Notes: row.Notes})
		}
		d.Services = append(d.Services, rt)
	}
	now := time.Now()
	g.health.mu.Lock()
	for name, c := range g.health.m {
		d.Health[name] = DebugClusterHealth{ProbeFailing: c.probeFailing, LastProbe: c.lastProbe, LastError: c.lastError,
			Ejected: now.Before(c.ejectedUntil), EjectedUntil: c.ejectedUntil, Ejections: c.ejections, Failures: c.failures}
	}
	g.health.mu.Unlock()
	return d
}

// serveDebugRoutes serves /debug/routes[?service=NAME.NAMESPACE][&format=text].
func (g *Gateway) serveDebugRoutes(w http.ResponseWriter, req *http.Request) {
	d := g.DebugRoutes()
	if s := req.URL.Query().Get("service"); s != "" {
		svc, err := ParseServiceName(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var keep []DebugRouteTable
		for _, t := range d.Services {
			if t.Service == svc.String() {
				keep = append(keep, t)
			}
		}
		if len(keep) == 0 {
			http.Error(w, fmt.Sprintf("%s is not imported (no cluster exports it)", svc), http.StatusNotFound)
			return
		}
		d.Services = keep
	}
	if req.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var b strings.Builder
		for _, t := range d.Services {
			fmt.Fprintf(&b, "== %s (from cluster %s)\n%s\n", t.Service, d.Cluster, t.Text)
		}
		names := sortedKeys(d.Health)
		sort.Strings(names)
		for _, n := range names {
			h := d.Health[n]
			fmt.Fprintf(&b, "peer %s: probe_failing=%v ejected=%v %s\n", n, h.ProbeFailing, h.Ejected, h.LastError)
		}
		w.Write([]byte(b.String()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d)
}
