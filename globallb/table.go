package globallb

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/meshfed/meshfed/federation/schema"
)

// Defaults of Config.
const (
	DefaultOverprovisioningFactor = 1.4
	DefaultPanicThreshold         = 0.1
)

// Config tunes the algorithm; zero fields take the defaults.
type Config struct {
	// OverprovisioningFactor multiplies a priority's healthy share before
	// it is compared with 100% (as Envoy's overprovisioning_factor): at
	// the default 1.4 a priority keeps all its traffic while at least
	// 1/1.4 = 71.4% of its weight is healthy, and sheds it gradually below.
	OverprovisioningFactor float64 `json:"overprovisioning_factor,omitempty"`
	// PanicThreshold: when the normalized health of all priorities is
	// below it, health is ignored and traffic spreads over every allowed
	// target in proportion to its weight, rather than be dropped. Default
	// 0.1; a negative value disables panic mode.
	PanicThreshold float64 `json:"panic_threshold,omitempty"`
	// CostAware splits a failover-policy step whose targets are at
	// different distances (say a region served by two providers) so the
	// nearer ones, whose traffic crosses fewer provider or region
	// boundaries, are preferred. Locality priorities need no split.
	CostAware bool `json:"cost_aware,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.OverprovisioningFactor <= 0 {
		c.OverprovisioningFactor = DefaultOverprovisioningFactor
	}
	if c.PanicThreshold == 0 {
		c.PanicThreshold = DefaultPanicThreshold
	}
	return c
}

// Health is the calling gateway's own view of one target cluster.
type Health struct {
	// ProbeFailing: active probes of the cluster's gateways fail.
	ProbeFailing bool
	// Ejected: passive outlier detection ejected the cluster.
	Ejected bool
	// Ramp in [0, 1] scales the cluster's weight while it returns from an
	// ejection or a failed probe (slow start); 0 is treated as 1 (no ramp).
	Ramp float64
}

// Drain is a drain of one target, from the control plane.
type Drain struct {
	StartedAt time.Time
	// Period over which traffic leaves linearly; 0 means at once.
	Period time.Duration
}

// Factor is the share of the target's weight left at now: 1 before the
// drain starts, falling linearly to 0 at StartedAt+Period.
func (d Drain) Factor(now time.Time) float64 {
	if d.Period <= 0 {
		return 0
	}
	f := 1 - float64(now.Sub(d.StartedAt))/float64(d.Period)
	return math.Max(0, math.Min(1, f))
}

// Input is everything a service's routing is decided from.
type Input struct {
	// From and Local are the calling cluster and its locality.
	From  string
	Local Locality
	// Targets are the clusters exporting the service.
	Targets []Target
	// Policy is the service's failover policy, if any.
	Policy *schema.FailoverPolicy
	// Drains by cluster name.
	Drains map[string]Drain
	// Health by cluster name; absent means healthy as far as the gateway
	// knows.
	Health map[string]Health
	// Now is when the table is computed (drains depend on it).
	Now time.Time
}

// Row is one target's line in a Table: its priority, its weight, whether
// it is healthy and why, and its share of traffic.
type Row struct {
	Cluster  string `json:"cluster"`
	Priority int    `json:"priority"`
	// Why is the reason for the priority ("same region", "policy step 2:
	// region eu-west-1", ...).
	Why string `json:"why"`
	// Weight is the configured weight: ready endpoints times the policy
	// weight (1 by default).
	Weight float64 `json:"weight"`
	// Effective is the healthy part of Weight after drain and ramp; 0
	// when unhealthy.
	Effective float64 `json:"effective_weight"`
	Healthy   bool    `json:"healthy"`
	// Excluded targets never get traffic, not even in panic mode.
	Excluded bool `json:"excluded"`
	// Notes explain health and exclusions ("no live gateway",
	// "0 ready endpoints", "probe failing", "ejected", "draining 40%",
	// "never (policy)").
	Notes []string `json:"notes"`
	// Share of the service's traffic, 0-1.
	Share float64 `json:"share"`
}

// Table is the routing decision for one service: rows sorted by priority
// then cluster name, per-priority health and load, and panic state.
type Table struct {
	Rows []Row
	// Health[p] is priority p's health after the overprovisioning factor
	// (0-1); Load[p] its share of traffic.
	Health, Load []float64
	// NormalizedHealth is min(1, sum of Health).
	NormalizedHealth float64
	Panic            bool
}

// Compute decides a service's routing table. It is a pure function of
// cfg and in, so the same inputs always explain the same shares.
//
// Priorities come from the failover policy's ordered targets when there
// is one (the caller's own cluster first, then each step, then the
// remaining targets by locality), else from locality distance (same
// cluster, same zone, same region, same provider, anywhere). Each
// priority's health is min(1, factor × healthy weight / weight); traffic
// fills the priorities in order by health (normalized when the sum is
// under 1), so it spills over gradually as a priority's healthy share
// drops. Within a priority, shares follow effective weights.
func Compute(cfg Config, in Input) *Table {
	cfg = cfg.withDefaults()
	t := &Table{Rows: make([]Row, 0, len(in.Targets))}
	for _, tg := range in.Targets {
		t.Rows = append(t.Rows, row(cfg, in, tg))
	}
	renumber(t.Rows)
	sort.SliceStable(t.Rows, func(i, j int) bool {
		if t.Rows[i].Priority != t.Rows[j].Priority {
			return t.Rows[i].Priority < t.Rows[j].Priority
		}
		return t.Rows[i].Cluster < t.Rows[j].Cluster
	})
	levels := 0
	for _, r := range t.Rows {
		levels = max(levels, r.Priority+1)
	}
	total := make([]float64, levels)
	healthy := make([]float64, levels)
	for _, r := range t.Rows {
		if r.Excluded {
			continue
		}
		total[r.Priority] += r.Weight
		healthy[r.Priority] += r.Effective
	}
	t.Health = make([]float64, levels)
	t.Load = make([]float64, levels)
	for p := range levels {
		if total[p] > 0 {
			t.Health[p] = math.Min(1, cfg.OverprovisioningFactor*healthy[p]/total[p])
		}
		t.NormalizedHealth += t.Health[p]
	}
	t.NormalizedHealth = math.Min(1, t.NormalizedHealth)
	if t.NormalizedHealth < cfg.PanicThreshold || t.NormalizedHealth == 0 {
		t.panic()
		return t
	}
	remaining := 1.0
	for p := range levels {
		t.Load[p] = math.Min(remaining, t.Health[p]/t.NormalizedHealth)
		remaining -= t.Load[p]
	}
	for i := range t.Rows {
		r := &t.Rows[i]
		if !r.Excluded && r.Effective > 0 && healthy[r.Priority] > 0 {
			r.Share = t.Load[r.Priority] * r.Effective / healthy[r.Priority]
		}
	}
	return t
}

// panic spreads traffic over every allowed target by weight, healthy or
// not; with no weight at all anywhere, nothing gets traffic.
func (t *Table) panic() {
	t.Panic = true
	var sum float64
	for _, r := range t.Rows {
		if !r.Excluded {
			sum += r.Weight
		}
	}
	for i := range t.Load {
		t.Load[i] = 0
	}
	if sum == 0 {
		return
	}
	for i := range t.Rows {
		r := &t.Rows[i]
		if !r.Excluded {
			r.Share = r.Weight / sum
			t.Load[r.Priority] += r.Share
		}
	}
}

// row builds a target's row: weight, health, exclusions and a raw
// priority (renumbered densely afterwards).
func row(cfg Config, in Input, tg Target) Row {
	r := Row{Cluster: tg.Cluster}
	r.Priority, r.Why = priority(cfg, in, tg)
	weight := float64(tg.Ready)
	if w, ok := policyWeight(in.Policy, tg.Cluster); ok {
		weight *= float64(w)
		r.Notes = append(r.Notes, fmt.Sprintf("policy weight %d", w))
	}
	r.Weight = weight
	factor := 1.0
	h := in.Health[tg.Cluster]
	switch {
	case policyNever(in.Policy, tg.Cluster):
		r.Excluded = true
		r.Notes = append(r.Notes, "never (policy)")
	case !tg.Alive:
		r.Notes = append(r.Notes, "no live gateway")
		factor = 0
	case tg.Ready == 0:
		r.Notes = append(r.Notes, "0 ready endpoints")
		factor = 0
	case h.Ejected:
		r.Notes = append(r.Notes, "ejected (outlier detection)")
		factor = 0
	case h.ProbeFailing:
		r.Notes = append(r.Notes, "probe failing")
		factor = 0
	}
	if h.Ramp > 0 && h.Ramp < 1 && factor > 0 {
		factor *= h.Ramp
		r.Notes = append(r.Notes, fmt.Sprintf("slow start %.0f%%", 100*h.Ramp))
	}
	if d, ok := in.Drains[tg.Cluster]; ok && !r.Excluded {
		f := d.Factor(in.Now)
		if f == 0 {
			r.Excluded = true
			r.Notes = append(r.Notes, "drained")
		} else {
			r.Notes = append(r.Notes, fmt.Sprintf("draining, %.0f%% of weight left", 100*f))
		}
		factor *= f
	}
	r.Effective = weight * factor
	r.Healthy = factor > 0 && !r.Excluded
	return r
}

// priority returns a sortable raw priority and its reason. Locality
// levels are 0-4; with a failover policy: 0 for the own cluster, then
// 10×(step+1) (+ locality level when cost-aware), then 1000 + locality
// level for targets no step names.
func priority(cfg Config, in Input, tg Target) (int, string) {
	loc := PriorityOf(in.From, in.Local, tg)
	if in.Policy == nil || len(in.Policy.Targets) == 0 || loc == SameCluster {
		return int(loc), loc.Reason()
	}
	for i, step := range in.Policy.Targets {
		if !matches(step, tg) {
			continue
		}
		p := 10 * (i + 1)
		why := fmt.Sprintf("policy step %d: %s", i+1, describe(step))
		if cfg.CostAware {
			p += int(loc)
			why += ", " + loc.Reason()
		}
		return p, why
	}
	return 1000 + int(loc), "not in the policy's order; " + loc.Reason()
}

func matches(step schema.FailoverTarget, tg Target) bool {
	switch {
	case step.Cluster != "":
		return step.Cluster == tg.Cluster
	case step.Region != "":
		return step.Region == tg.Locality.Region
	case len(step.Labels) > 0:
		for k, v := range step.Labels {
			if tg.Labels[k] != v {
				return false
			}
		}
		return true
	}
	return false
}

func describe(step schema.FailoverTarget) string {
	switch {
	case step.Cluster != "":
		return "cluster " + step.Cluster
	case step.Region != "":
		return "region " + step.Region
	}
	keys := make([]string, 0, len(step.Labels))
	for k := range step.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + step.Labels[k]
	}
	return "labels " + strings.Join(parts, ",")
}

// renumber maps raw priorities onto 0, 1, 2, ... in order.
func renumber(rows []Row) {
	raw := make([]int, 0, len(rows))
	for _, r := range rows {
		raw = append(raw, r.Priority)
	}
	sort.Ints(raw)
	dense := map[int]int{}
	for _, p := range raw {
		if _, ok := dense[p]; !ok {
			dense[p] = len(dense)
		}
	}
	for i := range rows {
		rows[i].Priority = dense[rows[i].Priority]
	}
}

// Reason describes a locality priority in words.
func (p Priority) Reason() string {
	switch p {
	case SameCluster:
		return "same cluster"
	case SameZone:
		return "same zone"
	case SameRegion:
		return "same region"
	case SameProvider:
		return "same provider, other region"
	}
	return "other provider"
}

func policyWeight(p *schema.FailoverPolicy, cluster string) (uint32, bool) {
	if p == nil {
		return 0, false
	}
	w, ok := p.Weights[cluster]
	return w, ok
}

func policyNever(p *schema.FailoverPolicy, cluster string) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Never {
		if c == cluster {
			return true
		}
	}
	return false
}
