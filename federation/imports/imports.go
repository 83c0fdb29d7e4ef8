package imports

import (
	"fmt"
	"sort"
	"strings"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Condition types and reasons set by Derive.
const (
	ConditionConflict  = "Conflict"
	ReasonPortConflict = "PortConflict"
	ReasonTypeConflict = "TypeConflict"
	ReasonNoConflicts  = "NoConflicts"
)

// noConflicts is the condition list of every import without conflicts,
// shared (imports are immutable once derived) to save an allocation per
// service.
var noConflicts = []*meshfedv1.Condition{{Type: ConditionConflict, Status: "False", Reason: ReasonNoConflicts}}

// portKey identifies "the same port" across exports: its name, or its
// number and protocol when unnamed.
func portKey(p *meshfedv1.ServicePort) string {
	if p.GetName() != "" {
		return "name:" + p.GetName()
	}
	return fmt.Sprintf("port:%d/%s", p.GetPort(), protocol(p))
}

func numKey(p *meshfedv1.ServicePort) string {
	return fmt.Sprintf("%d/%s", p.GetPort(), protocol(p))
}

func protocol(p *meshfedv1.ServicePort) string {
	if p.GetProtocol() == "" {
		return "TCP"
	}
	return p.GetProtocol()
}

func describe(p *meshfedv1.ServicePort) string {
	s := fmt.Sprintf("%d/%s", p.GetPort(), protocol(p))
	if p.GetAppProtocol() != "" {
		s += " (" + p.GetAppProtocol() + ")"
	}
	return s
}

func samePort(a, b *meshfedv1.ServicePort) bool {
	return a.GetPort() == b.GetPort() && protocol(a) == protocol(b) && a.GetAppProtocol() == b.GetAppProtocol()
}

// Service types (MCS ServiceImport types).
const (
	TypeClusterSetIP = "ClusterSetIP"
	TypeHeadless     = "Headless"
)

// ServiceType is the export's MCS type, with empty meaning ClusterSetIP.
func ServiceType(e *meshfedv1.Export) string {
	if e.GetType() == "" {
		return TypeClusterSetIP
	}
	return e.GetType()
}

// older orders exports by creation time, then cluster name.
func older(a, b *meshfedv1.Export) bool {
	ta, tb := a.GetCreatedAt().AsTime(), b.GetCreatedAt().AsTime()
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.GetCluster() < b.GetCluster()
}

// Derive returns the import of one service from its exports, which must
// all have the same namespace and name. It returns nil for no exports. The
// input is not modified; the result shares messages with it and with other
// results, so it must not be modified either.
func Derive(exports []*meshfedv1.Export) *meshfedv1.Import {
	if len(exports) == 0 {
		return nil
	}
	byAge := append([]*meshfedv1.Export(nil), exports...)
	sort.Slice(byAge, func(i, j int) bool { return older(byAge[i], byAge[j]) })

	type owned struct {
		port    *meshfedv1.ServicePort
		cluster string
	}
	union := map[string]owned{} // by portKey
	byNum := map[string]owned{} // by number/protocol
	var order []string
	imp := &meshfedv1.Import{Namespace: byAge[0].GetNamespace(), Name: byAge[0].GetName(), Type: ServiceType(byAge[0])}
	var conflicted []string
	reason := ReasonPortConflict
	for _, e := range byAge {
		var msgs []string
		why := ReasonPortConflict
		if t := ServiceType(e); t != imp.Type {
			why = ReasonTypeConflict
			msgs = append(msgs, fmt.Sprintf("type: cluster %q exports a %s service, but the oldest export (cluster %q) is %s",
				e.GetCluster(), t, byAge[0].GetCluster(), imp.Type))
		}
		for _, p := range e.GetPorts() {
			k := portKey(p)
			if o, ok := union[k]; ok {
				if !samePort(o.port, p) {
					msgs = append(msgs, fmt.Sprintf("port %q: cluster %q exports %s, but the oldest export (cluster %q) defines %s",
						portName(p), e.GetCluster(), describe(p), o.cluster, describe(o.port)))
				}
				continue
			}
			nk := numKey(p)
			if o, ok := byNum[nk]; ok {
				// Same number and protocol under another name: one port
				// cannot be two.
				msgs = append(msgs, fmt.Sprintf("port %s: cluster %q names it %q, but the oldest export (cluster %q) names it %q",
					nk, e.GetCluster(), p.GetName(), o.cluster, o.port.GetName()))
				continue
			}
			union[k] = owned{port: p, cluster: e.GetCluster()}
			byNum[nk] = union[k]
			order = append(order, k)
		}
		ic := &meshfedv1.ImportCluster{
			Cluster:         e.GetCluster(),
			Endpoints:       e.GetEndpoints(),
			ExportCreatedAt: e.GetCreatedAt(),
		}
		for _, z := range e.GetEndpoints() {
			ic.Ready += z.GetReady()
		}
		if len(msgs) > 0 {
			conflicted = append(conflicted, e.GetCluster())
			if len(conflicted) == 1 {
				reason = why
			}
			ic.Conditions = []*meshfedv1.Condition{{Type: ConditionConflict, Status: "True", Reason: why, Message: strings.Join(msgs, "; ")}}
		}
		imp.Clusters = append(imp.Clusters, ic)
	}
	for _, k := range order {
		imp.Ports = append(imp.Ports, union[k].port)
	}
	sort.SliceStable(imp.Ports, func(i, j int) bool {
		a, b := imp.Ports[i], imp.Ports[j]
		if a.GetPort() != b.GetPort() {
			return a.GetPort() < b.GetPort()
		}
		return a.GetName() < b.GetName()
	})
	sort.Slice(imp.Clusters, func(i, j int) bool { return imp.Clusters[i].GetCluster() < imp.Clusters[j].GetCluster() })
	if len(conflicted) > 0 {
		sort.Strings(conflicted)
		imp.Conditions = []*meshfedv1.Condition{{Type: ConditionConflict, Status: "True", Reason: reason,
			Message: fmt.Sprintf("exports of clusters %s conflict with the oldest export (cluster %q); the oldest definition is used",
				quoteAll(conflicted), byAge[0].GetCluster())}}
	} else {
		imp.Conditions = noConflicts
	}
	return imp
}

func portName(p *meshfedv1.ServicePort) string {
	if p.GetName() != "" {
		return p.GetName()
	}
	return describe(p)
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// Conflicting reports whether the import has a Conflict=True condition.
func Conflicting(imp *meshfedv1.Import) bool {
	for _, c := range imp.GetConditions() {
		if c.GetType() == ConditionConflict && c.GetStatus() == "True" {
			return true
		}
	}
	return false
}

// ServiceKey is "namespace/name", the identity of a clusterset service.
func ServiceKey(namespace, name string) string { return namespace + "/" + name }

// DeriveAll groups exports by service and derives every import, sorted by
// namespace/name.
func DeriveAll(exports []*meshfedv1.Export) []*meshfedv1.Import {
	groups := map[string][]*meshfedv1.Export{}
	var keys []string
	for _, e := range exports {
		k := ServiceKey(e.GetNamespace(), e.GetName())
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], e)
	}
	sort.Strings(keys)
	out := make([]*meshfedv1.Import, 0, len(keys))
	for _, k := range keys {
		out = append(out, Derive(groups[k]))
	}
	return out
}
