package cli

import (
	"io"
	"strings"
	"testing"
	"time"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestDrainTableAndSummary(t *testing.T) {
	resp := &meshfedv1.ListDrainsResponse{Drains: []*meshfedv1.Drain{
		{Cluster: "east", PeriodSeconds: 600, StartedAt: ts(150 * time.Second)},
		{Cluster: "east", Namespace: "demo", Name: "echo", StartedAt: ts(5 * time.Second)},
		{Cluster: "west", Namespace: "demo", Name: "api", PeriodSeconds: 5400, StartedAt: ts(3 * time.Hour)},
		{Cluster: "west", Namespace: "demo", Name: "db", PeriodSeconds: 3600},
	}}
	got := table(func(w io.Writer) { drainTable(w, resp, now) })
	want := `
CLUSTER   SERVICE     PERIOD    STARTED     PROGRESS
east      *           10m       2m ago      25%
east      demo/echo   at once   5s ago      100%
west      demo/api    1h30m     3h ago      100%
west      demo/db     1h        <unknown>   100%
`
	if strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("drain table:\n%s\nwant:\n%s", got, want)
	}
	for _, tt := range []struct {
		d    *meshfedv1.Drain
		want string
	}{
		{&meshfedv1.Drain{Cluster: "east", PeriodSeconds: 30}, `cluster "east" draining over 30s`},
		{&meshfedv1.Drain{Cluster: "east", Namespace: "demo", Name: "echo"}, `service demo/echo in cluster "east" draining at once`},
		{&meshfedv1.Drain{Cluster: "east", PeriodSeconds: 90}, `cluster "east" draining over 1m30s`},
		{&meshfedv1.Drain{Cluster: "east", PeriodSeconds: 7 * 24 * 3600}, `cluster "east" draining over 168h`},
	} {
		if got := drainSummary(tt.d); got != tt.want {
			t.Errorf("drainSummary(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestPeriodSeconds(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want int64
		err  string
	}{
		{0, 0, ""},
		{30 * time.Second, 30, ""},
		{168 * time.Hour, 604800, ""},
		{-time.Second, 0, "--period -1s is negative"},
		{1500 * time.Millisecond, 0, "--period 1.5s is not a whole number of seconds"},
		{168*time.Hour + time.Second, 0, "--period 168h0m1s is longer than the 168h (7 days) allowed"},
	} {
		got, err := periodSeconds(tt.in)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("periodSeconds(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("periodSeconds(%v) error %v, want %q", tt.in, err, tt.err)
		}
	}
}
