package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func drillReport(edit func(r *meshfedv1.DrillReport)) *meshfedv1.DrillReport {
	r := &meshfedv1.DrillReport{
		Id: "20261122-211500-kill-east", Fault: "kill", Scope: "cluster=east", Verdict: "pass",
		StartedAt: timestamppb.New(time.Date(2026, 11, 22, 21, 15, 0, 0, time.UTC)), DurationMs: 93_000,
		Report: []byte(`{"gates":[{"name":"errors","limit":"1%","observed":"0.2%","passed":true}]}`),
	}
	if edit != nil {
		edit(r)
	}
	return r
}

func TestValidateDrillReport(t *testing.T) {
	t.Parallel()
	big := append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), schema.MaxDrillReportBytes-len(`{"pad":""}`))...), `"}`...)
	tests := []struct {
		name string
		r    *meshfedv1.DrillReport
		want string // substring of the error; empty means valid
	}{
		{"valid", drillReport(nil), ""},
		{"every fault", drillReport(func(r *meshfedv1.DrillReport) { r.Fault = "trust-expiry" }), ""},
		{"fail verdict, empty scope, zero duration", drillReport(func(r *meshfedv1.DrillReport) { r.Verdict, r.Scope, r.DurationMs = "fail", "", 0 }), ""},
		{"scope of 256 bytes", drillReport(func(r *meshfedv1.DrillReport) { r.Scope = strings.Repeat("s", 256) }), ""},
		{"report of exactly 1 MiB", drillReport(func(r *meshfedv1.DrillReport) { r.Report = big }), ""},
		{"report with leading space", drillReport(func(r *meshfedv1.DrillReport) { r.Report = []byte(" \n{}") }), ""},
		{"missing", nil, `drill report "" is missing`},
		{"no id", drillReport(func(r *meshfedv1.DrillReport) { r.Id = "" }), `drill report: id "" is not a valid DNS-1123 label`},
		{"id with upper case", drillReport(func(r *meshfedv1.DrillReport) { r.Id = "Kill-East" }), `id "Kill-East" is not a valid DNS-1123 label`},
		{"id with a slash", drillReport(func(r *meshfedv1.DrillReport) { r.Id = "a/b" }), `id "a/b"`},
		{"id like a flag", drillReport(func(r *meshfedv1.DrillReport) { r.Id = "-x" }), `id "-x"`},
		{"id of 64 bytes", drillReport(func(r *meshfedv1.DrillReport) { r.Id = strings.Repeat("a", 64) }), `id "` + strings.Repeat("a", 64) + `"`},
		{"unknown fault", drillReport(func(r *meshfedv1.DrillReport) { r.Fault = "partition" }),
			`drill report "20261122-211500-kill-east": fault "partition" is not a drill fault (one of drain, kill, blackhole, latency, trust-expiry)`},
		{"no fault", drillReport(func(r *meshfedv1.DrillReport) { r.Fault = "" }), `fault ""`},
		{"scope too long", drillReport(func(r *meshfedv1.DrillReport) { r.Scope = strings.Repeat("s", 257) }), `is longer than 256 bytes`},
		{"scope with a newline", drillReport(func(r *meshfedv1.DrillReport) { r.Scope = "cluster=east\nx" }), `scope "cluster=east\nx" has a byte that is not printable ASCII`},
		{"scope not ASCII", drillReport(func(r *meshfedv1.DrillReport) { r.Scope = "cluster=é" }), `scope "cluster=é"`},
		{"bad verdict", drillReport(func(r *meshfedv1.DrillReport) { r.Verdict = "passed" }), `verdict "passed" is neither "pass" nor "fail"`},
		{"no started_at", drillReport(func(r *meshfedv1.DrillReport) { r.StartedAt = nil }), `started_at "" is missing`},
		{"started_at out of range", drillReport(func(r *meshfedv1.DrillReport) { r.StartedAt = &timestamppb.Timestamp{Seconds: -1 << 40} }), `is not a valid time`},
		{"negative duration", drillReport(func(r *meshfedv1.DrillReport) { r.DurationMs = -1 }), `duration_ms "-1" is negative`},
		{"no report", drillReport(func(r *meshfedv1.DrillReport) { r.Report = nil }), `report "" is not a JSON object`},
		{"report an array", drillReport(func(r *meshfedv1.DrillReport) { r.Report = []byte(`[{}]`) }), `report "[{}]" is not a JSON object`},
		{"report a string", drillReport(func(r *meshfedv1.DrillReport) { r.Report = []byte(`"{}"`) }), `report "\"{}\""`},
		{"report truncated", drillReport(func(r *meshfedv1.DrillReport) { r.Report = []byte(`{"gates":[`) }), `report "{\"gates\":[" is not a JSON object`},
		{"report followed by garbage", drillReport(func(r *meshfedv1.DrillReport) { r.Report = []byte(`{} x`) }), `is not a JSON object`},
		{"report over 1 MiB", drillReport(func(r *meshfedv1.DrillReport) { r.Report = append(big, ' ') }), `report "1048577 bytes" is larger than 1048576 bytes (1 MiB)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := schema.ValidateDrillReport(tt.r)
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

func FuzzDrillReport(f *testing.F) {
	seed := drillReport(nil)
	f.Add(seed.Id, seed.Fault, seed.Scope, seed.Verdict, int64(0), seed.Report)
	f.Add("a", "trust-expiry", "", "fail", int64(1), []byte(" {}"))
	f.Add("A", "kill", "cluster=east", "pass", int64(0), []byte(`{}`))
	f.Add("a", "Kill", "\x7f", "pass", int64(-1), []byte(`[]`))
	f.Add("a", "drain", "x", "pass", int64(0), []byte(`{"a":`))
	f.Fuzz(func(t *testing.T, id, fault, scope, verdict string, duration int64, doc []byte) {
		r := &meshfedv1.DrillReport{Id: id, Fault: fault, Scope: scope, Verdict: verdict,
			StartedAt: timestamppb.New(time.Unix(1_800_000_000, 0)), DurationMs: duration, Report: doc}
		err := schema.ValidateDrillReport(r)

		// The first invalid field, in the order ValidateDrillReport checks
		// them, by the rules restated here.
		printable := !strings.ContainsFunc(scope, func(c rune) bool { return c < 0x20 || c > 0x7e })
		var isObject bool
		var v any
		if json.Unmarshal(doc, &v) == nil {
			_, isObject = v.(map[string]any)
		}
		var field, bad string
		switch {
		case !isDNSLabel(id):
			field, bad = "id", id
		case !slices.Contains([]string{"drain", "kill", "blackhole", "latency", "trust-expiry"}, fault):
			field, bad = "fault", fault
		case len(scope) > 256 || !printable:
			field, bad = "scope", scope
		case verdict != "pass" && verdict != "fail":
			field, bad = "verdict", verdict
		case duration < 0:
			field, bad = "duration_ms", strconv.FormatInt(duration, 10)
		case len(doc) > 1<<20:
			field, bad = "report", strconv.Itoa(len(doc))+" bytes"
		case !isObject:
			field, bad = "report", string(doc)
		}
		if field == "" {
			if err != nil {
				t.Fatalf("ValidateDrillReport(%v) = %v, want accepted", r, err)
			}
			// An accepted report survives the wire unchanged (its id is one
			// key segment).
			b, err := proto.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back := new(meshfedv1.DrillReport)
			if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(r, back) || strings.Contains(back.GetId(), "/") {
				t.Fatalf("accepted report %v does not round-trip: %v %v", r, back, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("ValidateDrillReport(%v) accepted invalid %s %q", r, field, bad)
		}
		checkFieldErr(t, err, field, bad)
	})
}
