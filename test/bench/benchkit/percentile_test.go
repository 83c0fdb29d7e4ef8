package benchkit_test

import (
	"testing"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	upTo := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i+1) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples", nil, 99, 0},
		{"one value", ms(7), 99.9, 7 * time.Millisecond},
		{"p50 of 1..100", upTo(100), 50, 50 * time.Millisecond},
		{"p99 of 1..100", upTo(100), 99, 99 * time.Millisecond},
		{"p100 of 1..100 is max", upTo(100), 100, 100 * time.Millisecond},
		{"p50 of 1..1000", upTo(1000), 50, 500 * time.Millisecond},
		{"p99 of 1..1000", upTo(1000), 99, 990 * time.Millisecond},
		{"p99.9 of 1..1000", upTo(1000), 99.9, 999 * time.Millisecond},
		{"p100 of 1..1000 is max", upTo(1000), 100, 1000 * time.Millisecond},
		{"p99 of 10 is max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p0 is min", ms(1, 2, 3), 0, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := benchkit.Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

// TestPercentileIntegerRanks checks that, for whole percentiles, the
// float rank is the exact ceil(p*n/100) the propagation benchmark used.
func TestPercentileIntegerRanks(t *testing.T) {
	for n := 1; n <= 2000; n++ {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		for p := 0; p <= 100; p++ {
			want := s[max((p*n+99)/100, 1)-1]
			if got := benchkit.Percentile(s, float64(p)); got != want {
				t.Fatalf("Percentile(1..%d, p%d) = %v, want %v", n, p, got, want)
			}
		}
	}
}
