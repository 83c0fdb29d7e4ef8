package imports_test

import (
	"fmt"
	"sort"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/imports"
	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// fuzzBytes hands out the fuzzer's bytes, then zeros.
type fuzzBytes []byte

func (b *fuzzBytes) next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

func pick[T any](b *fuzzBytes, from ...T) T { return from[int(b.next())%len(from)] }

// fuzzExports builds 1-4 exports of demo/echo from data, each valid by
// schema.ValidateExport and from a distinct cluster, as the store holds
// them; ok is false when data does not make such a set.
func fuzzExports(data []byte) (exports []*meshfedv1.Export, ok bool) {
	b := fuzzBytes(data)
	n := 1 + int(b.next())%4
	seen := map[string]bool{}
	for range n {
		e := &meshfedv1.Export{
			Cluster:   pick(&b, "a", "b", "c", "d", "eu-1", "us-1"),
			Namespace: "demo",
			Name:      "echo",
		}
		if seen[e.Cluster] {
			return nil, false
		}
		seen[e.Cluster] = true
		// Few distinct times, so that ties (broken by cluster name) are common.
		if c := b.next(); c%5 != 4 {
			e.CreatedAt = &timestamppb.Timestamp{Seconds: int64(c % 5)}
		} // else nil: the zero time, like a record written before created_at existed
		for range 1 + int(b.next())%3 {
			e.Ports = append(e.Ports, &meshfedv1.ServicePort{
				Name:        pick(&b, "", "http", "grpc", "dns", "web"),
				Port:        pick[uint32](&b, 53, 80, 8080, 9090),
				Protocol:    pick(&b, "", "TCP", "UDP"),
				AppProtocol: pick(&b, "", "http", "h2c"),
			})
		}
		for z := range int(b.next()) % 3 {
			e.Endpoints = append(e.Endpoints, &meshfedv1.ZoneEndpoints{Zone: "z" + strconv.Itoa(z), Ready: uint32(b.next())})
		}
		if schema.ValidateExport(e) != nil {
			return nil, false
		}
		exports = append(exports, e)
	}
	return exports, true
}

func portProto(p *meshfedv1.ServicePort) string {
	return fmt.Sprintf("%d/%s", p.GetPort(), schema.Protocol(p))
}

// permutations calls fn with every order of s.
func permutations(s []*meshfedv1.Export, fn func([]*meshfedv1.Export)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(s) {
			fn(append([]*meshfedv1.Export(nil), s...))
			return
		}
		for i := k; i < len(s); i++ {
			s[k], s[i] = s[i], s[k]
			rec(k + 1)
			s[k], s[i] = s[i], s[k]
		}
	}
	rec(0)
}

func FuzzDerive(f *testing.F) {
	// Layout: count, then per export: cluster, created, #ports, per port
	// (name, number, protocol, app protocol), #zones, per zone ready.
	f.Add([]byte{0, 0, 0, 0, 1, 1, 0, 0, 1, 7})                           // a: http 80
	f.Add([]byte{1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 3})   // a, b: same port
	f.Add([]byte{1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 2, 0, 0, 0})      // a, b: http 80 vs 8080
	f.Add([]byte{1, 1, 3, 0, 3, 0, 2, 0, 0, 0, 2, 0, 3, 0, 1, 0, 0})      // b, a: dns 53/UDP vs 53/TCP
	f.Add([]byte{1, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0})      // a, b: unnamed 53/UDP and 53/TCP
	f.Add([]byte{1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 4, 1, 0, 0, 0})      // a: http 80, b: web 80
	f.Add([]byte{1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0})      // a: unnamed 80, b: http 80
	f.Add([]byte{3, 5, 4, 2, 1, 1, 0, 1, 2, 3, 0, 0, 2, 2, 9, 4, 0, 1, 1, // four clusters, mixed
		1, 0, 0, 2, 0, 0, 0, 3, 2, 2, 1, 0, 2, 1, 1, 2, 2, 0, 1, 4, 3, 0, 0, 0, 1, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		exports, ok := fuzzExports(data)
		if !ok {
			return
		}
		before := make([]*meshfedv1.Export, len(exports))
		for i, e := range exports {
			before[i] = proto.Clone(e).(*meshfedv1.Export)
		}
		imp := imports.Derive(exports)
		for i := range exports {
			if !proto.Equal(exports[i], before[i]) {
				t.Fatalf("Derive modified its input: %v, was %v", exports[i], before[i])
			}
		}
		if imp.GetNamespace() != "demo" || imp.GetName() != "echo" {
			t.Fatalf("import is %s/%s, want demo/echo", imp.GetNamespace(), imp.GetName())
		}

		// Every export is one cluster of the import, sorted by name, with
		// its endpoints summed.
		if len(imp.GetClusters()) != len(exports) {
			t.Fatalf("%d clusters in the import of %d exports: %v", len(imp.GetClusters()), len(exports), imp)
		}
		byCluster := map[string]*meshfedv1.Export{}
		for _, e := range exports {
			byCluster[e.GetCluster()] = e
		}
		for i, c := range imp.GetClusters() {
			e := byCluster[c.GetCluster()]
			if e == nil {
				t.Fatalf("import has cluster %q, which exported nothing", c.GetCluster())
			}
			if i > 0 && imp.GetClusters()[i-1].GetCluster() >= c.GetCluster() {
				t.Fatalf("clusters not sorted by name: %v", imp.GetClusters())
			}
			var ready uint32
			for _, z := range e.GetEndpoints() {
				ready += z.GetReady()
			}
			if c.GetReady() != ready {
				t.Fatalf("cluster %q ready %d, want %d", c.GetCluster(), c.GetReady(), ready)
			}
		}

		// Ports: each is one of the exported ports, sorted by number then
		// name, with no name or number/protocol twice; each exported port's
		// name (or number/protocol when unnamed) is present; the oldest
		// export's ports are there as it defines them.
		names, numbers := map[string]bool{}, map[string]bool{}
		for i, p := range imp.GetPorts() {
			if p.GetName() != "" {
				if names[p.GetName()] {
					t.Fatalf("port name %q twice in %v", p.GetName(), imp.GetPorts())
				}
				names[p.GetName()] = true
			}
			if numbers[portProto(p)] {
				t.Fatalf("port %s twice in %v (exports %v)", portProto(p), imp.GetPorts(), exports)
			}
			numbers[portProto(p)] = true
			if i > 0 {
				q := imp.GetPorts()[i-1]
				if q.GetPort() > p.GetPort() || q.GetPort() == p.GetPort() && q.GetName() > p.GetName() {
					t.Fatalf("ports not sorted: %v", imp.GetPorts())
				}
			}
			found := false
			for _, e := range exports {
				for _, ep := range e.GetPorts() {
					found = found || proto.Equal(ep, p)
				}
			}
			if !found {
				t.Fatalf("import port %v is not an exported port", p)
			}
		}
		// An exported port is missing only if its export lost a conflict.
		conflicted := map[string]bool{}
		for _, c := range imp.GetClusters() {
			for _, cond := range c.GetConditions() {
				if cond.GetType() == imports.ConditionConflict && cond.GetStatus() == "True" {
					conflicted[c.GetCluster()] = true
				}
			}
		}
		for _, e := range exports {
			for _, p := range e.GetPorts() {
				if (p.GetName() != "" && !names[p.GetName()] || p.GetName() == "" && !numbers[portProto(p)]) && !conflicted[e.GetCluster()] {
					t.Fatalf("exported port %v of non-conflicting cluster %q is missing from the import ports %v", p, e.GetCluster(), imp.GetPorts())
				}
			}
		}
		oldest := append([]*meshfedv1.Export(nil), exports...)
		sort.Slice(oldest, func(i, j int) bool {
			a, b := oldest[i].GetCreatedAt().AsTime(), oldest[j].GetCreatedAt().AsTime()
			if !a.Equal(b) {
				return a.Before(b)
			}
			return oldest[i].GetCluster() < oldest[j].GetCluster()
		})
		for _, p := range oldest[0].GetPorts() {
			found := false
			for _, ip := range imp.GetPorts() {
				found = found || proto.Equal(ip, p)
			}
			if !found {
				t.Fatalf("port %v of the oldest export (cluster %q) is not in the import: %v", p, oldest[0].GetCluster(), imp.GetPorts())
			}
		}

		// Conflicts: the oldest export never loses one; the import says
		// Conflict=True exactly when some cluster does.
		anyConflict := false
		for _, c := range imp.GetClusters() {
			for _, cond := range c.GetConditions() {
				if cond.GetType() == imports.ConditionConflict && cond.GetStatus() == "True" {
					anyConflict = true
					if c.GetCluster() == oldest[0].GetCluster() {
						t.Fatalf("the oldest export (cluster %q) has a conflict: %v", c.GetCluster(), cond)
					}
				}
			}
		}
		if imports.Conflicting(imp) != anyConflict {
			t.Fatalf("Conflicting() = %v, but clusters conflicting = %v: %v", imports.Conflicting(imp), anyConflict, imp)
		}

		// Derive is a function of the set of exports, not of their order.
		permutations(exports, func(order []*meshfedv1.Export) {
			if got := imports.Derive(order); !proto.Equal(got, imp) {
				t.Fatalf("Derive depends on input order:\n%v\ngives\n%v\nbut\n%v\ngives\n%v", exports, imp, order, got)
			}
		})
	})
}
