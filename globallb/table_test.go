package globallb

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/schema"
)

var (
	here     = Locality{Provider: "aws", Region: "r1", Zone: "z1"}
	sameReg  = Locality{Provider: "aws", Region: "r1", Zone: "z2"}
	otherReg = Locality{Provider: "aws", Region: "r2", Zone: "z9"}
	otherPrv = Locality{Provider: "gcp", Region: "r9", Zone: "z9"}
)

func tg(name string, loc Locality, ready uint32, alive bool) Target {
	return Target{Cluster: name, Locality: loc, Ready: ready, Alive: alive}
}

// shares returns cluster -> share, rounded to 0.1%.
func shares(t *Table) map[string]float64 {
	out := map[string]float64{}
	for _, r := range t.Rows {
		if r.Share > 0 {
			out[r.Cluster] = math.Round(r.Share*1000) / 10
		}
	}
	return out
}

func wantShares(t *testing.T, name string, tb *Table, want map[string]float64) {
	t.Helper()
	got := shares(tb)
	if len(got) != len(want) {
		t.Fatalf("%s: shares %v, want %v\n%s", name, got, want, Explain(tb))
	}
	for c, w := range want {
		if math.Abs(got[c]-w) > 0.05 {
			t.Fatalf("%s: shares %v, want %v\n%s", name, got, want, Explain(tb))
		}
	}
}

// TestWorkedExamples are the worked examples: priority spill-over
// with the 1.4 factor, normalization, panic, weights with failover, and
// drain steps.
func TestWorkedExamples(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	cases := []struct {
		name string
		in   Input
		want map[string]float64
	}{
		{"all healthy: nearest priority takes everything", Input{Targets: []Target{
			tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)}},
			map[string]float64{"a": 50, "b": 50}},
		{"80% healthy x 1.4 >= 100%: no spill", Input{Targets: []Target{
			tg("a", sameReg, 8, true), tg("b", sameReg, 2, false), tg("c", otherPrv, 10, true)}},
			map[string]float64{"a": 100}},
		{"50% healthy x 1.4 = 70%: 30% spills to the next priority", Input{Targets: []Target{
			tg("a", sameReg, 10, true), tg("b", sameReg, 10, false), tg("c", otherPrv, 10, true)}},
			map[string]float64{"a": 70, "c": 30}},
		{"dead nearest: all to the next priority", Input{Targets: []Target{
			tg("a", sameReg, 10, false), tg("c", otherReg, 10, true), tg("d", otherPrv, 10, true)}},
			map[string]float64{"c": 100}},
		{"both priorities 20% healthy (28% each): normalized 50/50", Input{Targets: []Target{
			tg("a", sameReg, 2, true), tg("b", sameReg, 8, false), tg("c", otherPrv, 2, true), tg("d", otherPrv, 8, false)}},
			map[string]float64{"a": 50, "c": 50}},
		{"panic: 7% normalized health < 10%: spread by weight over everything allowed", Input{Targets: []Target{
			tg("a", sameReg, 10, false), tg("c", otherPrv, 1, true), tg("d", otherPrv, 19, false)}},
			map[string]float64{"a": 33.3, "c": 3.3, "d": 63.3}},
		{"nothing exports: nothing picked", Input{Targets: []Target{tg("a", sameReg, 0, true)}}, map[string]float64{}},
		{"policy weights 3:1 within a priority", Input{
			Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Policy:  &schema.FailoverPolicy{Weights: map[string]uint32{"a": 3, "b": 1}}},
			map[string]float64{"a": 75, "b": 25}},
		{"weights still apply while failing over: a (weight 3) dead, b keeps 1.4x10/40", Input{
			Targets: []Target{tg("a", sameReg, 10, false), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Policy:  &schema.FailoverPolicy{Weights: map[string]uint32{"a": 3, "b": 1}}},
			map[string]float64{"b": 35, "c": 65}},
		{"policy order beats locality", Input{
			Targets: []Target{tg("a", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Policy:  &schema.FailoverPolicy{Targets: []schema.FailoverTarget{{Region: "r9"}}}},
			map[string]float64{"c": 100}},
		{"policy order: second step when the first is dead", Input{
			Targets: []Target{tg("a", sameReg, 10, true), tg("c", otherPrv, 10, false), tg("d", otherReg, 10, true)},
			Policy:  &schema.FailoverPolicy{Targets: []schema.FailoverTarget{{Cluster: "c"}, {Cluster: "d"}}}},
			map[string]float64{"d": 100}},
		{"never: excluded even when it is the only healthy one, and in panic", Input{
			Targets: []Target{tg("a", sameReg, 10, true), tg("c", otherPrv, 10, false)},
			Policy:  &schema.FailoverPolicy{Never: []string{"a"}}},
			map[string]float64{"c": 100}},
		{"own cluster first", Input{From: "me", Targets: []Target{tg("me", here, 1, true), tg("a", sameReg, 10, true)}},
			map[string]float64{"me": 100}},
		{"probe failing and ejected count as unhealthy", Input{
			Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Health:  map[string]Health{"a": {ProbeFailing: true}, "b": {Ejected: true}}},
			map[string]float64{"c": 100}},
		{"slow start at 50%: half the weight is healthy", Input{
			Targets: []Target{tg("a", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Health:  map[string]Health{"a": {Ramp: 0.5}}},
			map[string]float64{"a": 70, "c": 30}},
		{"drain step 0 of 10 s: unchanged", Input{Now: t0,
			Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Drains:  map[string]Drain{"a": {StartedAt: t0, Period: 10 * time.Second}}},
			map[string]float64{"a": 50, "b": 50}},
		{"drain step 5 of 10 s: a keeps half its weight", Input{Now: t0.Add(5 * time.Second),
			Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Drains:  map[string]Drain{"a": {StartedAt: t0, Period: 10 * time.Second}}},
			map[string]float64{"a": 33.3, "b": 66.7}},
		{"drain step 8 of 10 s: 1.4 x 12/20 = 84% stays in the priority", Input{Now: t0.Add(8 * time.Second),
			Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Drains:  map[string]Drain{"a": {StartedAt: t0, Period: 10 * time.Second}}},
			map[string]float64{"a": 14, "b": 70, "c": 16}},
		{"drained: excluded, b takes its priority alone", Input{Now: t0.Add(10 * time.Second),
			Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Drains:  map[string]Drain{"a": {StartedAt: t0, Period: 10 * time.Second}}},
			map[string]float64{"b": 100}},
		{"drain at once", Input{Now: t0,
			Targets: []Target{tg("a", sameReg, 10, true), tg("c", otherPrv, 10, true)},
			Drains:  map[string]Drain{"a": {StartedAt: t0}}},
			map[string]float64{"c": 100}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.in.From == "" {
				c.in.From = "caller"
			}
			c.in.Local = here
			wantShares(t, c.name, Compute(Config{}, c.in), c.want)
		})
	}
}

func TestCostAwareSplitsAPolicyStep(t *testing.T) {
	in := Input{From: "caller", Local: here,
		Targets: []Target{tg("x", Locality{Provider: "gcp", Region: "r1"}, 10, true), tg("y", Locality{Provider: "aws", Region: "r1"}, 10, true)},
		Policy:  &schema.FailoverPolicy{Targets: []schema.FailoverTarget{{Region: "r1"}}}}
	wantShares(t, "plain", Compute(Config{}, in), map[string]float64{"x": 50, "y": 50})
	wantShares(t, "cost aware", Compute(Config{CostAware: true}, in), map[string]float64{"y": 100})
}

func TestPanicThresholdConfigurable(t *testing.T) {
	in := Input{Local: here, Targets: []Target{tg("a", sameReg, 1, true), tg("b", sameReg, 9, false)}}
	// Health 1.4 x 10% = 14%: above the default threshold, under 0.5.
	wantShares(t, "default", Compute(Config{}, in), map[string]float64{"a": 100})
	wantShares(t, "threshold 0.5", Compute(Config{PanicThreshold: 0.5}, in), map[string]float64{"a": 10, "b": 90})
	tb := Compute(Config{PanicThreshold: -1}, Input{Local: here, Targets: []Target{tg("a", sameReg, 1, false)}})
	if !tb.Panic {
		t.Fatal("no healthy target at all must still panic rather than drop")
	}
}

func TestShiftCap(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	pol := &schema.FailoverPolicy{MaxShiftPerSecond: 0.25}
	b := NewBalancer(Config{}, nil)
	in := Input{From: "caller", Local: here, Policy: pol, Now: t0,
		Targets: []Target{tg("a", sameReg, 10, true), tg("small", otherPrv, 1, true), tg("big", otherPrv, 3, true)}}
	b.Update(in)
	wantShares(t, "before", b.Table(), map[string]float64{"a": 100})
	// a dies: each target may gain 25 points of share per second. What
	// big may not take yet goes to small while small is under its own
	// limit, else stays on a.
	in.Targets[0].Alive = false
	steps := []map[string]float64{
		{"a": 50, "small": 25, "big": 25},
		{"small": 50, "big": 50},
		{"small": 25, "big": 75},
	}
	for i, want := range steps {
		in.Now = in.Now.Add(time.Second)
		tr := b.Update(in)
		wantShares(t, "step", b.Table(), want)
		if tr != (i < 2) {
			t.Fatalf("step %d: transitioning %v", i, tr)
		}
	}
}

func TestWeightedPickerFollowsShares(t *testing.T) {
	tb := Compute(Config{}, Input{Local: here, Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, false), tg("c", otherPrv, 10, true)}})
	src := rand.New(rand.NewPCG(1, 2))
	p := NewWeightedPicker(tb, src.Uint64)
	counts := map[string]int{}
	const n = 100_000
	for range n {
		c, _ := p.Pick(nil)
		counts[c]++
	}
	if math.Abs(float64(counts["a"])/n-0.7) > 0.01 || math.Abs(float64(counts["c"])/n-0.3) > 0.01 || counts["b"] != 0 {
		t.Fatalf("counts %v, want a 70%% c 30%%", counts)
	}
	for range 1000 {
		if c, ok := p.Pick(func(c string) bool { return c == "a" }); !ok || c != "c" {
			t.Fatalf("skip a: %q %v", c, ok)
		}
	}
	if _, ok := p.Pick(func(string) bool { return true }); ok {
		t.Fatal("picked with everything skipped")
	}
}

// A retry that skipped the only cluster with a share goes to the next
// priority's healthy cluster, never to an unhealthy or excluded one.
func TestWeightedPickerRetriesOnNextPriority(t *testing.T) {
	tb := Compute(Config{}, Input{Local: here, Targets: []Target{
		tg("a", sameReg, 10, true), tg("b", otherPrv, 10, false), tg("c", otherPrv, 10, true), tg("d", otherPrv, 10, true),
	}, Policy: &schema.FailoverPolicy{Never: []string{"c"}}})
	p := NewWeightedPicker(tb, rand.New(rand.NewPCG(1, 2)).Uint64)
	if c, ok := p.Pick(nil); !ok || c != "a" {
		t.Fatalf("first pick %q %v, want a (all traffic)", c, ok)
	}
	if c, ok := p.Pick(func(c string) bool { return c == "a" }); !ok || c != "d" {
		t.Fatalf("retry skipping a: %q %v, want d (c is excluded, b unhealthy)", c, ok)
	}
	if c, ok := p.Pick(func(c string) bool { return c == "a" || c == "d" }); ok {
		t.Fatalf("retry skipping a and d: %q, want none", c)
	}
}

func TestExplain(t *testing.T) {
	tb := Compute(Config{}, Input{From: "caller", Local: here, Targets: []Target{tg("a", sameReg, 10, true), tg("b", sameReg, 10, false), tg("c", otherPrv, 10, true)}})
	out := Explain(tb)
	for _, want := range []string{"a", "same region", "70.0%", "no live gateway", "30.0%", "other provider", "priority 0 health 70%"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}

// FuzzCompute checks the invariants for arbitrary inputs: shares are in
// [0,1] and sum to 1 whenever any allowed target has weight; excluded
// targets never get traffic; unhealthy ones only in panic mode.
func FuzzCompute(f *testing.F) {
	f.Add(uint64(1), uint8(3), 1.4, 0.1, false)
	f.Add(uint64(7), uint8(12), 1.0, 0.5, true)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, opf, panicT float64, withPolicy bool) {
		if math.IsNaN(opf) || math.IsInf(opf, 0) || math.IsNaN(panicT) || math.IsInf(panicT, 0) || opf > 100 {
			return
		}
		r := rand.New(rand.NewPCG(seed, 99))
		locs := []Locality{here, sameReg, otherReg, otherPrv}
		t0 := time.Unix(1_000_000, 0)
		in := Input{From: "c0", Local: here, Now: t0, Drains: map[string]Drain{}, Health: map[string]Health{}}
		if withPolicy {
			in.Policy = &schema.FailoverPolicy{Targets: []schema.FailoverTarget{{Region: "r9"}, {Cluster: "c3"}}, Never: []string{"c2"}, Weights: map[string]uint32{"c1": uint32(r.IntN(4))}}
		}
		for i := range int(n % 40) {
			name := "c" + string(rune('0'+i%10)) + string(rune('a'+i/10))
			if i < 10 {
				name = "c" + string(rune('0'+i))
			}
			in.Targets = append(in.Targets, Target{Cluster: name, Locality: locs[r.IntN(4)], Ready: uint32(r.IntN(5)), Alive: r.IntN(3) > 0})
			switch r.IntN(6) {
			case 0:
				in.Drains[name] = Drain{StartedAt: t0.Add(-time.Duration(r.IntN(20)) * time.Second), Period: time.Duration(r.IntN(20)) * time.Second}
			case 1:
				in.Health[name] = Health{ProbeFailing: r.IntN(2) == 0, Ejected: r.IntN(2) == 0, Ramp: r.Float64()}
			}
		}
		tb := Compute(Config{OverprovisioningFactor: opf, PanicThreshold: panicT}, in)
		var sum, weight float64
		for _, row := range tb.Rows {
			if row.Share < 0 || row.Share > 1+1e-9 || math.IsNaN(row.Share) {
				t.Fatalf("share %v for %s\n%s", row.Share, row.Cluster, Explain(tb))
			}
			if row.Excluded && row.Share > 0 {
				t.Fatalf("excluded %s got %v\n%s", row.Cluster, row.Share, Explain(tb))
			}
			if !row.Healthy && row.Share > 0 && !tb.Panic {
				t.Fatalf("unhealthy %s got %v outside panic\n%s", row.Cluster, row.Share, Explain(tb))
			}
			if !row.Excluded {
				weight += row.Weight
			}
			sum += row.Share
		}
		if weight > 0 && math.Abs(sum-1) > 1e-9 {
			t.Fatalf("shares sum to %v\n%s", sum, Explain(tb))
		}
		if weight == 0 && sum != 0 {
			t.Fatalf("shares sum to %v with no weight", sum)
		}
		p := NewWeightedPicker(tb, r.Uint64)
		for range 20 {
			if c, ok := p.Pick(nil); ok {
				for _, row := range tb.Rows {
					if row.Cluster == c && row.Share == 0 {
						t.Fatalf("picked %s with share 0", c)
					}
				}
			}
		}
	})
}
