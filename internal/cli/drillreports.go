package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Bounds of `drill list --limit`; the control plane keeps 1,000 reports.
const (
	defaultDrillListLimit = 100
	maxDrillListLimit     = 1000
)

// newDrillListCommand is `meshfed drill list`: the stored drill reports,
// newest first. The drill group registers it.
func newDrillListCommand(a *app) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--limit N]",
		Short: "List past drill reports, newest first",
		Long: `List the reports of past drills that the control plane keeps (the 1,000
stored last): the id, the fault, its scope, the verdict, when the drill
started (UTC) and how long it ran, newest first. ` + "`meshfed drill show ID`" + `
prints one report in full.`,
		Example: `  meshfed drill list
  meshfed drill list --limit 10
  meshfed drill list -o json | jq -r '.reports[] | select(.verdict == "fail") | .id'`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.Flags().IntVar(&limit, "limit", defaultDrillListLimit, fmt.Sprintf("how many reports to list, 1-%d", maxDrillListLimit))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if limit < 1 || limit > maxDrillListLimit {
			return usagef("--limit %d is outside 1-%d", limit, maxDrillListLimit)
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListDrillReports(ctx, &meshfedv1.ListDrillReportsRequest{Limit: int32(limit)})
			if err != nil {
				return s.fail(err, "")
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { drillTable(w, resp) })
		})
	}
	return cmd
}

func drillTable(w io.Writer, resp *meshfedv1.ListDrillReportsResponse) {
	row(w, "ID", "FAULT", "SCOPE", "VERDICT", "STARTED", "DURATION")
	for _, r := range resp.GetReports() {
		row(w, r.GetId(), r.GetFault(), orNone(r.GetScope()), r.GetVerdict(), timestamp(r.GetStartedAt()), drillDuration(r.GetDurationMs()))
	}
}

// drillDuration formats milliseconds as a Go duration: "1m33s", "1.5s".
func drillDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

// newDrillShowCommand is `meshfed drill show ID`: one stored report. The
// drill group registers it.
func newDrillShowCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one drill report",
		Long: `Show the report of a past drill. The table output is a summary: the
fault, scope, verdict, start and duration, and the report's gates (each
with its limit, what was observed and whether it passed). -o json prints
the full report document as the drill runner wrote it, indented; -o yaml
prints the same document as YAML. ` + "`meshfed drill list`" + ` gives the ids.`,
		Example: `  meshfed drill show 20261122-211500-kill-east
  meshfed drill show 20261122-211500-kill-east -o json | jq '.gates[] | select(.passed | not)'`,
		Args: positional("ID"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		if err := schema.ValidateDrillReportID(id); err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.GetDrillReport(ctx, &meshfedv1.GetDrillReportRequest{Id: id})
			if err != nil {
				return s.fail(err, schema.DescribeDrillReport(id))
			}
			return writeDrillReport(a.streams.Out, out.value, resp.GetReport())
		})
	}
	return cmd
}

// writeDrillReport writes a report's document as indented JSON or as
// YAML, or a summary table.
func writeDrillReport(w io.Writer, format string, r *meshfedv1.DrillReport) error {
	doc := r.GetReport()
	switch format {
	case formatJSON:
		var b bytes.Buffer
		if err := json.Indent(&b, doc, "", "  "); err != nil {
			return fmt.Errorf("%s: the stored report is not JSON: %w", schema.DescribeDrillReport(r.GetId()), err)
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	case formatYAML:
		y, err := yaml.JSONToYAML(doc)
		if err != nil {
			return fmt.Errorf("%s: converting the report to YAML: %w", schema.DescribeDrillReport(r.GetId()), err)
		}
		_, err = w.Write(y)
		return err
	}
	tw := newTable(w)
	drillDetail(tw, r)
	return tw.Flush()
}

func drillDetail(w io.Writer, r *meshfedv1.DrillReport) {
	row(w, "Id:", r.GetId())
	row(w, "Fault:", r.GetFault())
	row(w, "Scope:", orNone(r.GetScope()))
	row(w, "Verdict:", r.GetVerdict())
	row(w, "Started:", timestamp(r.GetStartedAt()))
	row(w, "Duration:", drillDuration(r.GetDurationMs()))
	gates, ok := drillGates(r.GetReport())
	if !ok {
		return
	}
	if len(gates) == 0 {
		row(w, "Gates:", "<none>")
		return
	}
	row(w, "Gates:")
	row(w, "  GATE", "LIMIT", "OBSERVED", "PASSED")
	for _, g := range gates {
		row(w, "  "+jsonCell(g["name"]), jsonCell(g["limit"]), jsonCell(g["observed"]), passedCell(g["passed"]))
	}
}

// drillGates returns the "gates" array of a report document; ok is false
// when there is none (or it is not an array of objects). The drill runner
// owns the document's shape, so fields are read loosely.
func drillGates(doc []byte) (gates []map[string]json.RawMessage, ok bool) {
	var top struct {
		Gates []map[string]json.RawMessage `json:"gates"`
	}
	if err := json.Unmarshal(doc, &top); err != nil || top.Gates == nil {
		return nil, false
	}
	return top.Gates, true
}

// jsonCell shows a JSON value in a table cell: a string without quotes,
// anything else as compact JSON, "-" when absent or null.
func jsonCell(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "-"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

// passedCell shows a gate's "passed": yes or no for a boolean.
func passedCell(v json.RawMessage) string {
	switch string(v) {
	case "true":
		return yesNo(true)
	case "false":
		return yesNo(false)
	}
	return jsonCell(v)
}
