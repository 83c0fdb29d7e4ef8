package benchkit

import (
	"math"
	"time"
)

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// samples: the smallest value that at least p% of the samples do not
// exceed. p <= 0 gives the minimum; no samples give 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001)
	// from moving the rank up by one.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
