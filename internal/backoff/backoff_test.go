package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/backoff"
)

func TestSleepStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if backoff.Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported the full time")
	}
	if !backoff.Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep of 1ms did not complete")
	}
}

func TestExponentialDoublesUpToMax(t *testing.T) {
	t.Parallel()
	e := &backoff.Exponential{Min: time.Millisecond, Max: 4 * time.Millisecond}
	var got []time.Duration
	for range 4 {
		start := time.Now()
		e.Wait(context.Background())
		got = append(got, time.Since(start))
	}
	// Delays are 1, 2, 4, 4 ms; each wait lasts at least its delay.
	for i, min := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond} {
		if got[i] < min {
			t.Fatalf("wait %d took %v, want at least %v", i, got[i], min)
		}
	}
	e.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e.Wait(ctx) {
		t.Fatal("Wait on a cancelled context reported the full time")
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for n, want := range map[int]time.Duration{1: ms, 2: 2 * ms, 3: 4 * ms, 4: 5 * ms, 60: 5 * ms} {
		if got := backoff.Delay(ms, 5*ms, n); got != want {
			t.Errorf("Delay(1ms, 5ms, %d) = %v, want %v", n, got, want)
		}
	}
}
