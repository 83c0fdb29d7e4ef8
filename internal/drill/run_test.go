package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// fakeMesh stands in for two clusters, a and b, both exporting
// echo.demo: a's forward proxy sends every request to b unless b is
// drained or blackholed, b's admin port takes faults. It is the control
// plane too (drains and reports).
type fakeMesh struct {
	mu      sync.Mutex
	drained bool
	faults  map[string]gateway.Fault
	nextID  int
	puts    []string // "put" / "delete" of drains, in order
	reports []*meshfedv1.DrillReport
}

func (m *fakeMesh) State(context.Context) (*client.State, error) {
	st := client.NewState()
	st.Clusters["a"] = &meshfedv1.Cluster{Name: "a", Locality: &meshfedv1.Locality{Zone: "z1"}}
	st.Clusters["b"] = &meshfedv1.Cluster{Name: "b", Locality: &meshfedv1.Locality{Zone: "z2"}}
	st.Imports["demo/echo"] = &meshfedv1.Import{Namespace: "demo", Name: "echo",
		Ports:    []*meshfedv1.ServicePort{{Name: "http", Port: 8080}},
		Clusters: []*meshfedv1.ImportCluster{{Cluster: "a", Ready: 1}, {Cluster: "b", Ready: 1}}}
	return st, nil
}

func (m *fakeMesh) PutDrain(_ context.Context, d *meshfedv1.Drain) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drained = true
	m.puts = append(m.puts, "put "+d.GetCluster())
	return nil
}

func (m *fakeMesh) DeleteDrain(_ context.Context, d *meshfedv1.Drain) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drained = false
	m.puts = append(m.puts, "delete "+d.GetCluster())
	return nil
}

func (m *fakeMesh) PutReport(_ context.Context, r *meshfedv1.DrillReport) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reports = append(m.reports, r)
	return nil
}

// latency is the active latency fault's delay, or 0.
func (m *fakeMesh) state() (drained bool, latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.faults {
		if f.Kind == FaultLatency {
			latency = f.Latency.D()
		}
	}
	return m.drained, latency
}

// env starts a's forward proxy and both admin ports.
func (m *fakeMesh) env(t *testing.T) *Env {
	m.faults = map[string]gateway.Fault{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drained, lat := m.state()
		serve := "b"
		if drained {
			serve = "a"
		}
		if lat > 0 {
			time.Sleep(lat)
		}
		json.NewEncoder(w).Encode(map[string]string{"cluster": serve})
	}))
	t.Cleanup(proxy.Close)
	adminA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drained, _ := m.state()
		share := 1.0
		if drained {
			share = 0
		}
		json.NewEncoder(w).Encode(gateway.DebugRoutes{Cluster: "a", Services: []gateway.DebugRouteTable{{Service: "echo.demo",
			Targets: []gateway.DebugRouteRow{{Cluster: "a", Healthy: true, Share: 1 - share}, {Cluster: "b", Healthy: !drained, Share: share}}}}})
	}))
	t.Cleanup(adminA.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		fs := []gateway.Fault{}
		for _, f := range m.faults {
			fs = append(fs, f)
		}
		json.NewEncoder(w).Encode(map[string]any{"faults": fs})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f gateway.Fault
		json.NewDecoder(r.Body).Decode(&f)
		m.mu.Lock()
		m.nextID++
		f.ID = string(rune('0' + m.nextID))
		m.faults[f.ID] = f
		m.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(f)
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		delete(m.faults, r.PathValue("id"))
		m.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	adminB := httptest.NewServer(mux)
	t.Cleanup(adminB.Close)
	pu, _ := url.Parse(proxy.URL)
	return &Env{Gateways: map[string]*Gateway{
		"a": {Cluster: "a", Admin: adminA.URL, ForwardProxy: pu},
		"b": {Cluster: "b", Admin: adminB.URL},
	}}
}

func runDrill(t *testing.T, m *fakeMesh, doc string) *Report {
	t.Helper()
	spec, err := ParseSpec("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Normalize(); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	r, err := NewRunner(Config{Spec: spec, Env: m.env(t), ControlPlane: m, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "warmup") || !strings.Contains(progress.String(), "fault") {
		t.Errorf("progress:\n%s", progress.String())
	}
	return rep
}

// TestRunDrain: a drain moves the traffic, is rolled back, and the
// report says so.
func TestRunDrain(t *testing.T) {
	m := &fakeMesh{}
	rep := runDrill(t, m, "fault: {kind: drain}\nscope: {cluster: b}\ntraffic: {from: [a], rate: 50}\nwarmup: 1s\nduration: 1s\nrestore: 1s\n")
	if strings.Join(m.puts, ",") != "put b,delete b" {
		t.Errorf("drains: %v", m.puts)
	}
	if rep.Verdict != VerdictPass || rep.RolledBack || rep.FailedRequests != 0 || rep.BaselineScopeShare < 0.95 {
		t.Errorf("report: verdict %s, rolled back %v, failed %d, baseline %v", rep.Verdict, rep.RolledBack, rep.FailedRequests, rep.BaselineScopeShare)
	}
	if rep.TimeToFailoverMS == nil || *rep.TimeToFailoverMS > 250 || rep.TimeToDetectMS == nil || rep.TimeToFailbackMS == nil {
		t.Errorf("times: detect %v, failover %v, failback %v; during %+v slow %v phases %+v", fmtMS(rep.TimeToDetectMS, "-"), fmtMS(rep.TimeToFailoverMS, "-"), fmtMS(rep.TimeToFailbackMS, "-"), rep.DuringFault, rep.SlowThresholdMS, rep.Phases)
	}
	if n := rep.Served["a"] + rep.Served["b"]; n != rep.TotalRequests || rep.TotalRequests < 120 || rep.TotalRequests > 155 {
		t.Errorf("served %v of %d requests (want about 150)", rep.Served, rep.TotalRequests)
	}
	checkDocuments(t, rep)
}

// TestRunGateBreach: a latency fault trips the p99 gate, which rolls
// the fault back at once.
func TestRunGateBreach(t *testing.T) {
	m := &fakeMesh{}
	rep := runDrill(t, m, "fault: {kind: latency, latency: 300ms}\nscope: {cluster: b}\ntraffic: {from: [a], rate: 50}\nwarmup: 1s\nduration: 10s\nrestore: 0s\ngates: {max_p99: 100ms}\n")
	if len(m.faults) != 0 {
		t.Errorf("faults left on b: %v", m.faults)
	}
	if rep.Verdict != VerdictFail || !rep.RolledBack || rep.RollbackReason != "gate max_p99 breached" {
		t.Errorf("verdict %s, rolled back %v (%s)", rep.Verdict, rep.RolledBack, rep.RollbackReason)
	}
	// The gate trips on the first window whose p99 passes 100 ms, which
	// under load may be before a full 300 ms delay shows.
	if len(rep.Gates) != 1 || rep.Gates[0].Passed || rep.Gates[0].BreachedAtMS == nil || rep.Gates[0].Observed <= 100 {
		t.Errorf("gates: %+v", rep.Gates)
	}
	if d := rep.Phases.RolledBackMS - rep.Phases.InjectedMS; d > 1500 {
		t.Errorf("rolled back %v ms after the injection, want within the gate's second", d)
	}
}

// checkDocuments: the JSON has the fields, the chart is a PNG,
// the Markdown has the gates, and the control plane would take it.
func checkDocuments(t *testing.T, rep *Report) {
	t.Helper()
	data, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "fault", "scope", "verdict", "total_requests", "failed_requests", "time_to_detect_ms",
		"time_to_failover_ms", "time_to_failback_ms", "p99_ms", "gates", "rolled_back", "series", "events"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report JSON has no %q", k)
		}
	}
	for _, g := range doc["gates"].([]any) {
		for _, k := range []string{"name", "limit", "observed", "passed"} {
			if _, ok := g.(map[string]any)[k]; !ok {
				t.Errorf("gate %v has no %q", g, k)
			}
		}
	}
	img, err := rep.Chart()
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != chartW || cfg.Height != chartH {
		t.Errorf("chart: %v %+v", err, cfg)
	}
	var md strings.Builder
	rep.WriteMarkdown(&md, "chart.png")
	for _, w := range []string{"# Drill " + rep.ID, "| max_error_rate |", "![traffic share", "## Timeline", "fault injected"} {
		if !strings.Contains(md.String(), w) {
			t.Errorf("markdown lacks %q:\n%s", w, md.String())
		}
	}
	stored, err := rep.Stored()
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.ValidateDrillReport(stored); err != nil {
		t.Errorf("the control plane would refuse the report: %v", err)
	}
}
