package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/drill"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newDrillCommand(a *app) *cobra.Command {
	return group("drill", "Run failover drills and read their reports",
		`A drill is a declared experiment: it breaks one part of the clusterset on
purpose (drain, kill, blackhole, latency or trust-expiry, on a cluster, one
service's copy in a cluster, or a zone), drives or observes traffic while
it is broken, judges the result against SLO gates and undoes the fault.
Reports are written to files and kept by the control plane. See
docs/drills.md.`,
		`  meshfed drill run kill-east-b.yaml
  meshfed drill run --fault blackhole --scope cluster=east-b --duration 20s --dry-run
  meshfed drill list
  meshfed drill show 20261122-211500-kill-east-b`,
		newDrillRunCommand(a), newDrillListCommand(a), newDrillShowCommand(a))
}

// drillFlags are the flags of `drill run` that amend the drill file.
type drillFlags struct {
	fault, scope, service, name string
	from, protocols             []string
	duration, warmup, restore   time.Duration
	latency, period, maxP99     time.Duration
	rate                        int
	maxErrorRate                float64
	observe                     bool
	dir, out                    string
	dryRun                      bool
}

func newDrillRunCommand(a *app) *cobra.Command {
	var f drillFlags
	cmd := &cobra.Command{
		Use:   "run [FILE] [--fault KIND --scope cluster=NAME[,service=NAME.NAMESPACE] --duration D --rate R] [--dry-run] [-o json]",
		Short: "Run a drill: inject a fault, measure failover against SLO gates, roll back, report",
		Long: `Run the drill declared in FILE (YAML, see docs/drills.md) or by flags;
flags override the file.

1. Warmup: the built-in generator sends HTTP and/or gRPC requests through
   each client cluster's forward proxy (or, with --observe, the gateways'
   metrics are read) to learn the baseline: where traffic goes, its p99.
2. Fault: injected through the control plane (drain) or the scope
   gateways' admin port (blackhole, latency, trust-expiry; they expire by
   themselves shortly after the drill's planned end). kill is only offered
   for gateways meshfed started (meshfed up). One progress line per
   second shows the traffic split per cluster, errors and p99.
3. Rollback when the duration is over or as soon as a gate is breached,
   then restore: traffic keeps running to see it fail back.
4. Report: time to detect, time to fail over (first request and 99% of
   traffic), requests failed, p99 during the fault, time to fail back,
   each gate's verdict. Written as report.json, report.md and chart.png
   to --out (default DIR/drills/ID) and stored in the control plane
   (meshfed drill list / show).

--dry-run prints the blast radius instead: which services and client
clusters are affected and where their traffic goes now and would go with
the fault (as meshfed route explain computes it). It changes nothing.

The environment is a meshfed up directory (--dir, default the one meshfed up
uses; its meshfed.yaml is the control plane config unless --config is
given), or for a real deployment the gateways listed in the file under
environment.gateways.

Exit status: 0 when every gate held, 1 when a gate was breached or the
drill could not run, 2 when the drill file or the flags are wrong.`,
		Example: `  meshfed drill run --fault kill --scope cluster=east-b --duration 20s
  meshfed drill run drills/blackhole.yaml --rate 200 -o json > report.json
  meshfed drill run --fault drain --period 10s --scope cluster=east,service=echo.demo --from east
  meshfed drill run --fault latency --latency 300ms --scope cluster=east-b --max-p99 200ms --dry-run`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("unexpected argument %q: drill run takes at most one drill file", args[1])
			}
			return nil
		},
	}
	out := addOutputFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.fault, "fault", "", "fault kind: drain, kill, blackhole, latency or trust-expiry")
	fl.StringVar(&f.scope, "scope", "", "where: cluster=NAME[,service=NAME.NAMESPACE] or zone=ZONE")
	fl.DurationVar(&f.duration, "duration", 0, "how long the fault is held (default 30s)")
	fl.IntVar(&f.rate, "rate", 0, "requests per second per client cluster and protocol (default 50)")
	fl.StringSliceVar(&f.from, "from", nil, "client clusters (default: every cluster outside the scope)")
	fl.StringVar(&f.service, "service", "", "service the traffic calls, NAME.NAMESPACE (default the scope's, else echo.demo)")
	fl.StringSliceVar(&f.protocols, "protocols", nil, "generated traffic: http, grpc (default http)")
	fl.BoolVar(&f.observe, "observe", false, "generate nothing: observe existing traffic from the client gateways' metrics")
	fl.DurationVar(&f.warmup, "warmup", 0, "traffic before the fault, for the baseline (default 5s)")
	fl.DurationVar(&f.restore, "restore", 0, "traffic after the rollback, to see it fail back (default 10s)")
	fl.DurationVar(&f.latency, "latency", 0, "added delay of a latency fault, e.g. 300ms")
	fl.DurationVar(&f.period, "period", 0, "drain: traffic leaves linearly over this (default at once)")
	fl.Float64Var(&f.maxErrorRate, "max-error-rate", 0, "gate: largest share of failed requests, e.g. 0.001 (default 0.01 when no gate is set)")
	fl.DurationVar(&f.maxP99, "max-p99", 0, "gate: largest p99 latency of any one-second window, e.g. 500ms")
	fl.StringVar(&f.name, "name", "", "the drill's name, part of the report id (default FAULT-SCOPE)")
	fl.StringVar(&f.dir, "dir", defaultUpDir(), "the meshfed up directory (its up.json and meshfed.yaml)")
	fl.StringVar(&f.out, "out", "", "directory for report.json, report.md and chart.png (default DIR/drills/ID)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the blast radius and change nothing")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		spec, specDir, err := f.spec(cmd, args)
		if err != nil {
			return err
		}
		env, err := f.environment(cmd, spec, specDir)
		if err != nil {
			return err
		}
		if env.Config != "" && !a.conn.flags.Changed("config") {
			a.conn.configPath = env.Config
		}
		progress := a.streams.Out
		if out.value != formatTable {
			progress = a.streams.Err
		}
		r, err := drill.NewRunner(drill.Config{Spec: spec, Env: env, ControlPlane: drillControlPlane{a}, Progress: progress})
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		plan, err := r.Plan(ctx)
		if err != nil {
			return drillErr(err)
		}
		if f.dryRun {
			b, err := r.DryRun(ctx, plan)
			if err != nil {
				return err
			}
			if out.value == formatTable {
				return b.WriteText(a.streams.Out)
			}
			return writeJSONOrYAML(a.streams.Out, out.value, b)
		}
		rep, err := r.Run(ctx, plan)
		if err != nil {
			return err
		}
		return f.finish(ctx, a, env, rep, out.value)
	}
	return cmd
}

// spec reads the drill file, if any, and applies the flags.
func (f *drillFlags) spec(cmd *cobra.Command, args []string) (*drill.Spec, string, error) {
	spec := &drill.Spec{}
	specDir := ""
	if len(args) == 1 {
		data, err := os.ReadFile(args[0])
		if err != nil {
			return nil, "", fmt.Errorf("drill file: %w", err)
		}
		if spec, err = drill.ParseSpec(args[0], data); err != nil {
			return nil, "", drillErr(err)
		}
		specDir = filepath.Dir(args[0])
	}
	fl := cmd.Flags()
	set := func(flag, path string, apply func() error) error {
		if !fl.Changed(flag) {
			return nil
		}
		spec.SetFlag(path, "--"+flag)
		return apply()
	}
	dur := func(d time.Duration) drill.Duration { return drill.Duration(d) }
	for _, o := range []struct {
		flag, path string
		apply      func() error
	}{
		{"fault", "fault.kind", func() error { spec.Fault.Kind = f.fault; return nil }},
		{"scope", "scope", func() error {
			sc, err := drill.ParseScope(f.scope)
			if err != nil {
				return usagef("%v", err)
			}
			spec.Scope = sc
			for _, p := range []string{"scope.cluster", "scope.service", "scope.zone"} {
				spec.SetFlag(p, "--scope")
			}
			return nil
		}},
		{"duration", "duration", func() error { spec.Duration = dur(f.duration); return nil }},
		{"rate", "traffic.rate", func() error { spec.Traffic.Rate = f.rate; return nil }},
		{"from", "traffic.from", func() error { spec.Traffic.From = f.from; return nil }},
		{"service", "traffic.service", func() error { spec.Traffic.Service = f.service; return nil }},
		{"protocols", "traffic.protocols", func() error { spec.Traffic.Protocols = f.protocols; return nil }},
		{"observe", "traffic.observe", func() error { spec.Traffic.Observe = f.observe; return nil }},
		{"warmup", "warmup", func() error { spec.Warmup = dur(f.warmup); return nil }},
		{"restore", "restore", func() error { spec.Restore = dur(f.restore); return nil }},
		{"latency", "fault.latency", func() error { spec.Fault.Latency = dur(f.latency); return nil }},
		{"period", "fault.period", func() error { spec.Fault.Period = dur(f.period); return nil }},
		{"max-error-rate", "gates.max_error_rate", func() error { v := f.maxErrorRate; spec.Gates.MaxErrorRate = &v; return nil }},
		{"max-p99", "gates.max_p99", func() error { spec.Gates.MaxP99 = dur(f.maxP99); return nil }},
		{"name", "name", func() error { spec.Name = f.name; return nil }},
	} {
		if err := set(o.flag, o.path, o.apply); err != nil {
			return nil, "", err
		}
	}
	if len(args) == 0 && (spec.Fault.Kind == "" || (spec.Scope == drill.Scope{})) {
		return nil, "", usagef("give a drill file, or at least --fault and --scope (usage: %s)", cmd.UseLine())
	}
	if err := spec.Normalize(); err != nil {
		return nil, "", drillErr(err)
	}
	return spec, specDir, nil
}

// environment is the spec's real deployment, or the meshfed up directory
// (--dir, else the file's environment.dir, else the default).
func (f *drillFlags) environment(cmd *cobra.Command, spec *drill.Spec, specDir string) (*drill.Env, error) {
	dirSet := cmd.Flags().Changed("dir")
	if env := drill.SpecEnvironment(spec); env != nil && !dirSet {
		return env, nil
	}
	dir := f.dir
	if !dirSet && spec.Environment.Dir != "" {
		dir = spec.Environment.Dir
		if !filepath.IsAbs(dir) && specDir != "" {
			dir = filepath.Join(specDir, dir)
		}
	}
	env, err := drill.LoadUpEnvironment(dir)
	if err != nil {
		if errors.Is(err, drill.ErrNoEnvironment) && !dirSet && spec.Environment.Dir == "" {
			return nil, fmt.Errorf("%w; for a real deployment list the gateways under environment.gateways in the drill file (see docs/drills.md)", err)
		}
		return nil, err
	}
	return env, nil
}

// finish writes the report files, stores the report and prints it; a
// report whose gates did not hold is an error (exit status 1).
func (f *drillFlags) finish(ctx context.Context, a *app, env *drill.Env, rep *drill.Report, format string) error {
	dir := f.out
	if dir == "" {
		base := env.UpDir
		if base == "" {
			base = "."
		}
		dir = filepath.Join(base, "drills", rep.ID)
	}
	files, writeErr := rep.WriteFiles(dir)
	stored, storeErr := drillControlPlane{a}.store(ctx, rep)
	if format == formatTable {
		rep.WriteSummary(a.streams.Out)
		if writeErr == nil {
			fmt.Fprintf(a.streams.Out, "\nreport: %s\n", strings.Join(files, ", "))
		}
		if stored {
			fmt.Fprintf(a.streams.Out, "stored in the control plane: meshfed drill show %s\n", rep.ID)
		}
	} else {
		var doc any = rep
		if err := writeJSONOrYAML(a.streams.Out, format, doc); err != nil {
			return err
		}
	}
	if writeErr != nil {
		fmt.Fprintf(a.streams.Err, "meshfed: warning: the report files were not written: %v\n", writeErr)
	}
	if storeErr != nil {
		fmt.Fprintf(a.streams.Err, "meshfed: warning: the report was not stored in the control plane: %v\n", storeErr)
	}
	if !rep.Passed() {
		var failed []string
		for _, g := range rep.Gates {
			if !g.Passed {
				failed = append(failed, g.Name)
			}
		}
		why := "gates breached: " + strings.Join(failed, ", ")
		if len(failed) == 0 {
			why = rep.RollbackReason
		}
		if rep.RollbackError != "" {
			why += "; rollback failed: " + rep.RollbackError
		}
		return fmt.Errorf("drill %s failed (%s)", rep.ID, why)
	}
	return nil
}

// drillErr makes a drill spec error a usage error (exit status 2).
func drillErr(err error) error {
	var se *drill.SpecError
	if errors.As(err, &se) {
		return &usageError{err: err}
	}
	return err
}

func writeJSONOrYAML(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == formatYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
	} else {
		data = append(data, '\n')
	}
	_, err = w.Write(data)
	return err
}

// drillControlPlane is drill.ControlPlane over the CLI's admin
// connection; each call dials with the --timeout of the root command.
type drillControlPlane struct{ a *app }

// drillWatchCluster names the watcher: an admin may watch as any cluster
// and every watcher gets the same snapshot.
const drillWatchCluster = "meshfed-drill"

func (c drillControlPlane) State(ctx context.Context) (*client.State, error) {
	var st *client.State
	err := c.a.call(ctx, func(ctx context.Context, s *session) error {
		var err error
		st, err = fetchState(ctx, s, drillWatchCluster, nil)
		return err
	})
	return st, err
}

func (c drillControlPlane) PutDrain(ctx context.Context, d *meshfedv1.Drain) error {
	return c.a.call(ctx, func(ctx context.Context, s *session) error {
		_, err := s.admin.PutDrain(ctx, &meshfedv1.PutDrainRequest{Drain: d})
		if err != nil {
			return s.fail(err, drainSubject(d))
		}
		return nil
	})
}

func (c drillControlPlane) DeleteDrain(ctx context.Context, d *meshfedv1.Drain) error {
	return c.a.call(ctx, func(ctx context.Context, s *session) error {
		_, err := s.admin.DeleteDrain(ctx, &meshfedv1.DeleteDrainRequest{Cluster: d.GetCluster(), Namespace: d.GetNamespace(), Name: d.GetName()})
		if err != nil {
			return s.fail(err, drainSubject(d))
		}
		return nil
	})
}

func (c drillControlPlane) PutReport(ctx context.Context, r *meshfedv1.DrillReport) error {
	return c.a.call(ctx, func(ctx context.Context, s *session) error {
		if _, err := s.admin.PutDrillReport(ctx, &meshfedv1.PutDrillReportRequest{Report: r}); err != nil {
			return s.fail(err, fmt.Sprintf("drill report %q", r.GetId()))
		}
		return nil
	})
}

// store keeps the report in the control plane.
func (c drillControlPlane) store(ctx context.Context, rep *drill.Report) (bool, error) {
	r, err := rep.Stored()
	if err != nil {
		return false, err
	}
	// A drill interrupted by Ctrl-C still stores what it measured.
	if err := c.PutReport(context.WithoutCancel(ctx), r); err != nil {
		return false, err
	}
	return true, nil
}
