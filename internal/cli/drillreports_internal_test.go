package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// The drill commands are registered by the `drill` group, which is built
// elsewhere; these tests hang them under a throwaway group of their own.

// drillRun runs `meshfed drill ARGS` with only the drill report commands
// registered, printing errors and choosing exit statuses as Main does.
func drillRun(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	a := &app{streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, now: time.Now}
	root := &cobra.Command{Use: "meshfed", Args: noArgs, SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	a.conn.register(root.PersistentFlags())
	root.AddCommand(group("drill", "Drills", "", "", newDrillListCommand(a), newDrillShowCommand(a)))
	root.SetArgs(append([]string{"drill"}, args...))
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(&errOut, "meshfed: %s\n", err)
		var u *usageError
		if errors.As(err, &u) {
			return ExitUsage, out.String(), errOut.String()
		}
		return ExitError, out.String(), errOut.String()
	}
	return ExitOK, out.String(), errOut.String()
}

var drillStart = time.Date(2026, 11, 22, 21, 15, 0, 0, time.UTC)

const gatesDoc = `{"id":"20261122-211500-kill-east","gates":[
 {"name":"error rate","limit":"1%","observed":"0.2%","passed":true},
 {"name":"failover time","limit":30,"observed":41.5,"passed":false},
 {"name":"fail back","passed":null}],"timeline":[]}`

func drillReports() []*meshfedv1.DrillReport {
	return []*meshfedv1.DrillReport{
		{Id: "20261122-211500-kill-east", Fault: "kill", Scope: "cluster=east", Verdict: "fail",
			StartedAt: timestamppb.New(drillStart), DurationMs: 93_000, Report: []byte(gatesDoc)},
		{Id: "20261122-200000-drain-west", Fault: "drain", Scope: "cluster=west,service=echo.demo", Verdict: "pass",
			StartedAt: timestamppb.New(drillStart.Add(-75 * time.Minute)), DurationMs: 1500, Report: []byte(`{"note":"no gates"}`)},
		{Id: "20261121-090000-latency", Fault: "latency", Verdict: "pass",
			StartedAt: timestamppb.New(drillStart.Add(-36 * time.Hour)), DurationMs: 600_000, Report: []byte(`{"gates":[]}`)},
	}
}

func TestDrillTableAndDetail(t *testing.T) {
	rs := drillReports()
	got := table(func(w io.Writer) { drillTable(w, &meshfedv1.ListDrillReportsResponse{Reports: rs}) })
	want := `
ID                           FAULT     SCOPE                            VERDICT   STARTED                DURATION
20261122-211500-kill-east    kill      cluster=east                     fail      2026-11-22T21:15:00Z   1m33s
20261122-200000-drain-west   drain     cluster=west,service=echo.demo   pass      2026-11-22T20:00:00Z   1.5s
20261121-090000-latency      latency   <none>                           pass      2026-11-21T09:15:00Z   10m0s
`
	if strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("drill table:\n%s\nwant:\n%s", got, want)
	}
	for _, tt := range []struct {
		name string
		r    *meshfedv1.DrillReport
		want string
	}{
		{"gates", rs[0], `
Id:         20261122-211500-kill-east
Fault:      kill
Scope:      cluster=east
Verdict:    fail
Started:    2026-11-22T21:15:00Z
Duration:   1m33s
Gates:
  GATE            LIMIT   OBSERVED   PASSED
  error rate      1%      0.2%       yes
  failover time   30      41.5       no
  fail back       -       -          -
`},
		{"no gates", rs[1], `
Id:         20261122-200000-drain-west
Fault:      drain
Scope:      cluster=west,service=echo.demo
Verdict:    pass
Started:    2026-11-22T20:00:00Z
Duration:   1.5s
`},
		{"empty gates", rs[2], `
Id:         20261121-090000-latency
Fault:      latency
Scope:      <none>
Verdict:    pass
Started:    2026-11-21T09:15:00Z
Duration:   10m0s
Gates:      <none>
`},
		{"gates not objects", &meshfedv1.DrillReport{Id: "x", Report: []byte(`{"gates":"all passed"}`)}, `
Id:         x
Fault:      
Scope:      <none>
Verdict:    
Started:    <unknown>
Duration:   0s
`},
	} {
		var b bytes.Buffer
		if err := writeDrillReport(&b, formatTable, tt.r); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); trimLines(got) != trimLines(tt.want) {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.name, got, tt.want)
		}
	}
}

// trimLines drops the blank lines around s and the spaces ending its lines.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// TestDrillVerbsAgainstARealControlPlane walks drill list and show:
//
//  1. with no reports, list prints the header only;
//  2. reports stored by a runner list newest first as a table, JSON and
//     YAML, and --limit keeps the newest;
//  3. show prints a summary, the document indented, or as YAML;
//  4. bad input is refused before dialing; an unknown id is not found.
func TestDrillVerbsAgainstARealControlPlane(t *testing.T) {
	srv := controlplanetest.Start(t, controlplane.Config{})
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return drillRun(append(args, "--config", srv.ConfigPath)...)
	}
	mustOK := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(args...)
		if code != 0 {
			t.Fatalf("meshfed drill %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	// 1.
	if out := mustOK("list"); strings.Join(strings.Fields(out), " ") != "ID FAULT SCOPE VERDICT STARTED DURATION" {
		t.Fatalf("empty list:\n%s", out)
	}

	// 2.
	admin := srv.Dial(t)
	rs := drillReports()
	for _, i := range []int{1, 2, 0} { // stored out of order
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := admin.Admin.PutDrillReport(c, &meshfedv1.PutDrillReportRequest{Report: rs[i]})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	table := strings.Split(strings.TrimSpace(mustOK("list")), "\n")
	if len(table) != 4 || !strings.HasPrefix(table[1], rs[0].GetId()+" ") || !strings.HasPrefix(table[3], rs[2].GetId()+" ") ||
		strings.Join(strings.Fields(table[2]), " ") != "20261122-200000-drain-west drain cluster=west,service=echo.demo pass 2026-11-22T20:00:00Z 1.5s" {
		t.Fatalf("drill list:\n%s", strings.Join(table, "\n"))
	}
	var list struct {
		Reports []struct {
			ID         string `json:"id"`
			DurationMs string `json:"duration_ms"` // int64 is a string in protojson
			Report     string `json:"report"`
		} `json:"reports"`
	}
	if err := json.Unmarshal([]byte(mustOK("list", "-o", "json", "--limit", "2")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Reports) != 2 || list.Reports[0].ID != rs[0].GetId() || list.Reports[0].DurationMs != "93000" || list.Reports[1].Report != "" {
		t.Fatalf("drill list -o json --limit 2: %+v", list)
	}
	if out := mustOK("list", "-o", "yaml"); !strings.Contains(out, "- duration_ms: \"93000\"") || !strings.Contains(out, "id: 20261121-090000-latency") {
		t.Fatalf("drill list -o yaml:\n%s", out)
	}

	// 3.
	if out := mustOK("show", rs[0].GetId()); !strings.Contains(out, "Verdict:    fail") ||
		strings.Join(strings.Fields(strings.Split(out, "\n")[9]), " ") != "failover time 30 41.5 no" {
		t.Fatalf("drill show:\n%s", out)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, []byte(gatesDoc), "", "  "); err != nil {
		t.Fatal(err)
	}
	if out := mustOK("show", rs[0].GetId(), "-o", "json"); out != want.String()+"\n" {
		t.Fatalf("drill show -o json:\n%s\nwant:\n%s", out, want.String())
	}
	if out := mustOK("show", rs[0].GetId(), "-o", "yaml"); !strings.Contains(out, "- limit: 1%\n  name: error rate\n  observed: 0.2%\n  passed: true\n") {
		t.Fatalf("drill show -o yaml:\n%s", out)
	}

	// 4.
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"show", "nope"}, 1, `drill report "nope" not found`},
		{[]string{"show", "Kill_East"}, 1, `id "Kill_East" is not a valid DNS-1123 label`},
		{[]string{"show"}, 2, "missing ID argument"},
		{[]string{"show", "a", "b"}, 2, `unexpected argument "b"`},
		{[]string{"show", "a", "-o", "xml"}, 2, `"xml"`},
		{[]string{"list", "--limit", "0"}, 2, "--limit 0 is outside 1-1000"},
		{[]string{"list", "--limit", "1001"}, 2, "--limit 1001 is outside 1-1000"},
		{[]string{"list", "extra"}, 2, `unexpected argument "extra"`},
	} {
		code, _, errOut := cli(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("meshfed drill %s: exit %d: %s; want exit %d with %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.want)
		}
	}
}
