package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
	"github.com/meshfed/meshfed/test/failover"
)

// options are the command-line settings.
type options struct {
	out    string
	rounds int
	rate   int
	bin    string
	pick   bool
}

func main() { benchkit.Main("failover bench", run) }

// round is what one round of the scenarios measured.
type round struct {
	kill, restart failover.Result
	stop, cont    failover.Result
}

// run parses flags, runs the rounds and the Pick benchmark, and writes
// the section.
func run(ctx context.Context) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", `markdown file whose "## Failover and failback" section is written (the rest is kept)`)
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs SIGKILL+restart, then SIGSTOP+SIGCONT")
	fs.IntVar(&o.rate, "rate", 200, "request rate of the open-loop generator (requests/s)")
	fs.StringVar(&o.bin, "bin", "", "meshfed binary (default: go build ./cmd/meshfed into a temporary directory)")
	fs.BoolVar(&o.pick, "pick", true, "also run the globallb Pick micro-benchmark")
	if err := benchkit.ParseFlags(fs, os.Args[1:]); err != nil {
		return err
	}
	if o.rounds < 1 || o.rounds > 100 {
		return fmt.Errorf("-rounds %d is outside 1-100", o.rounds)
	}
	if o.rate < 10 || o.rate > 5000 {
		return fmt.Errorf("-rate %d is outside 10-5000 requests/s", o.rate)
	}

	tmp, err := os.MkdirTemp("", "meshfed-failover-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.bin == "" {
		benchkit.Logf("building meshfed")
		if o.bin, err = failover.Build(ctx, tmp); err != nil {
			return err
		}
	}
	rep := report{started: time.Now().UTC(), opts: o, machine: machineFacts()}
	if rep.rounds, err = runRounds(ctx, o, tmp); err != nil {
		return err
	}
	if o.pick {
		benchkit.Logf("running the globallb Pick benchmark")
		if rep.pick, err = pickBenchmark(ctx); err != nil {
			return err
		}
	}
	rep.finished = time.Now().UTC()
	if err := benchkit.WriteSection(o.out, sectionHeading, rep.markdown()); err != nil {
		return err
	}
	benchkit.Logf("wrote the %q section of %s", sectionHeading, o.out)
	return nil
}

// runRounds starts the environment once and runs every round on it.
func runRounds(ctx context.Context, o options, dir string) ([]round, error) {
	benchkit.Logf("starting the control plane and three gateways")
	env, err := failover.Start(ctx, failover.Options{Dir: dir, Bin: o.bin, Rate: o.rate, Logf: benchkit.Logf})
	if err != nil {
		return nil, err
	}
	var rounds []round
	err = func() error {
		for i := range o.rounds {
			var r round
			var err error
			benchkit.Logf("round %d/%d: SIGKILL near, then restart it", i+1, o.rounds)
			if r.kill, r.restart, err = env.Kill(ctx); err != nil {
				return err
			}
			benchkit.Logf("  %s", r.kill.Summary())
			benchkit.Logf("  %s", r.restart.Summary())
			benchkit.Logf("round %d/%d: SIGSTOP near, then SIGCONT it", i+1, o.rounds)
			if r.stop, r.cont, err = env.StopCont(ctx); err != nil {
				return err
			}
			benchkit.Logf("  %s", r.stop.Summary())
			benchkit.Logf("  %s", r.cont.Summary())
			rounds = append(rounds, r)
		}
		return nil
	}()
	if err != nil {
		err = fmt.Errorf("%w\nc0's /debug/routes:\n%s\n%s", err, env.RoutesText(context.Background()), env.Logs(30))
	}
	return rounds, errors.Join(err, env.Close())
}
