package drill_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/drill"
	"github.com/meshfed/meshfed/internal/up"
)

// The bounds.
const (
	killFailover      = time.Second
	blackholeFailover = 2 * time.Second
	// The drain drill's period.
	drainPeriod = 3 * time.Second
)

// TestDrills runs one federation through every fault kind. The scope is
// east-b; the client is east, whose own copy of echo.demo is drained
// first so that its traffic goes to east-b (same region), and fails over
// to west (the only other cluster) when east-b breaks.
func TestDrills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a meshfed up federation and five drills (about 90 s)")
	}
	// 1. Start the federation; stop it whatever happens.
	dir := filepath.Join(t.TempDir(), "fed")
	base := freeRange(t, up.DefaultClusters)
	if r := meshfed(t, "up", "--detach", "--dir", dir, "--base-port", strconv.Itoa(base)); r.code != 0 {
		meshfed(t, "down", "--dir", dir)
		t.Fatalf("meshfed up: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	t.Cleanup(func() {
		if r := meshfed(t, "down", "--dir", dir); r.code != 0 {
			t.Errorf("meshfed down: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
	})
	st, err := up.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &fed{dir: dir, st: st}
	config := []string{"--config", st.Config}
	eastProxy := f.cluster(t, "east").ForwardProxy

	// 2. East's clients reach east-b: drain east's own copy.
	if r := meshfed(t, append(config, "cluster", "drain", "east", "--service", "demo/echo")...); r.code != 0 {
		t.Fatalf("drain east's echo: %d %s%s", r.code, r.out, r.errOut)
	}
	f.waitShare(t, "east", "east-b")

	// common are the flags every drill below shares.
	common := []string{"--dir", dir, "--scope", "cluster=east-b", "--from", "east", "--rate", "100", "--warmup", "2s"}
	var ids []string

	// runDrill runs a drill with the test's own traffic alongside, and
	// checks the report against that traffic and east's gateway metrics.
	runDrill := func(t *testing.T, wantCode int, args ...string) (*drill.Report, []probeRec) {
		t.Helper()
		f.waitShare(t, "east", "east-b")
		out := filepath.Join(t.TempDir(), "report")
		before := f.outbound(t, "east")
		p := startProbe(t, eastProxy)
		r := meshfed(t, append(append(append([]string{"drill", "run"}, common...), "--out", out), args...)...)
		recs := p.finish()
		after := f.outbound(t, "east")
		t.Logf("meshfed drill run %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.errOut)
		if r.code != wantCode {
			t.Fatalf("exit %d, want %d", r.code, wantCode)
		}
		rep := readReport(t, filepath.Join(out, "report.json"))
		for _, name := range []string{"report.md", "chart.png"} {
			if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: %v", name, err)
			}
		}
		ids = append(ids, rep.ID)
		// The gateway counted every HTTP request of the drill's and ours,
		// each on the cluster that served it. (gRPC crosses in CONNECT
		// tunnels, counted per tunnel.)
		own := map[string]int{}
		for _, rec := range recs {
			own[rec.cluster]++
		}
		var drillHTTP drill.ClientCounts
		for _, c := range rep.Clients {
			if c.Client == "east" && c.Protocol == "http" {
				drillHTTP = c
			}
		}
		total := 0
		for c, n := range after {
			delta := n - before[c]
			total += delta
			if c == "" {
				continue
			}
			if want := drillHTTP.Served[c] + own[c]; delta != want {
				t.Errorf("east's gateway counted %d HTTP requests served by %s; the drill saw %d and the probe %d", delta, c, drillHTTP.Served[c], own[c])
			}
		}
		if want := drillHTTP.Requests + len(recs); total != want {
			t.Errorf("east's gateway counted %d HTTP requests; the drill sent %d and the probe %d", total, drillHTTP.Requests, len(recs))
		}
		// Open loop at 100/s per protocol for the drill's length.
		if want := 100 * float64(len(rep.Protocols)) * rep.Phases.EndedMS / 1000; float64(rep.TotalRequests) < 0.95*want || float64(rep.TotalRequests) > 1.02*want+2 {
			t.Errorf("%d requests in %.1f s at 100/s per protocol (%v)", rep.TotalRequests, rep.Phases.EndedMS/1000, rep.Protocols)
		}
		if rep.BaselineScopeShare < 0.99 {
			t.Errorf("baseline: east-b served %.1f%% of the warmup, want all", 100*rep.BaselineScopeShare)
		}
		if faults := f.faults(t, "east-b"); len(faults) != 0 {
			t.Errorf("faults left on east-b: %+v", faults)
		}
		return rep, recs
	}

	// 3. A dry run changes nothing: no drain, no fault, no process.
	t.Run("3_dry_run", func(t *testing.T) {
		drains := meshfed(t, append(config, "cluster", "drains", "-o", "json")...)
		upJSON, _ := os.ReadFile(filepath.Join(dir, up.StateFile))
		for _, args := range [][]string{
			{"--fault", "kill"},
			{"--fault", "blackhole"},
			{"--fault", "drain", "--period", "10s"},
			{"--fault", "trust-expiry"},
		} {
			r := meshfed(t, append(append([]string{"drill", "run", "--dry-run"}, common...), args...)...)
			if r.code != 0 {
				t.Fatalf("dry run %v: exit %d\n%s%s", args, r.code, r.out, r.errOut)
			}
			if !strings.Contains(r.out, "dry run: nothing was changed") || !strings.Contains(r.out, "east-b 100%") {
				t.Errorf("dry run %v:\n%s", args, r.out)
			}
		}
		r := meshfed(t, append(append([]string{"drill", "run", "--dry-run", "-o", "json"}, common...), "--fault", "kill")...)
		var b drill.BlastRadius
		if err := json.Unmarshal([]byte(r.out), &b); err != nil {
			t.Fatalf("dry run -o json: %v\n%s", err, r.out)
		}
		found := false
		for _, rc := range b.Routes {
			if rc.Service == "echo.demo" && rc.From == "east" {
				found = true
				if rc.Now["east-b"] != 1 || rc.WithFault["west"] != 1 || !rc.Affected {
					t.Errorf("echo.demo from east: now %v, with the fault %v", rc.Now, rc.WithFault)
				}
			}
		}
		if !found || !slices.Contains(b.AffectedClients, "east") || !slices.Contains(b.AffectedServices, "echo.demo") {
			t.Errorf("blast radius: %+v", b)
		}
		if after := meshfed(t, append(config, "cluster", "drains", "-o", "json")...); after.out != drains.out {
			t.Errorf("drains changed:\n%s\nthen\n%s", drains.out, after.out)
		}
		for _, c := range []string{"east", "east-b", "west"} {
			if fs := f.faults(t, c); len(fs) != 0 {
				t.Errorf("a dry run left faults on %s: %+v", c, fs)
			}
		}
		if after, _ := os.ReadFile(filepath.Join(dir, up.StateFile)); !reflect.DeepEqual(upJSON, after) {
			t.Errorf("a dry run changed up.json")
		}
		if r := meshfed(t, append(config, "drill", "list", "-o", "json")...); strings.Contains(r.out, `"id"`) {
			t.Errorf("a dry run stored a report:\n%s", r.out)
		}
	})

	// 4. A malformed drill file is refused, naming the field and line.
	t.Run("4_malformed_file", func(t *testing.T) {
		for doc, want := range map[string]string{
			"fault: {kind: kill}\nscope: {cluster: east-b}\ntraffic:\n  rat: 10\n": "bad.yaml:4: traffic.rat: unknown field",
			"fault: {kind: meteor}\nscope: {cluster: east-b}\n":                    `bad.yaml:1: fault.kind: "meteor" is not a fault`,
			"fault: {kind: kill}\nscope: {cluster: east-b}\nduration: soon\n":      "bad.yaml:3: duration:",
			"fault: {kind: kill}\nscope: {cluster: mars}\n":                        `bad.yaml:2: scope.cluster: cluster "mars" is not registered`,
		} {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			os.WriteFile(path, []byte(doc), 0o600)
			r := meshfed(t, "drill", "run", path, "--dir", dir)
			if r.code != 2 || !strings.Contains(r.errOut, want) {
				t.Errorf("drill file %q: exit %d, stderr %q; want exit 2 naming %q", doc, r.code, r.errOut, want)
			}
		}
	})

	// 5. kill, HTTP and gRPC: no idempotent request fails, traffic moves
	// within 1 s.
	t.Run("5_kill", func(t *testing.T) {
		oldPID := f.cluster(t, "east-b").GatewayPID
		rep, recs := runDrill(t, 0, "--fault", "kill", "--protocols", "http,grpc", "--duration", "5s", "--restore", "8s", "--max-error-rate", "0")
		if rep.Verdict != "pass" || rep.FailedRequests != 0 {
			t.Errorf("verdict %s, %d of %d requests failed", rep.Verdict, rep.FailedRequests, rep.TotalRequests)
		}
		for _, c := range rep.Clients {
			if c.Failed != 0 || c.Served["west"] == 0 {
				t.Errorf("%s from %s: %d failed, served %v; want none failed and west serving", c.Protocol, c.Client, c.Failed, c.Served)
			}
		}
		checkFailover(t, rep, recs, killFailover, 500*time.Millisecond)
		for _, r := range recs {
			if r.err != "" {
				t.Errorf("probe request at %s failed: %s", r.sent.Format("15:04:05.000"), r.err)
			}
		}
		// The gateway runs again, recorded for meshfed down.
		st, err := up.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if pid := st.Cluster("east-b").GatewayPID; pid == oldPID || !up.Owned(pid, dir) {
			t.Errorf("east-b's gateway pid %d (was %d) is not a running gateway of %s", pid, oldPID, dir)
		}
		f.st = st
	})

	// 6. blackhole: traffic moves within 2 s.
	t.Run("6_blackhole", func(t *testing.T) {
		rep, recs := runDrill(t, 0, "--fault", "blackhole", "--duration", "5s", "--restore", "9s")
		if rep.Verdict != "pass" || rep.FailedRequests != 0 {
			t.Errorf("verdict %s, %d of %d requests failed", rep.Verdict, rep.FailedRequests, rep.TotalRequests)
		}
		checkFailover(t, rep, recs, blackholeFailover, time.Second)
	})

	// 7. drain over 3 s: the share leaves gradually, then entirely.
	t.Run("7_drain", func(t *testing.T) {
		rep, recs := runDrill(t, 0, "--fault", "drain", "--period", drainPeriod.String(), "--duration", "6s", "--restore", "3s")
		if rep.FailedRequests != 0 || rep.TimeToFailoverMS == nil {
			t.Fatalf("failed %d, time to fail over %v", rep.FailedRequests, rep.TimeToFailoverMS)
		}
		// 99% moved about when the period ends (the gateways recompute
		// the table every second), not at once.
		if got := time.Duration(*rep.TimeToFailoverMS * float64(time.Millisecond)); got < drainPeriod-time.Second || got > drainPeriod+1500*time.Millisecond {
			t.Errorf("99%% moved after %s, want about the %s period", got, drainPeriod)
		}
		inj := at(rep, rep.Phases.InjectedMS)
		mid, late := 0, 0
		for _, r := range recs {
			d := r.sent.Sub(inj)
			switch {
			case d > 500*time.Millisecond && d < drainPeriod-500*time.Millisecond && r.cluster == "east-b":
				mid++
			case d > drainPeriod+1500*time.Millisecond && r.sent.Before(at(rep, rep.Phases.RolledBackMS)) && r.cluster == "east-b":
				late++
			}
		}
		if mid == 0 || late != 0 {
			t.Errorf("probe: %d requests served by east-b during the drain period (want some), %d after it (want none)", mid, late)
		}
		gradual := false
		for _, p := range rep.Series {
			if s := p.Share["east-b"]; p.T*1000 > rep.Phases.InjectedMS && s > 0.1 && s < 0.9 {
				gradual = true
			}
		}
		if !gradual {
			t.Errorf("no second of the drain had east-b between 10%% and 90%%: %+v", rep.Series)
		}
		if rep.TimeToFailbackMS == nil || *rep.TimeToFailbackMS > 2000 {
			t.Errorf("time to fail back %s after the undrain", fmtMS(rep.TimeToFailbackMS))
		}
		if r := meshfed(t, append(config, "cluster", "drains", "-o", "json")...); strings.Contains(r.out, `"east-b"`) {
			t.Errorf("the drain of east-b is still there:\n%s", r.out)
		}
	})

	// 8. latency: the p99 gate trips, the fault is rolled back at once,
	// and the exit status says the drill failed.
	t.Run("8_latency", func(t *testing.T) {
		rep, recs := runDrill(t, 1, "--fault", "latency", "--latency", "300ms", "--max-p99", "150ms", "--duration", "20s", "--restore", "2s")
		if rep.Verdict != "fail" || !rep.RolledBack || rep.RollbackReason != "gate max_p99 breached" {
			t.Errorf("verdict %s, rolled back %v (%s)", rep.Verdict, rep.RolledBack, rep.RollbackReason)
		}
		if len(rep.Gates) != 1 || rep.Gates[0].Name != "max_p99" || rep.Gates[0].Passed || rep.Gates[0].Observed < 300 {
			t.Errorf("gates %+v", rep.Gates)
		}
		if held := rep.Phases.RolledBackMS - rep.Phases.InjectedMS; held > 2500 {
			t.Errorf("the fault was held %.0f ms after the gate's limit was crossed, want a rollback within 2.5 s", held)
		}
		// The probe saw the added latency, and no more after the rollback.
		slow, after := 0, 0
		inj, rb := at(rep, rep.Phases.InjectedMS), at(rep, rep.Phases.RestoredMS)
		for _, r := range recs {
			switch {
			case r.sent.After(inj.Add(100*time.Millisecond)) && r.sent.Before(rb) && r.latency >= 300*time.Millisecond:
				slow++
			case r.sent.After(rb.Add(200*time.Millisecond)) && r.latency >= 300*time.Millisecond:
				after++
			}
		}
		if slow == 0 || after != 0 {
			t.Errorf("probe: %d requests slower than 300 ms during the fault (want some), %d after it (want none)", slow, after)
		}
	})

	// 9. trust-expiry, with -o json: east-b refuses its peers, so
	// traffic moves; the report is the document on stdout.
	t.Run("9_trust_expiry", func(t *testing.T) {
		f.waitShare(t, "east", "east-b")
		r := meshfed(t, append(append([]string{"drill", "run", "-o", "json"}, common...), "--fault", "trust-expiry", "--duration", "4s", "--restore", "3s", "--out", t.TempDir())...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
		}
		var rep drill.Report
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			t.Fatalf("stdout is not the JSON report: %v\n%s", err, r.out)
		}
		ids = append(ids, rep.ID)
		if !strings.Contains(r.errOut, "warmup") {
			t.Errorf("progress lines are not on stderr:\n%s", r.errOut)
		}
		if rep.FailedRequests != 0 || rep.TimeToFailoverMS == nil || *rep.TimeToFailoverMS > float64(blackholeFailover/time.Millisecond) {
			t.Errorf("failed %d, time to fail over %s", rep.FailedRequests, fmtMS(rep.TimeToFailoverMS))
		}
	})

	// 10. The control plane kept every report.
	t.Run("10_list_show", func(t *testing.T) {
		r := meshfed(t, append(config, "drill", "list", "-o", "json")...)
		for _, id := range ids {
			if !strings.Contains(r.out, `"`+id+`"`) {
				t.Errorf("drill list lacks %s:\n%s", id, r.out)
			}
		}
		if len(ids) == 0 {
			return
		}
		r = meshfed(t, append(config, "drill", "show", ids[0], "-o", "json")...)
		var rep drill.Report
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil || rep.ID != ids[0] || rep.Fault != "kill" {
			t.Errorf("drill show %s: %v\n%s%s", ids[0], err, r.out, r.errOut)
		}
	})
}

// checkFailover checks the report's failover times against the bound,
// and the probe's own view of when traffic left east-b.
func checkFailover(t *testing.T, rep *drill.Report, recs []probeRec, bound, slow time.Duration) {
	t.Helper()
	if rep.TimeToFailoverMS == nil || *rep.TimeToFailoverMS > float64(bound/time.Millisecond) {
		t.Errorf("report: 99%% of traffic moved after %s, want within %s", fmtMS(rep.TimeToFailoverMS), bound)
	}
	if rep.TimeToFailoverFirstMS == nil || rep.TimeToDetectMS == nil {
		t.Errorf("report: first failover %s, detect %s", fmtMS(rep.TimeToFailoverFirstMS), fmtMS(rep.TimeToDetectMS))
	}
	got, ok := settled(recs, "east-b", slow, at(rep, rep.Phases.InjectedMS), at(rep, rep.Phases.RolledBackMS))
	if !ok || got > bound {
		t.Errorf("probe: traffic left east-b for good %s after the fault (ok %v), want within %s", got, ok, bound)
	}
	t.Logf("moved: report first %s, 99%% %s, detect %s; probe %s", fmtMS(rep.TimeToFailoverFirstMS), fmtMS(rep.TimeToFailoverMS), fmtMS(rep.TimeToDetectMS), got)
}

func fmtMS(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return (time.Duration(*v * float64(time.Millisecond))).String()
}
