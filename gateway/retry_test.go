package gateway

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// TestRetryBudget: at a steady rate, retries are capped near
// BudgetPercent of the recent requests plus MinPerSecond; a quiet gateway
// banks only its per-second allowance.
func TestRetryBudget(t *testing.T) {
	cfg := RetryConfig{}
	cfg.setDefaults()
	b := newRetryBudget(cfg)
	t0 := time.Unix(1_000_000, 0)
	// 100 requests/s for 30 s: deposits settle at ~20% of 10 s = 200.
	now := t0
	for i := range 3000 {
		now = t0.Add(time.Duration(i) * 10 * time.Millisecond)
		b.request(now)
	}
	allowed := 0
	for b.retry(now) {
		allowed++
		if allowed > 10_000 {
			t.Fatal("budget never runs out")
		}
	}
	// 200 from deposits plus the capped per-second tokens (at most 110).
	if allowed < 190 || allowed > 320 {
		t.Fatalf("allowed %d retries after 30 s at 100 req/s, want about 200-310", allowed)
	}
	// After the budget is spent, 1 s of quiet earns MinPerSecond (10).
	later := now.Add(time.Second)
	n := 0
	for b.retry(later) {
		n++
	}
	if math.Abs(float64(n-cfg.MinPerSecond)) > 1 {
		t.Fatalf("after 1 s quiet: %d retries, want about %d", n, cfg.MinPerSecond)
	}
}

func TestIdempotentAndRetryableStatus(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "PUT": true, "DELETE": true, "OPTIONS": true, "POST": false, "PATCH": false} {
		if idempotent(m) != want {
			t.Errorf("idempotent(%s) = %v", m, !want)
		}
	}
	g := &Gateway{cfg: &Config{}}
	g.cfg.Retry.setDefaults()
	if !g.retryableStatus(http.StatusServiceUnavailable) || g.retryableStatus(http.StatusInternalServerError) {
		t.Error("default on_status is [503]")
	}
}
