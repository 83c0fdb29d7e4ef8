package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// options are the command-line settings.
type options struct {
	out          string
	duration     time.Duration // open-loop run per path per round
	rate         int
	rounds       int
	conns        int // closed-loop connections
	pool         int // open-loop connection pool
	tputDuration time.Duration
	bulkDuration time.Duration
	idleConns    int
	settle       time.Duration
	skipHAProxy  bool
	haproxy      string
	bin          string // meshfed, for the control plane
	gatewayBin   string // runs the gateways
	paths        string // comma-separated path names to measure; empty: all
	procs        int    // the gateways' procs setting (GOMAXPROCS)
}

func main() { benchkit.Main("gateway bench", run) }

// run parses flags, sets up both chains, measures and writes the report.
func run(ctx context.Context) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", `markdown file whose "## Gateway data plane" section is written (the rest is kept)`)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "open-loop latency run per path per round")
	fs.IntVar(&o.rate, "rate", 1000, "open-loop request rate (requests/s)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every path once, in rotated order")
	fs.IntVar(&o.conns, "conns", 16, "connections of the closed-loop max req/s test")
	fs.IntVar(&o.pool, "pool", 64, "keep-alive connections the open-loop generator sends on (any free one takes the next request)")
	fs.DurationVar(&o.tputDuration, "tput-duration", 5*time.Second, "closed-loop max req/s run per path per round")
	fs.DurationVar(&o.bulkDuration, "bulk-duration", 5*time.Second, "single-stream bulk run per path per round")
	fs.IntVar(&o.idleConns, "idle-conns", 10000, "idle connections held open through each chain for the memory test (0: skip)")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "pause before each RSS reading (and CPU window while holding idle connections)")
	fs.BoolVar(&o.skipHAProxy, "skip-haproxy", false, "do not build the HAProxy chain (its columns say so)")
	fs.StringVar(&o.haproxy, "haproxy", "", "haproxy binary (default: PATH, else apt-get install haproxy when root)")
	fs.StringVar(&o.bin, "bin", "", "meshfed binary, for the control plane (default: go build ./cmd/meshfed into a temporary directory)")
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "binary that runs the gateways: meshfed-gateway, or a meshfed binary (then `meshfed gateway`) (default: go build ./cmd/meshfed-gateway)")
	fs.IntVar(&o.procs, "gateway-procs", 1, "the gateways' procs setting (GOMAXPROCS): 1 matches HAProxy's one thread per instance; 0 is Go's default (one per CPU)")
	fs.StringVar(&o.paths, "paths", "", "comma-separated paths to measure (direct, meshfed-tcp, meshfed-proxy, haproxy-tcp, haproxy-http); default all. \"direct\" is always measured: \"added\" is relative to it")
	backendMode := fs.Bool("backend", false, "internal: run as the benchmark's backend server process")
	if err := benchkit.ParseFlags(fs, os.Args[1:]); err != nil {
		return err
	}
	if *backendMode {
		return runBackend(ctx)
	}
	if err := o.validate(); err != nil {
		return err
	}

	// Children inherit the limit: B holds two sockets per idle connection.
	limit, err := raiseFileLimit(uint64(4*o.idleConns + 20000))
	if err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	// Gateway B (and A, and HAProxy B and A) hold two sockets per idle
	// connection: without CAP_SYS_RESOURCE the hard limit caps how many
	// the test can hold.
	held := o.idleConns
	if most := int(limit-fdReserve) / 2 / 100 * 100; held > most {
		held = max(most, 0)
		benchkit.Logf("the open-file limit is %d and cannot be raised (that needs CAP_SYS_RESOURCE): holding %d idle connections instead of %d", limit, held, o.idleConns)
	}
	tmp, err := os.MkdirTemp("", "meshfed-gwbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep := &report{started: time.Now().UTC(), opts: o, machine: machineFacts(), fileLimit: limit, idleHeld: held}
	if o.bin == "" || o.gatewayBin == "" {
		rep.source = sourceFacts() // the tree go build uses
		if err := buildBinaries(ctx, tmp, &o); err != nil {
			return err
		}
		rep.opts.bin, rep.opts.gatewayBin = o.bin, o.gatewayBin
	}
	if err := measure(ctx, o, tmp, rep); err != nil {
		return err
	}
	rep.finished = time.Now().UTC()
	if err := benchkit.WriteSection(o.out, sectionHeading, rep.markdown()); err != nil {
		return err
	}
	benchkit.Logf("wrote the gateway section of %s", o.out)
	return nil
}

func (o options) validate() error {
	var errs []error
	if o.duration < time.Second || o.tputDuration < time.Second || o.bulkDuration < time.Second {
		errs = append(errs, errors.New("-duration, -tput-duration and -bulk-duration must be at least 1s"))
	}
	if o.rate < 1 || o.rate > 100000 {
		errs = append(errs, fmt.Errorf("-rate %d is outside 1-100000", o.rate))
	}
	if o.rounds < 1 || o.rounds > 100 {
		errs = append(errs, fmt.Errorf("-rounds %d is outside 1-100", o.rounds))
	}
	if o.conns < 1 || o.conns > 1024 || o.pool < 1 || o.pool > 1024 {
		errs = append(errs, fmt.Errorf("-conns %d and -pool %d must be within 1-1024", o.conns, o.pool))
	}
	if o.procs < 0 || o.procs > 1024 {
		errs = append(errs, fmt.Errorf("-gateway-procs %d is outside 0-1024", o.procs))
	}
	if o.idleConns < 0 || o.idleConns > 100000 {
		errs = append(errs, fmt.Errorf("-idle-conns %d is outside 0-100000", o.idleConns))
	}
	if o.settle < 0 {
		errs = append(errs, errors.New("-settle must not be negative"))
	}
	return errors.Join(errs...)
}

// buildBinaries builds, into dir, cmd/meshfed and cmd/meshfed-gateway
// where o names no binary.
func buildBinaries(ctx context.Context, dir string, o *options) error {
	var pkgs []string
	if o.bin == "" {
		o.bin = filepath.Join(dir, "meshfed")
		pkgs = append(pkgs, "github.com/meshfed/meshfed/cmd/meshfed")
	}
	if o.gatewayBin == "" {
		o.gatewayBin = filepath.Join(dir, "meshfed-gateway")
		pkgs = append(pkgs, "github.com/meshfed/meshfed/cmd/meshfed-gateway")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	benchkit.Logf("building %s", strings.Join(pkgs, " "))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from inside the module, or pass -bin and -gateway-bin): %w\n%s", err, b)
	}
	return nil
}
