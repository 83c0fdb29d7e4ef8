package drill

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/globallb"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// BlastRadius is what a dry run reports: what the drill would do, and
// for each affected service and client cluster where its traffic goes
// now and where it would go with the fault, as `meshfed route explain`
// computes it from the control plane's state.
type BlastRadius struct {
	ID            string        `json:"id"`
	DryRun        bool          `json:"dry_run"`
	Fault         string        `json:"fault"`
	Scope         string        `json:"scope"`
	ScopeClusters []string      `json:"scope_clusters"`
	Actions       []string      `json:"actions"`
	Service       string        `json:"service"`
	From          []string      `json:"from"`
	Duration      string        `json:"duration"`
	Routes        []RouteChange `json:"routes"`
	// AffectedServices and AffectedClients list what the fault moves or
	// breaks.
	AffectedServices []string `json:"affected_services"`
	AffectedClients  []string `json:"affected_clients"`
	Notes            []string `json:"notes,omitempty"`
}

// RouteChange is one service as seen from one client cluster.
type RouteChange struct {
	Service string `json:"service"`
	From    string `json:"from"`
	// Now and WithFault are shares of traffic by serving cluster.
	Now       map[string]float64 `json:"now"`
	WithFault map[string]float64 `json:"with_fault"`
	Affected  bool               `json:"affected"`
	Note      string             `json:"note,omitempty"`
}

// DryRun computes the blast radius of p. It changes nothing: it reads the
// state the plan fetched and the gateways' fault lists only.
func (r *Runner) DryRun(_ context.Context, p *Plan) (*BlastRadius, error) {
	s := p.Spec
	now := r.cfg.Now()
	b := &BlastRadius{ID: p.ID, DryRun: true, Fault: s.Fault.Kind, Scope: s.Scope.String(), ScopeClusters: p.Scope,
		Actions: p.Actions(), Service: p.Service.String(), From: p.FromNames(), Duration: s.Duration.D().String()}
	faulty := faultState(p, now)

	// The services the fault touches: the scope's service, or everything
	// the scope's clusters export; and the drill's own service.
	var keys []string
	for key, imp := range p.State.Imports {
		exported := false
		for _, c := range importClusters(imp) {
			exported = exported || slices.Contains(p.Scope, c)
		}
		svc := gateway.ServiceName{Namespace: imp.GetNamespace(), Name: imp.GetName()}
		if (exported && (s.Scope.Service == "" || s.Scope.Service == svc.String())) || svc == p.Service {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	services, clients := map[string]bool{}, map[string]bool{}
	for _, key := range keys {
		imp := p.State.Imports[key]
		svc := gateway.ServiceName{Namespace: imp.GetNamespace(), Name: imp.GetName()}
		for _, from := range p.Clusters {
			rc := RouteChange{Service: svc.String(), From: from}
			before, err := gateway.ExplainRoute(p.State, from, svc, globallb.Config{}, now)
			if err != nil {
				continue
			}
			after, err := gateway.ExplainRoute(faulty, from, svc, globallb.Config{}, now)
			if err != nil {
				continue
			}
			rc.Now, rc.WithFault = shares(before), shares(after)
			rc.Affected = !sameShares(rc.Now, rc.WithFault)
			if slices.Contains(p.Scope, from) {
				switch s.Fault.Kind {
				case FaultKill:
					rc.Affected, rc.Note = true, "clients in "+from+" lose their gateway: every request fails"
					rc.WithFault = map[string]float64{}
				case FaultTrustExpiry:
					rc.Affected, rc.Note = true, "clients in "+from+" keep local traffic but reach no other cluster"
				}
			}
			if s.Fault.Kind == FaultLatency && rc.Now[p.Scope[0]] > 0 && (s.Scope.Service == "" || s.Scope.Service == rc.Service) {
				rc.Affected, rc.Note = true, "traffic stays, slower by "+s.Fault.Latency.D().String()+" (gates decide)"
			}
			if rc.Affected {
				services[rc.Service], clients[from] = true, true
			}
			b.Routes = append(b.Routes, rc)
		}
	}
	b.AffectedServices = slices.Sorted(maps.Keys(services))
	b.AffectedClients = slices.Sorted(maps.Keys(clients))
	b.AffectedServices = nonNilStrings(b.AffectedServices)
	b.AffectedClients = nonNilStrings(b.AffectedClients)
	for _, from := range p.FromNames() {
		for _, rc := range b.Routes {
			if rc.From == from && rc.Service == p.Service.String() && shareOf(rc.Now, p.Scope) == 0 {
				b.Notes = append(b.Notes, fmt.Sprintf("%s from %s does not reach the scope now: the drill's traffic from %s will not measure a failover", rc.Service, from, from))
			}
		}
	}
	if s.Fault.Kind == FaultBlackhole || s.Fault.Kind == FaultKill {
		b.Notes = append(b.Notes, "the table is the control plane's view; gateways move traffic once their probes or outlier detection notice (see the run's time_to_detect)")
	}
	return b, nil
}

// faultState is a copy of the plan's state as gateways would see it
// with the fault: a dead or distrusted cluster has no live gateway, a
// blackholed service no ready endpoint there, a drain is complete.
func faultState(p *Plan, now time.Time) *client.State {
	s := p.Spec
	st := &client.State{
		Version:  p.State.Version,
		Clusters: p.State.Clusters,
		Presence: maps.Clone(p.State.Presence),
		Imports:  maps.Clone(p.State.Imports),
		Bundles:  p.State.Bundles,
		Policies: p.State.Policies,
		Drains:   maps.Clone(p.State.Drains),
	}
	switch {
	case s.Fault.Kind == FaultDrain:
		ns, name := "", ""
		if s.Scope.Service != "" {
			svc, _ := gateway.ParseServiceName(s.Scope.Service)
			ns, name = svc.Namespace, svc.Name
		}
		for _, c := range p.Scope {
			st.Drains[schema.DrainKey(c, ns, name)] = &meshfedv1.Drain{Cluster: c, Namespace: ns, Name: name,
				StartedAt: timestamppb.New(now.Add(-s.Fault.Period.D())), PeriodSeconds: int64(s.Fault.Period.D() / time.Second)}
		}
	case s.Fault.Kind == FaultLatency:
	case s.Scope.Service != "": // blackhole of one service
		svc, _ := gateway.ParseServiceName(s.Scope.Service)
		if imp, ok := st.Imports[svc.Key()]; ok {
			imp = proto.Clone(imp).(*meshfedv1.Import)
			for _, ic := range imp.GetClusters() {
				if slices.Contains(p.Scope, ic.GetCluster()) {
					ic.Ready = 0
				}
			}
			st.Imports[svc.Key()] = imp
		}
	default: // kill, blackhole, trust expiry of the whole gateway
		for key, pr := range st.Presence {
			if slices.Contains(p.Scope, pr.GetCluster()) {
				delete(st.Presence, key)
			}
		}
	}
	return st
}

func shares(t *globallb.Table) map[string]float64 {
	out := map[string]float64{}
	for _, r := range t.Rows {
		if r.Share > 0 {
			out[r.Cluster] = r.Share
		}
	}
	return out
}

func sameShares(a, b map[string]float64) bool {
	for k := range a {
		if d := a[k] - b[k]; d > 0.005 || d < -0.005 {
			return false
		}
	}
	for k := range b {
		if d := a[k] - b[k]; d > 0.005 || d < -0.005 {
			return false
		}
	}
	return true
}

func shareOf(m map[string]float64, clusters []string) float64 {
	var s float64
	for _, c := range clusters {
		s += m[c]
	}
	return s
}

// formatShares writes shares as "west 70%, east 30%", largest first.
func formatShares(m map[string]float64) string {
	if len(m) == 0 {
		return "nowhere (requests fail)"
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f%%", k, 100*m[k])
	}
	return strings.Join(parts, ", ")
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteText prints the blast radius for a person.
func (b *BlastRadius) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Drill %s (dry run: nothing was changed)\n", b.ID)
	fmt.Fprintf(w, "  fault:    %s\n  scope:    %s (clusters: %s)\n  duration: %s\n  traffic:  %s from %s\n",
		b.Fault, b.Scope, strings.Join(b.ScopeClusters, ", "), b.Duration, b.Service, strings.Join(b.From, ", "))
	fmt.Fprintln(w, "\nWould do:")
	for _, a := range b.Actions {
		fmt.Fprintf(w, "  - %s\n", a)
	}
	fmt.Fprintln(w, "\nBlast radius (route explain, now and with the fault):")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVICE\tFROM\tNOW\tWITH THE FAULT")
	for _, rc := range b.Routes {
		after := formatShares(rc.WithFault)
		switch {
		case rc.Note != "" && len(rc.WithFault) == 0:
			after = rc.Note
		case rc.Note != "":
			after += " (" + rc.Note + ")"
		case !rc.Affected:
			after = "unchanged"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", rc.Service, rc.From, formatShares(rc.Now), after)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAffected services: %s\nAffected client clusters: %s\n", orNone(b.AffectedServices), orNone(b.AffectedClients))
	for _, n := range b.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
