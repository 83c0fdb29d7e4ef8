package main

import (
	"slices"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
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
	d.p50 = benchkit.Percentile(samples, 50)
	d.p99 = benchkit.Percentile(samples, 99)
	d.p999 = benchkit.Percentile(samples, 99.9)
	d.max = samples[len(samples)-1]
	return d
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
