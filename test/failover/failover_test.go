package failover_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/internal/etcdtest"
	"github.com/meshfed/meshfed/test/bench/benchkit"
	"github.com/meshfed/meshfed/test/failover"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// Targets from the issue.
const (
	killMoved      = time.Second      // SIGKILL: traffic on the next priority within
	stopMoved      = 2 * time.Second  // SIGSTOP: traffic moved within
	stopFailed     = 0.001            // SIGSTOP: failed requests under this share
	contBack       = 10 * time.Second // SIGCONT: traffic back within
	drainPeriod    = 4 * time.Second
	undrainBack    = 2 * time.Second // undrain: traffic back within (no slow start: the cluster was healthy)
	policyApplied  = 2 * time.Second // policy: traffic on the ordered target within
	minGradualTime = time.Second     // SIGCONT and drain: both clusters serve for at least this long
	maxTrickle     = 0.05            // share a failed cluster may get back before its health is known
)

// TestFailover runs the scenarios in order on one environment: each
// starts from c0 sending all traffic to near, injects a fault with
// traffic flowing, and restores.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes and runs traffic for about a minute")
	}
	dir := t.TempDir()
	if d := os.Getenv("FAILOVER_DIR"); d != "" {
		dir = d
	}
	// The build is not part of the scenarios' time budget: on a cold
	// cache, or next to other packages' builds, it can take minutes.
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 15*time.Minute)
	bin, err := failover.Build(buildCtx, dir)
	cancelBuild()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// 1. Start: control plane, three clusters, a gateway process each.
	env, err := failover.Start(ctx, failover.Options{Dir: dir, Bin: bin, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load average at the start: %s", benchkit.LoadAvg())
	t.Cleanup(func() {
		t.Logf("load average at the end: %s", benchkit.LoadAvg())
		if t.Failed() {
			t.Logf("c0's /debug/routes:\n%s\n%s", env.RoutesText(context.Background()), env.Logs(40))
		}
		if err := env.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	report := func(t *testing.T, r failover.Result) {
		t.Helper()
		t.Log(r.Summary())
		t.Logf("share per 500ms window, by send time:\n%s", r.WindowTable())
		for _, ex := range r.FailedExamples {
			t.Logf("failed: %s", ex)
		}
	}

	t.Run("1_sigkill", func(t *testing.T) {
		kill, restart, err := env.Kill(ctx)
		if err != nil {
			t.Fatal(err)
		}
		report(t, kill)
		report(t, restart)
		if kill.Failed != 0 {
			t.Errorf("SIGKILL: %d of %d idempotent requests failed, want 0", kill.Failed, kill.Sent)
		}
		if kill.Settled == failover.Never || kill.Settled > killMoved {
			t.Errorf("SIGKILL: requests settled on far %s after the kill, want within %v", failover.FormatDuration(kill.Settled), killMoved)
		}
		// Outlier detection moves the traffic; should its ejection end
		// before a probe has failed, near's slow start lets a trickle
		// through (retried on far) until the probe fails.
		if kill.TableFirst == failover.Never || kill.TableFirst > killMoved || kill.AwayAfter > maxTrickle {
			t.Errorf("SIGKILL: c0's table gave far all traffic %s after the kill and near at most %.1f%% since, want within %v and at most %.0f%%",
				failover.FormatDuration(kill.TableFirst), 100*kill.AwayAfter, killMoved, 100*maxTrickle)
		}
		if restart.Failed != 0 {
			t.Errorf("restart: %d of %d requests failed, want 0", restart.Failed, restart.Sent)
		}
	})

	var cont failover.Result
	t.Run("2_sigstop", func(t *testing.T) {
		var stop failover.Result
		var err error
		stop, cont, err = env.StopCont(ctx)
		if err != nil {
			t.Fatal(err)
		}
		report(t, stop)
		if stop.Settled == failover.Never || stop.Settled > stopMoved {
			t.Errorf("SIGSTOP: requests settled on far %s after the stop, want within %v", failover.FormatDuration(stop.Settled), stopMoved)
		}
		if stop.TableFirst == failover.Never || stop.TableFirst > stopMoved || stop.AwayAfter > maxTrickle {
			t.Errorf("SIGSTOP: c0's table gave far all traffic %s after the stop and near at most %.1f%% since, want within %v and at most %.0f%%",
				failover.FormatDuration(stop.TableFirst), 100*stop.AwayAfter, stopMoved, 100*maxTrickle)
		}
		if stop.FailedRatio() >= stopFailed {
			t.Errorf("SIGSTOP: %d of %d requests failed (%.2f%%), want under %.1f%%", stop.Failed, stop.Sent, 100*stop.FailedRatio(), 100*stopFailed)
		}
	})

	t.Run("3_sigcont", func(t *testing.T) {
		if cont.Run == nil {
			t.Skip("scenario 2 did not run")
		}
		report(t, cont)
		if cont.Settled == failover.Never || cont.Settled > contBack {
			t.Errorf("SIGCONT: requests settled back on near %s after SIGCONT, want within %v", failover.FormatDuration(cont.Settled), contBack)
		}
		if cont.Mixed < minGradualTime {
			t.Errorf("SIGCONT: near and far both served for %v of 500ms windows, want at least %v (a gradual return)", cont.Mixed, minGradualTime)
		}
		if cont.Failed != 0 {
			t.Errorf("SIGCONT: %d of %d requests failed, want 0", cont.Failed, cont.Sent)
		}
	})

	t.Run("4_drain", func(t *testing.T) {
		drain, undrain, err := env.Drain(ctx, drainPeriod)
		if err != nil {
			t.Fatal(err)
		}
		report(t, drain)
		report(t, undrain)
		if drain.Failed+undrain.Failed != 0 {
			t.Errorf("drain: %d requests failed, want 0", drain.Failed+undrain.Failed)
		}
		// Traffic leaves linearly over the period: not at once, and all of
		// it by the end (plus propagation).
		if drain.Settled == failover.Never || drain.Settled > drainPeriod+500*time.Millisecond || drain.Settled < drainPeriod/2 {
			t.Errorf("drain: requests settled on far %s after the drain, want between %v and %v", failover.FormatDuration(drain.Settled), drainPeriod/2, drainPeriod+500*time.Millisecond)
		}
		if drain.Mixed < minGradualTime {
			t.Errorf("drain: near and far both served for %v of 500ms windows, want at least %v (a gradual drain)", drain.Mixed, minGradualTime)
		}
		if undrain.Settled == failover.Never || undrain.Settled > undrainBack {
			t.Errorf("undrain: requests settled back on near %s after DeleteDrain, want within %v", failover.FormatDuration(undrain.Settled), undrainBack)
		}
	})

	t.Run("5_policy_order", func(t *testing.T) {
		r, err := env.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		report(t, r)
		if r.Failed != 0 {
			t.Errorf("policy: %d requests failed, want 0", r.Failed)
		}
		if !r.HealthyThroughout(failover.Near) {
			t.Errorf("policy: near was not healthy throughout, so the scenario does not show the order beating locality")
		}
		if r.Settled == failover.Never || r.Settled > policyApplied {
			t.Errorf("policy: requests settled on far (the policy's first target) %s after PutPolicy, want within %v", failover.FormatDuration(r.Settled), policyApplied)
		}
	})
}
