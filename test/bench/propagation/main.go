package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// etcdMaxTxnOps is etcd's default --max-txn-ops: the raw etcd baseline
// writes one burst per transaction.
const etcdMaxTxnOps = 128

// options are the command-line settings shared by every scenario.
type options struct {
	out       string
	scenarios []scenario
	burst     int
	watchers  string // "skim" or "full"
	interval  time.Duration
	timeout   time.Duration
	settle    time.Duration
	bin       string
}

// scenario is one size to measure: exports is the total over all clusters.
type scenario struct {
	clusters int
	exports  int
}

func (s scenario) String() string { return fmt.Sprintf("%dx%d", s.clusters, s.exports) }

func main() { benchkit.Main("propagation", run) }

// run parses flags, measures every scenario and writes the report. It
// stops at the first failing scenario, after cleaning up after it.
func run(ctx context.Context) error {
	fs := flag.NewFlagSet("propagation", flag.ContinueOnError)
	out := fs.String("out", "docs/benchmarks.md", "markdown report to write")
	scen := fs.String("scenarios", "10x1000,100x10000", "comma-separated CLUSTERSxEXPORTS; EXPORTS is the total over all clusters")
	burst := fs.Int("burst", 100, fmt.Sprintf("exports per PublishExports request (and per etcd txn in the baseline), 1-%d", etcdMaxTxnOps))
	watchers := fs.String("watchers", "skim", "simulated gateways: skim (walk the wire format for what is checked; the control plane's delivery) or full (client.Follow: decode and apply everything, as a gateway does, on this machine's 2 CPUs)")
	interval := fs.Duration("interval", 10*time.Millisecond, "target time between the starts of two bursts (a burst that takes longer delays the next)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long watchers may take to converge after the last write before the scenario fails")
	settle := fs.Duration("settle", 3*time.Second, "pause before each RSS reading")
	bin := fs.String("bin", "", "meshfed binary (default: go build ./cmd/meshfed into a temporary directory)")
	if err := benchkit.ParseFlags(fs, os.Args[1:]); err != nil {
		return err
	}
	opts := options{out: *out, burst: *burst, watchers: *watchers, interval: *interval, timeout: *timeout, settle: *settle, bin: *bin}
	var err error
	if opts.scenarios, err = parseScenarios(*scen); err != nil {
		return err
	}
	if opts.watchers != "skim" && opts.watchers != "full" {
		return fmt.Errorf("-watchers %q is not one of skim, full", opts.watchers)
	}
	if opts.burst < 1 || opts.burst > etcdMaxTxnOps {
		return fmt.Errorf("-burst %d is outside 1-%d (the etcd baseline writes a burst as one transaction, and etcd allows %d operations in one)", opts.burst, etcdMaxTxnOps, etcdMaxTxnOps)
	}
	if opts.interval < 0 || opts.timeout <= 0 || opts.settle < 0 {
		return errors.New("-interval and -settle must not be negative and -timeout must be positive")
	}

	tmp, err := os.MkdirTemp("", "meshfed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if opts.bin == "" {
		if opts.bin, err = buildMeshfed(ctx, tmp); err != nil {
			return err
		}
	}

	rep := report{started: time.Now().UTC(), opts: opts, machine: benchkit.MachineFacts()}
	for i, s := range opts.scenarios {
		benchkit.Logf("scenario %s: %d clusters, %d exports", s, s.clusters, s.exports)
		res, err := runScenario(ctx, opts, s, filepath.Join(tmp, fmt.Sprintf("s%d", i)))
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s, err)
		}
		rep.results = append(rep.results, res)
	}
	rep.finished = time.Now().UTC()
	if err := os.WriteFile(opts.out, []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	benchkit.Logf("wrote %s", opts.out)
	return nil
}

// runScenario measures meshfed and then the raw etcd baseline, one after
// the other so they do not share the CPU.
func runScenario(ctx context.Context, opts options, s scenario, dir string) (scenarioResult, error) {
	res := scenarioResult{scenario: s}
	var err error
	if res.meshfed, res.mem, err = runMeshfed(ctx, opts, s, filepath.Join(dir, "meshfed")); err != nil {
		return res, fmt.Errorf("meshfed: %w", err)
	}
	if res.etcd, err = runEtcd(ctx, opts, s, filepath.Join(dir, "etcd")); err != nil {
		return res, fmt.Errorf("raw etcd: %w", err)
	}
	return res, nil
}

func parseScenarios(s string) ([]scenario, error) {
	var out []scenario
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		c, e, ok := strings.Cut(f, "x")
		clusters, err1 := strconv.Atoi(c)
		exports, err2 := strconv.Atoi(e)
		if !ok || err1 != nil || err2 != nil || clusters < 1 || clusters > 1000 || exports < clusters || exports > 1_000_000 {
			return nil, fmt.Errorf("-scenarios: %q is not CLUSTERSxEXPORTS with 1-1000 clusters and clusters-1000000 exports (for example 10x1000)", f)
		}
		out = append(out, scenario{clusters: clusters, exports: exports})
	}
	if len(out) == 0 {
		return nil, errors.New("-scenarios is empty (for example 10x1000,100x10000)")
	}
	return out, nil
}

// buildMeshfed builds cmd/meshfed into dir, as the HA suite does.
func buildMeshfed(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "meshfed")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/meshfed/meshfed/cmd/meshfed")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	benchkit.Logf("building meshfed")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/meshfed (run from inside the module, or pass -bin): %w\n%s", err, b)
	}
	return out, nil
}
