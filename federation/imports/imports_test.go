package imports_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/imports"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func exp(cluster string, age int, ready uint32, ports ...*meshfedv1.ServicePort) *meshfedv1.Export {
	return &meshfedv1.Export{
		Cluster: cluster, Namespace: "demo", Name: "echo", Ports: ports,
		Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "z1", Ready: ready}},
		CreatedAt: timestamppb.New(t0.Add(time.Duration(age) * time.Minute)),
	}
}

func port(name string, n uint32, proto string) *meshfedv1.ServicePort {
	return &meshfedv1.ServicePort{Name: name, Port: n, Protocol: proto}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		exports       []*meshfedv1.Export
		wantPorts     []string // "name=port/proto"
		wantConflicts []string // clusters with Conflict=True
		wantMsg       string   // substring of the conflicting cluster's message
	}{
		{
			name:      "one export",
			exports:   []*meshfedv1.Export{exp("a", 0, 3, port("http", 80, ""))},
			wantPorts: []string{"http=80/TCP"},
		},
		{
			name:      "ports are unioned",
			exports:   []*meshfedv1.Export{exp("a", 0, 1, port("http", 80, "")), exp("b", 1, 1, port("grpc", 9090, "TCP"))},
			wantPorts: []string{"http=80/TCP", "grpc=9090/TCP"},
		},
		{
			name:          "oldest wins a port conflict",
			exports:       []*meshfedv1.Export{exp("young", 5, 1, port("http", 8080, "")), exp("old", 0, 1, port("http", 80, ""))},
			wantPorts:     []string{"http=80/TCP"},
			wantConflicts: []string{"young"},
			wantMsg:       `port "http": cluster "young" exports 8080/TCP, but the oldest export (cluster "old") defines 80/TCP`,
		},
		{
			name:          "protocol conflict on an unnamed port is no conflict: different key",
			exports:       []*meshfedv1.Export{exp("a", 0, 1, port("", 53, "UDP")), exp("b", 1, 1, port("", 53, "TCP"))},
			wantPorts:     []string{"=53/UDP", "=53/TCP"},
			wantConflicts: nil,
		},
		{
			name:          "same age: cluster name breaks the tie",
			exports:       []*meshfedv1.Export{exp("b", 0, 1, port("dns", 53, "UDP")), exp("a", 0, 1, port("dns", 53, "TCP"))},
			wantPorts:     []string{"dns=53/TCP"},
			wantConflicts: []string{"b"},
			wantMsg:       `cluster "b" exports 53/UDP, but the oldest export (cluster "a") defines 53/TCP`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			imp := imports.Derive(tt.exports)
			var ports []string
			for _, p := range imp.GetPorts() {
				proto := p.GetProtocol()
				if proto == "" {
					proto = "TCP"
				}
				ports = append(ports, p.GetName()+"="+strconv.Itoa(int(p.GetPort()))+"/"+proto)
			}
			if strings.Join(ports, ",") != strings.Join(tt.wantPorts, ",") {
				t.Fatalf("ports %v, want %v", ports, tt.wantPorts)
			}
			var conflicts []string
			for _, c := range imp.GetClusters() {
				for _, cond := range c.GetConditions() {
					if cond.GetType() == imports.ConditionConflict && cond.GetStatus() == "True" {
						conflicts = append(conflicts, c.GetCluster())
						if !strings.Contains(cond.GetMessage(), tt.wantMsg) {
							t.Fatalf("message %q does not contain %q", cond.GetMessage(), tt.wantMsg)
						}
					}
				}
			}
			if strings.Join(conflicts, ",") != strings.Join(tt.wantConflicts, ",") {
				t.Fatalf("conflicting clusters %v, want %v", conflicts, tt.wantConflicts)
			}
			if imports.Conflicting(imp) != (len(tt.wantConflicts) > 0) {
				t.Fatalf("Conflicting() = %v", imports.Conflicting(imp))
			}
			if len(imp.GetClusters()) != len(tt.exports) {
				t.Fatalf("%d clusters in import, want %d (conflicting exports still serve)", len(imp.GetClusters()), len(tt.exports))
			}
		})
	}
}

func TestDeriveAllGroupsByService(t *testing.T) {
	t.Parallel()
	a := exp("a", 0, 2, port("http", 80, ""))
	b := exp("b", 1, 3, port("http", 80, ""))
	other := exp("a", 0, 1, port("http", 80, ""))
	other.Name = "api"
	got := imports.DeriveAll([]*meshfedv1.Export{b, other, a})
	if len(got) != 2 || got[0].GetName() != "api" || got[1].GetName() != "echo" {
		t.Fatalf("imports %v", got)
	}
	if got[1].GetClusters()[0].GetCluster() != "a" || got[1].GetClusters()[1].GetReady() != 3 {
		t.Fatalf("echo clusters %v", got[1].GetClusters())
	}
	if imports.Derive(nil) != nil {
		t.Fatal("Derive(nil) != nil")
	}
}

func TestDeriveTypeConflict(t *testing.T) {
	t.Parallel()
	old := exp("old", 0, 1, port("http", 80, ""))
	young := exp("young", 5, 1, port("http", 80, ""))
	young.Type = imports.TypeHeadless
	imp := imports.Derive([]*meshfedv1.Export{young, old})
	if imp.GetType() != imports.TypeClusterSetIP {
		t.Fatalf("type = %q, want the oldest export's ClusterSetIP", imp.GetType())
	}
	if !imports.Conflicting(imp) || imp.GetConditions()[0].GetReason() != imports.ReasonTypeConflict {
		t.Fatalf("import conditions = %v, want Conflict TypeConflict", imp.GetConditions())
	}
	for _, c := range imp.GetClusters() {
		conflict := len(c.GetConditions()) > 0
		if conflict != (c.GetCluster() == "young") {
			t.Fatalf("cluster %s conditions %v", c.GetCluster(), c.GetConditions())
		}
		if conflict && (c.GetConditions()[0].GetReason() != imports.ReasonTypeConflict || !strings.Contains(c.GetConditions()[0].GetMessage(), `cluster "young" exports a Headless service`)) {
			t.Fatalf("young's condition = %v", c.GetConditions()[0])
		}
	}
	// Alone, a headless export makes a headless import.
	if got := imports.Derive([]*meshfedv1.Export{young}).GetType(); got != imports.TypeHeadless {
		t.Fatalf("type = %q, want Headless", got)
	}
}
