package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
)

// TestDrainVerbsAgainstARealControlPlane walks the drain verbs:
//
//  1. draining a cluster that is not registered fails, naming it;
//  2. drain a cluster over a period and one service at once;
//  3. list them as a table and as JSON;
//  4. undrain the service; undraining it again is not found;
//  5. removing the cluster removes its drain.
func TestDrainVerbsAgainstARealControlPlane(t *testing.T) {
	srv := controlplanetest.Start(t, controlplane.Config{})
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, "", append([]string{"--config", srv.ConfigPath}, args...)...)
	}
	mustOK := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(args...)
		if code != 0 {
			t.Fatalf("meshfed %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	// 1.
	if code, _, errOut := cli("cluster", "drain", "east"); code != 1 ||
		!strings.Contains(errOut, `the control plane refused drain of cluster "east"`) || !strings.Contains(errOut, "not registered") {
		t.Fatalf("drain of unknown cluster: exit %d: %s", code, errOut)
	}
	mustOK("cluster", "add", "east", "--trust-domain", "east.example.org", "--provider", "aws", "--region", "us-east-1")

	// 2.
	if out := mustOK("cluster", "drain", "east", "--period", "30s"); out != "cluster \"east\" draining over 30s\n" {
		t.Fatalf("drain output %q", out)
	}
	if out := mustOK("cluster", "drain", "east", "--service", "demo/echo"); out != "service demo/echo in cluster \"east\" draining at once\n" {
		t.Fatalf("drain --service output %q", out)
	}

	// 3.
	table := mustOK("cluster", "drains")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "CLUSTER SERVICE PERIOD STARTED PROGRESS" ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "east * 30s ") ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "east demo/echo at once ") || !strings.HasSuffix(strings.Join(strings.Fields(lines[2]), " "), " ago 100%") {
		t.Fatalf("cluster drains:\n%s", table)
	}
	var list struct {
		Drains []struct {
			Cluster       string `json:"cluster"`
			Namespace     string `json:"namespace"`
			Name          string `json:"name"`
			StartedAt     string `json:"started_at"`
			PeriodSeconds string `json:"period_seconds"` // int64 is a string in protojson
		} `json:"drains"`
	}
	if err := json.Unmarshal([]byte(mustOK("cluster", "drains", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Drains) != 2 || list.Drains[0].PeriodSeconds != "30" || list.Drains[0].StartedAt == "" || list.Drains[1].Name != "echo" {
		t.Fatalf("cluster drains -o json: %+v", list)
	}
	if out := mustOK("cluster", "drains", "-o", "yaml"); !strings.Contains(out, "period_seconds: \"30\"") {
		t.Fatalf("cluster drains -o yaml:\n%s", out)
	}

	// 4.
	if out := mustOK("cluster", "undrain", "east", "--service", "demo/echo"); out != "service demo/echo in cluster \"east\" undrained\n" {
		t.Fatalf("undrain output %q", out)
	}
	if code, _, errOut := cli("cluster", "undrain", "east", "--service", "demo/echo"); code != 1 ||
		!strings.Contains(errOut, `drain of demo/echo in cluster "east" not found`) {
		t.Fatalf("second undrain: exit %d: %s", code, errOut)
	}

	// 5.
	mustOK("cluster", "remove", "east")
	if out := mustOK("cluster", "drains"); strings.TrimSpace(out) != "CLUSTER   SERVICE   PERIOD   STARTED   PROGRESS" {
		t.Fatalf("drains after removing the cluster:\n%s", out)
	}
}
