package schema_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestValidateDrain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    *meshfedv1.Drain
		want string // substring of the error; empty means valid
	}{
		{"cluster at once", &meshfedv1.Drain{Cluster: "east"}, ""},
		{"service over a week", &meshfedv1.Drain{Cluster: "east", Namespace: "demo", Name: "echo", PeriodSeconds: schema.MaxDrainPeriodSeconds}, ""},
		{"started_at is ignored", &meshfedv1.Drain{Cluster: "east", StartedAt: timestamppb.Now()}, ""},
		{"missing", nil, `drain "" is missing`},
		{"no cluster", &meshfedv1.Drain{}, `drain: cluster "" is not a valid DNS-1123 label`},
		{"bad cluster", &meshfedv1.Drain{Cluster: "East_1"}, `drain: cluster "East_1" is not a valid DNS-1123 label`},
		{"reserved segment as cluster", &meshfedv1.Drain{Cluster: "_"}, `cluster "_"`},
		{"name without namespace", &meshfedv1.Drain{Cluster: "east", Name: "echo"}, `drain of /echo in cluster "east": namespace "" is empty but name is set`},
		{"namespace without name", &meshfedv1.Drain{Cluster: "east", Namespace: "demo"}, `drain of demo/ in cluster "east": name "" is empty but namespace is set`},
		{"bad namespace", &meshfedv1.Drain{Cluster: "east", Namespace: "Demo", Name: "echo"}, `namespace "Demo" is not a valid DNS-1123 label`},
		{"reserved segment as namespace", &meshfedv1.Drain{Cluster: "east", Namespace: "_", Name: "_"}, `namespace "_"`},
		{"bad name", &meshfedv1.Drain{Cluster: "east", Namespace: "demo", Name: "echo/x"}, `name "echo/x" is not a valid DNS-1123 label`},
		{"negative period", &meshfedv1.Drain{Cluster: "east", PeriodSeconds: -1}, `drain of cluster "east": period_seconds "-1" is outside 0-604800`},
		{"period over a week", &meshfedv1.Drain{Cluster: "east", Namespace: "demo", Name: "echo", PeriodSeconds: schema.MaxDrainPeriodSeconds + 1},
			`drain of demo/echo in cluster "east": period_seconds "604801" is outside 0-604800`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := schema.ValidateDrain(tt.d)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, schema.ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestDrainProgress(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	drain := func(period int64) *meshfedv1.Drain {
		return &meshfedv1.Drain{Cluster: "east", StartedAt: timestamppb.New(start), PeriodSeconds: period}
	}
	tests := []struct {
		name string
		d    *meshfedv1.Drain
		at   time.Duration // after start
		want float64
	}{
		{"nil", nil, 0, 0},
		{"at once", drain(0), 0, 1},
		{"at once, before start", drain(0), -time.Hour, 1},
		{"start", drain(100), 0, 0},
		{"before start (clock skew)", drain(100), -time.Second, 0},
		{"a quarter", drain(100), 25 * time.Second, 0.25},
		{"end", drain(100), 100 * time.Second, 1},
		{"after the end", drain(100), time.Hour, 1},
	}
	for _, tt := range tests {
		if got := schema.DrainProgress(tt.d, start.Add(tt.at)); got != tt.want {
			t.Errorf("%s: DrainProgress = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDrainKey(t *testing.T) {
	t.Parallel()
	if got := schema.DrainKey("east", "", ""); got != "east//" {
		t.Errorf("cluster-wide key %q, want %q", got, "east//")
	}
	if got := schema.DrainKey("east", "demo", "echo"); got != "east/demo/echo" {
		t.Errorf("service key %q, want %q", got, "east/demo/echo")
	}
}

func FuzzDrain(f *testing.F) {
	f.Add("east", "", "", int64(0))
	f.Add("east", "demo", "echo", int64(30))
	f.Add("east", "demo", "", int64(30))
	f.Add("east", "", "echo", int64(30))
	f.Add("East", "demo", "echo", int64(30))
	f.Add("east", "_", "_", int64(0))
	f.Add("east", "demo", "echo", int64(-1))
	f.Add("east", "demo", "echo", int64(schema.MaxDrainPeriodSeconds+1))
	f.Fuzz(func(t *testing.T, cluster, ns, name string, period int64) {
		d := &meshfedv1.Drain{Cluster: cluster, Namespace: ns, Name: name, PeriodSeconds: period}
		err := schema.ValidateDrain(d)

		// The first invalid field, in the order ValidateDrain checks them.
		var field, bad string
		switch {
		case !isDNSLabel(cluster):
			field, bad = "cluster", cluster
		case ns == "" && name != "":
			field, bad = "namespace", ns
		case ns != "" && name == "":
			field, bad = "name", name
		case ns != "" && !isDNSLabel(ns):
			field, bad = "namespace", ns
		case name != "" && !isDNSLabel(name):
			field, bad = "name", name
		case period < 0 || period > 7*24*3600:
			field, bad = "period_seconds", strconv.FormatInt(period, 10)
		}
		if field == "" {
			if err != nil {
				t.Fatalf("ValidateDrain(%v) = %v, want accepted", d, err)
			}
			// An accepted drain's key splits back into its parts, and the
			// reserved store segment "_" can never be one of them.
			parts := strings.Split(schema.DrainKey(cluster, ns, name), "/")
			if len(parts) != 3 || parts[0] != cluster || parts[1] != ns || parts[2] != name || cluster == "_" || ns == "_" || name == "_" {
				t.Fatalf("accepted drain %v has key parts %q", d, parts)
			}
			return
		}
		if err == nil {
			t.Fatalf("ValidateDrain(%v) accepted invalid %s %q", d, field, bad)
		}
		checkFieldErr(t, err, field, bad)
	})
}
