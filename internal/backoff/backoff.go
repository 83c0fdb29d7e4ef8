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

// Exponential doubles its delay from Min up to Max. The zero value is not
// usable; set Min and Max. It is not safe for concurrent use.
type Exponential struct {
	Min, Max time.Duration
	next     time.Duration
}

// Wait sleeps for the current delay and doubles it; it reports false when
// ctx is done first.
func (e *Exponential) Wait(ctx context.Context) bool {
	if e.next < e.Min {
		e.next = e.Min
	}
	d := e.next
	e.next = min(e.next*2, e.Max)
	return Sleep(ctx, d)
}

// Reset starts again from Min (after a success).
func (e *Exponential) Reset() { e.next = e.Min }
