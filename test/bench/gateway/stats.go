package main

import (
	"math"
	"slices"
	"time"
)

// dist summarizes latency samples.
type dist struct {
	n                   int
	p50, p99, p999, max time.Duration
	mean                time.Duration
}

// summarize sorts samples in place and summarizes them.
func summarize(samples []time.Duration) dist {
	slices.Sort(samples)
	d := dist{n: len(samples)}
	if len(samples) == 0 {
		return d
	}
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	d.mean = sum / time.Duration(len(samples))
	d.p50 = percentile(samples, 50)
	d.p99 = percentile(samples, 99)
	d.p999 = percentile(samples, 99.9)
	d.max = samples[len(samples)-1]
	return d
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// samples: the smallest value that at least p% of the samples do not
// exceed. p <= 0 gives the minimum; no samples give 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001)
	// from moving the rank up by one.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// median of values (the mean of the middle two for an even count); 0 for
// none. values is not modified.
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	v := slices.Clone(values)
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// rotate returns the paths in round r's order: every path goes first in
// some round, so drifting machine noise hits all of them alike.
func rotate[T any](items []T, r int) []T {
	if len(items) == 0 {
		return nil
	}
	k := r % len(items)
	return append(slices.Clone(items[k:]), items[:k]...)
}
