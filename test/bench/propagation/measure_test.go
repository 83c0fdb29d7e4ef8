package main

import (
	"testing"
	"time"
)

func TestParseScenarios(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []scenario
		wantErr bool
	}{
		{in: "10x1000,100x10000", want: []scenario{{10, 1000}, {100, 10000}}},
		{in: " 3x60 ", want: []scenario{{3, 60}}},
		{in: "", wantErr: true},
		{in: "10", wantErr: true},
		{in: "10x5", wantErr: true}, // fewer exports than clusters
		{in: "0x10", wantErr: true},
		{in: "axb", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseScenarios(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseScenarios(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("parseScenarios(%q) = %v, want %v", tc.in, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("parseScenarios(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestExportIndexRoundTrip(t *testing.T) {
	for _, i := range []int{0, 7, 99999, 123456} {
		got, ok := exportIndex(benchNamespace, exportName(i))
		if !ok || got != i {
			t.Errorf("exportIndex(exportName(%d)) = %d, %v", i, got, ok)
		}
	}
	if _, ok := exportIndex("other", exportName(1)); ok {
		t.Error("exportIndex accepted a foreign namespace")
	}
}

// TestSummarize checks the arithmetic on a hand-made run: two watchers,
// three exports in one burst acknowledged at t=100.
func TestSummarize(t *testing.T) {
	r := newRecorder(2, 3)
	w := writes{sent: []int64{50, 50, 50}, ack: []int64{100, 100, 100}, bursts: []time.Duration{50}}
	// export 0 reaches both watchers before the ack (clamped to 0);
	// export 1 reaches the last watcher 30 after it; export 2, 10 after.
	r.saw(0, 0, 80)
	r.saw(1, 0, 90)
	r.saw(0, 1, 95)
	r.saw(1, 1, 130)
	r.saw(0, 2, 110)
	r.saw(1, 2, 105)
	res, err := summarize(r, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.clamped != 1 {
		t.Errorf("clamped = %d, want 1", res.clamped)
	}
	if res.fromAck.max != 30 || res.fromAck.p50 != 10 {
		t.Errorf("fromAck = %+v, want p50 10 and max 30", res.fromAck)
	}
	if res.fromSent.max != 80 {
		t.Errorf("fromSent.max = %v, want 80", res.fromSent.max)
	}
	if res.spread.max != 35 {
		t.Errorf("spread.max = %v, want 35", res.spread.max)
	}
	if res.tail != 30 {
		t.Errorf("tail = %v, want 30", res.tail)
	}

	r2 := newRecorder(1, 1)
	if _, err := summarize(r2, writes{sent: []int64{1}, ack: []int64{2}}); err == nil {
		t.Error("summarize accepted an export no watcher saw")
	}
}
