package cli_test

import (
	"strings"
	"testing"

	"github.com/meshfed/meshfed/internal/cli"
)

// TestDrillRunUsage: a wrong drill file or flag is a usage error (exit
// status 2) naming the file, line and field or the flag, found before the
// CLI looks for a federation or a control plane.
func TestDrillRunUsage(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "fault: {kind: kill}\nscope: {cluster: east-b}\ntraffic:\n  rat: 10\n")
	good := writeFile(t, dir, "good.yaml", "fault: {kind: kill}\nscope: {cluster: east-b}\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"drill", "run"}, "give a drill file, or at least --fault and --scope"},
		{[]string{"drill", "run", "--fault", "kill"}, "--scope"},
		{[]string{"drill", "run", "a.yaml", "b.yaml"}, `unexpected argument "b.yaml"`},
		{[]string{"drill", "run", bad}, "bad.yaml:4: traffic.rat: unknown field"},
		{[]string{"drill", "run", good, "--rate", "-5"}, "--rate (traffic.rate): -5 must be between 1 and"},
		{[]string{"drill", "run", good, "--fault", "meteor"}, `--fault (fault.kind): "meteor" is not a fault`},
		{[]string{"drill", "run", "--fault", "drain", "--scope", "cluster=a,planet=b"}, `unknown key "planet"`},
		{[]string{"drill", "run", "--fault", "latency", "--scope", "cluster=a"}, "fault.latency: is required"},
		{[]string{"drill", "run", "--fault", "kill", "--scope", "cluster=a,service=echo.demo"}, "--scope (scope.service): a kill stops the whole gateway"},
		{[]string{"drill", "run", good, "--max-error-rate", "2"}, "--max-error-rate (gates.max_error_rate): 2 must be between 0 and 1"},
		{[]string{"drill", "run", good, "-o", "xml"}, "must be one of"},
	} {
		code, _, stderr := run(t, "", append(c.args, "--dir", dir)...)
		if code != cli.ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit status %d, stderr %q; want %d naming %q", c.args, code, stderr, cli.ExitUsage, c.want)
		}
	}
	// A good file with no federation is a plain failure.
	code, _, stderr := run(t, "", "drill", "run", good, "--dir", dir)
	if code != cli.ExitError || !strings.Contains(stderr, "no environment") {
		t.Errorf("no up.json: exit status %d, stderr %q", code, stderr)
	}
}
