// Package backoff waits between retries: a context-aware sleep and an
// exponential back-off bounded by a minimum and a maximum.
package backoff

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx is done; it reports whether the full
// time passed (false means: stop, ctx is done).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Delay is the n-th delay (n >= 1) of an exponential back-off that starts
// at min and doubles up to max: min, 2*min, 4*min, ... max.
func Delay(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		return max
	}
	return d
}

// Exponential doubles its delay from Min up to Max. The zero value is not
// usable; set Min and Max. It is not safe for concurrent use.
type Exponential struct {
	Min, Max time.Duration
	n        int // waits since the last Reset
}

// Wait sleeps for the current delay and doubles it; it reports false when
// ctx is done first.
func (e *Exponential) Wait(ctx context.Context) bool {
	e.n++
	return Sleep(ctx, Delay(e.Min, e.Max, e.n))
}

// Reset starts again from Min (after a success).
func (e *Exponential) Reset() { e.n = 0 }
