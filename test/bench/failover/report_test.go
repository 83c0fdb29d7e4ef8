package main

import (
	"testing"
	"time"

	"github.com/meshfed/meshfed/test/failover"
)

func TestStatsSortsNeverLast(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		in         []time.Duration
		p50, worst time.Duration
	}{
		{[]time.Duration{3 * s, s, 2 * s}, 2 * s, 3 * s},
		{[]time.Duration{failover.Never, s, 2 * s}, 2 * s, failover.Never},
		{[]time.Duration{s}, s, s},
		{[]time.Duration{s, 2 * s}, s, 2 * s},
	} {
		p50, worst := stats(tc.in)
		if p50 != tc.p50 || worst != tc.worst {
			t.Errorf("stats(%v) = %v, %v; want %v, %v", tc.in, p50, worst, tc.p50, tc.worst)
		}
	}
}

func TestPickLine(t *testing.T) {
	m := pickLine.FindStringSubmatch("BenchmarkPick/targets=200-2         	29920380	        38.77 ns/op	       0 B/op	       0 allocs/op")
	if m == nil || m[1] != "200" || m[2] != "29920380" || m[3] != "38.77" || m[4] != "0" || m[5] != "0" {
		t.Fatalf("parsed %q", m)
	}
}
