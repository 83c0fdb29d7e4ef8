package main

import (
	"testing"
	"time"

	"github.com/meshfed/meshfed/test/failover"
)

func TestReplaceSection(t *testing.T) {
	const sec = sectionHeading + "\n\nnew\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"absent: appended", "# B\n\n## Other\n\nx\n", "# B\n\n## Other\n\nx\n\n" + sec},
		{"last: replaced to the end", "# B\n\n" + sectionHeading + "\n\nold\nold\n", "# B\n\n" + sec},
		{"middle: others kept", "# B\n\n" + sectionHeading + "\n\nold\n\n## Next\n\ny\n", "# B\n\n" + sec + "\n## Next\n\ny\n"},
		{"first line", sectionHeading + "\n\nold\n## Next\n", sec + "\n## Next\n"},
		{"a longer heading is another section", "# B\n\n" + sectionHeading + " (old)\n\nz\n", "# B\n\n" + sectionHeading + " (old)\n\nz\n\n" + sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replaceSection(tc.doc, sec); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

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
