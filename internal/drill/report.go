package drill

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Verdicts.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
)

// Rollback reasons.
const (
	ReasonDuration    = "duration elapsed"
	ReasonInterrupted = "interrupted"
	// A gate breach is "gate NAME breached".
)

// Report is the outcome of a drill; its JSON form is the report file and
// what the control plane stores. docs/drills.md defines every metric.
type Report struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Fault         string   `json:"fault"`
	Scope         string   `json:"scope"`
	ScopeClusters []string `json:"scope_clusters"`
	Service       string   `json:"service"`
	From          []string `json:"from"`
	Protocols     []string `json:"protocols,omitempty"`
	Rate          int      `json:"rate,omitempty"`
	Observe       bool     `json:"observe,omitempty"`
	Verdict       string   `json:"verdict"`
	// RolledBack: the fault was removed early, because a gate was
	// breached or the drill was interrupted. RollbackReason says why the
	// fault ended ("duration elapsed" when it ran its course).
	RolledBack     bool   `json:"rolled_back"`
	RollbackReason string `json:"rollback_reason"`
	// RollbackError is set when undoing the fault failed.
	RollbackError string `json:"rollback_error,omitempty"`

	TotalRequests  int     `json:"total_requests"`
	FailedRequests int     `json:"failed_requests"`
	ErrorRate      float64 `json:"error_rate"`

	TimeToDetectMS        *float64 `json:"time_to_detect_ms"`
	TimeToFailoverFirstMS *float64 `json:"time_to_failover_first_ms"`
	TimeToFailoverMS      *float64 `json:"time_to_failover_ms"`
	TimeToFailbackMS      *float64 `json:"time_to_failback_ms"`
	P99MS                 float64  `json:"p99_ms"`
	BaselineP99MS         float64  `json:"baseline_p99_ms"`
	BaselineScopeShare    float64  `json:"baseline_scope_share"`
	SlowThresholdMS       float64  `json:"slow_threshold_ms"`
	DuringFault           Counts   `json:"during_fault"`

	Gates   []GateResult   `json:"gates"`
	Served  map[string]int `json:"served"`
	Clients []ClientCounts `json:"clients"`
	Phases  PhasesMS       `json:"phases"`
	Events  []Event        `json:"events"`
	Series  []SeriesPoint  `json:"series"`

	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	DurationMS int64     `json:"duration_ms"`
	Spec       *Spec     `json:"spec"`
	Notes      []string  `json:"notes,omitempty"`
}

// Counts are the requests sent while the fault was on.
type Counts struct {
	Requests int `json:"requests"`
	// ServedByScope, Moved (served elsewhere within the slow threshold),
	// Delayed (served elsewhere, slower) and Failed add up to Requests.
	ServedByScope int `json:"served_by_scope"`
	Moved         int `json:"moved"`
	Delayed       int `json:"delayed"`
	Failed        int `json:"failed"`
}

// GateResult is one SLO gate's verdict.
type GateResult struct {
	Name string `json:"name"`
	// Limit and Observed are a ratio (max_error_rate) or milliseconds
	// (max_p99).
	Limit    float64 `json:"limit"`
	Observed float64 `json:"observed"`
	Passed   bool    `json:"passed"`
	// BreachedAtMS is when the live check saw the breach (from the start
	// of traffic); it triggered the rollback.
	BreachedAtMS *float64 `json:"breached_at_ms,omitempty"`
}

// PhasesMS are the drill's moments in ms from the start of traffic.
type PhasesMS struct {
	InjectedMS   float64 `json:"injected_ms"`
	RolledBackMS float64 `json:"rolled_back_ms"`
	RestoredMS   float64 `json:"restored_ms"`
	EndedMS      float64 `json:"ended_ms"`
}

// Event is one moment of the drill's timeline.
type Event struct {
	AtMS   float64   `json:"at_ms"`
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Detail string    `json:"detail,omitempty"`
}

// Passed reports whether every gate held.
func (r *Report) Passed() bool { return r.Verdict == VerdictPass }

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)/100) / 10 }

func msPtr(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	v := ms(*d)
	return &v
}

// JSON is the report document.
func (r *Report) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// WriteFiles writes report.json, report.md and chart.png into dir and
// returns their paths.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	data, err := r.JSON()
	if err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(dir, "report.json"), filepath.Join(dir, "report.md"), filepath.Join(dir, "chart.png")}
	var md strings.Builder
	r.WriteMarkdown(&md, "chart.png")
	png, err := r.Chart()
	if err != nil {
		return nil, err
	}
	for i, content := range [][]byte{data, []byte(md.String()), png} {
		if err := os.WriteFile(paths[i], content, 0o644); err != nil {
			return nil, fmt.Errorf("drill: %w", err)
		}
	}
	return paths, nil
}

// fmtMS formats an optional duration in ms for people.
func fmtMS(v *float64, none string) string {
	if v == nil {
		return none
	}
	return fmtDurMS(*v)
}

func fmtDurMS(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

func (g GateResult) format(v float64) string {
	if g.Name == "max_error_rate" {
		return fmt.Sprintf("%.3f%%", 100*v)
	}
	return fmtDurMS(v)
}

// WriteSummary writes the human summary `meshfed drill run` ends with.
func (r *Report) WriteSummary(w io.Writer) {
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\nDrill %s: %s\n", r.ID, verdict)
	fmt.Fprintf(w, "  fault %s, scope %s, traffic %s from %s\n", r.Fault, r.Scope, r.Service, strings.Join(r.From, ", "))
	fmt.Fprintf(w, "  fault ended: %s", r.RollbackReason)
	if r.RollbackError != "" {
		fmt.Fprintf(w, " (ROLLBACK FAILED: %s)", r.RollbackError)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  requests:            %d, failed %d (%.3f%%)\n", r.TotalRequests, r.FailedRequests, 100*r.ErrorRate)
	fmt.Fprintf(w, "  baseline:            scope served %.0f%%, p99 %s\n", 100*r.BaselineScopeShare, fmtDurMS(r.BaselineP99MS))
	fmt.Fprintf(w, "  time to detect:      %s\n", fmtMS(r.TimeToDetectMS, "n/a (no gateway table reacted)"))
	fmt.Fprintf(w, "  time to fail over:   first %s, 99%% %s\n", fmtMS(r.TimeToFailoverFirstMS, "n/a"), fmtMS(r.TimeToFailoverMS, "n/a"))
	fmt.Fprintf(w, "  during the fault:    %d requests: %d by the scope, %d moved, %d delayed, %d failed; p99 %s\n",
		r.DuringFault.Requests, r.DuringFault.ServedByScope, r.DuringFault.Moved, r.DuringFault.Delayed, r.DuringFault.Failed, fmtDurMS(r.P99MS))
	fmt.Fprintf(w, "  time to fail back:   %s\n", fmtMS(r.TimeToFailbackMS, "n/a"))
	for _, g := range r.Gates {
		mark := "held"
		if !g.Passed {
			mark = "BREACHED"
		}
		fmt.Fprintf(w, "  gate %-15s limit %s, observed %s: %s\n", g.Name, g.format(g.Limit), g.format(g.Observed), mark)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// WriteMarkdown writes the report as Markdown; chart is the chart
// image's path relative to the Markdown file ("" for none).
func (r *Report) WriteMarkdown(w io.Writer, chart string) {
	fmt.Fprintf(w, "# Drill %s: %s\n\n", r.ID, strings.ToUpper(r.Verdict))
	fmt.Fprintf(w, "Fault **%s** on **%s** (clusters %s), traffic to `%s` from %s",
		r.Fault, r.Scope, strings.Join(r.ScopeClusters, ", "), r.Service, strings.Join(r.From, ", "))
	if r.Observe {
		fmt.Fprintf(w, " (observed from gateway metrics)")
	} else {
		fmt.Fprintf(w, " (%s, %d/s per client)", strings.Join(r.Protocols, "+"), r.Rate)
	}
	fmt.Fprintf(w, ". Started %s, %s in all. The fault ended: %s.\n\n", r.StartedAt.UTC().Format(time.RFC3339), fmtDurMS(float64(r.DurationMS)), r.RollbackReason)
	if r.RollbackError != "" {
		fmt.Fprintf(w, "**Rollback failed:** %s\n\n", r.RollbackError)
	}
	fmt.Fprintln(w, "| metric | value |\n| --- | --- |")
	row := func(k, v string) { fmt.Fprintf(w, "| %s | %s |\n", k, v) }
	row("requests", fmt.Sprintf("%d", r.TotalRequests))
	row("failed requests", fmt.Sprintf("%d (%.3f%%)", r.FailedRequests, 100*r.ErrorRate))
	row("baseline share of the scope", fmt.Sprintf("%.1f%%", 100*r.BaselineScopeShare))
	row("baseline p99", fmtDurMS(r.BaselineP99MS))
	row("time to detect", fmtMS(r.TimeToDetectMS, "n/a"))
	row("time to fail over (first request)", fmtMS(r.TimeToFailoverFirstMS, "n/a"))
	row("time to fail over (99% of traffic)", fmtMS(r.TimeToFailoverMS, "n/a"))
	row("p99 during the fault", fmtDurMS(r.P99MS))
	row("time to fail back", fmtMS(r.TimeToFailbackMS, "n/a"))
	d := r.DuringFault
	row("during the fault", fmt.Sprintf("%d requests: %d served by the scope, %d moved, %d delayed (> %s), %d failed",
		d.Requests, d.ServedByScope, d.Moved, d.Delayed, fmtDurMS(r.SlowThresholdMS), d.Failed))
	fmt.Fprintln(w, "\n## Gates\n\n| gate | limit | observed | verdict |\n| --- | --- | --- | --- |")
	for _, g := range r.Gates {
		v := "held"
		if !g.Passed {
			v = "**breached**"
			if g.BreachedAtMS != nil {
				v += fmt.Sprintf(" at %s (rolled back)", fmtDurMS(*g.BreachedAtMS))
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.Name, g.format(g.Limit), g.format(g.Observed), v)
	}
	if chart != "" {
		fmt.Fprintf(w, "\n## Traffic share per cluster\n\n![traffic share per cluster over time](%s)\n", chart)
	}
	fmt.Fprintln(w, "\n## Timeline\n\n| at | event | detail |\n| --- | --- | --- |")
	for _, e := range r.Events {
		fmt.Fprintf(w, "| %s | %s | %s |\n", fmtDurMS(e.AtMS), e.Event, e.Detail)
	}
	fmt.Fprintln(w, "\n## Requests by client\n\n| client | protocol | requests | failed | served by |\n| --- | --- | --- | --- | --- |")
	for _, c := range r.Clients {
		keys := make([]string, 0, len(c.Served))
		for k := range c.Served {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, c.Served[k]))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %s |\n", c.Client, c.Protocol, c.Requests, c.Failed, strings.Join(parts, ", "))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\n## Notes")
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// seriesClusters are the clusters that served anything, sorted.
func (r *Report) seriesClusters() []string {
	seen := map[string]bool{}
	for _, p := range r.Series {
		for c := range p.Share {
			seen[c] = true
		}
	}
	for c := range r.Served {
		seen[c] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
