package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// drainFlags are --service, shared by drain and undrain.
type drainFlags struct {
	service string
}

func (f *drainFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.service, "service", "", "only this service of the cluster, as NAMESPACE/NAME (default: the whole cluster)")
}

// drain returns the drain named by cluster and --service, validated.
func (f *drainFlags) drain(cluster string) (*meshfedv1.Drain, error) {
	if err := schema.ValidateName("", "cluster name", cluster); err != nil {
		return nil, err
	}
	d := &meshfedv1.Drain{Cluster: cluster}
	if f.service != "" {
		ns, name, ok := strings.Cut(f.service, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, usagef("--service %q is not NAMESPACE/NAME (for example demo/echo)", f.service)
		}
		d.Namespace, d.Name = ns, name
	}
	if err := schema.ValidateDrain(d); err != nil {
		return nil, err
	}
	return d, nil
}

// drainSubject names what a drain moves traffic away from, for output:
// `cluster "east"` or `service demo/echo in cluster "east"`.
func drainSubject(d *meshfedv1.Drain) string {
	if d.GetNamespace() == "" && d.GetName() == "" {
		return fmt.Sprintf("cluster %q", d.GetCluster())
	}
	return fmt.Sprintf("service %s/%s in cluster %q", d.GetNamespace(), d.GetName(), d.GetCluster())
}

func newClusterDrainCommand(a *app) *cobra.Command {
	var (
		flags  drainFlags
		period time.Duration
	)
	cmd := &cobra.Command{
		Use:   "drain NAME [--service NAMESPACE/NAME] [--period DURATION]",
		Short: "Move traffic away from a cluster or one of its services",
		Long: `Drain a cluster, or with --service one service's copy in that cluster:
gateways send it a share of traffic that falls linearly from its usual
share to nothing over --period (at once when --period is 0, the default).
Traffic stays away until ` + "`meshfed cluster undrain`" + `; the cluster record
and its exports are not changed. Removing the cluster removes its drains.

The period is whole seconds, at most 168h (7 days). The control plane
records when the drain started. Draining again never gives traffic back:
with the same period nothing changes; with another period the share
already drained is kept and the rest leaves at the new rate (so
` + "`--period 0`" + ` finishes a drain at once).`,
		Example: `  # Before maintenance: move traffic off east over ten minutes.
  meshfed cluster drain east --period 10m

  # Take one service's copy in east out of rotation at once.
  meshfed cluster drain east --service demo/echo

  meshfed cluster drains
  meshfed cluster undrain east`,
		Args: positional("NAME"),
	}
	out := addOutputFlag(cmd)
	flags.register(cmd)
	cmd.Flags().DurationVar(&period, "period", 0, "how long traffic takes to leave, e.g. 30s, 10m, 2h; 0 means at once")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		d, err := flags.drain(args[0])
		if err != nil {
			return err
		}
		if d.PeriodSeconds, err = periodSeconds(period); err != nil {
			return err
		}
		what := schema.DescribeDrain(d.GetCluster(), d.GetNamespace(), d.GetName())
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.PutDrain(ctx, &meshfedv1.PutDrainRequest{Drain: d})
			if err != nil {
				return s.fail(err, what)
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) {
				fmt.Fprintln(w, drainSummary(resp.GetDrain()))
			})
		})
	}
	return cmd
}

// periodSeconds checks --period and returns it in seconds.
func periodSeconds(d time.Duration) (int64, error) {
	switch {
	case d < 0:
		return 0, usagef("--period %s is negative (use 0 to drain at once)", d)
	case d%time.Second != 0:
		return 0, usagef("--period %s is not a whole number of seconds", d)
	case d > schema.MaxDrainPeriodSeconds*time.Second:
		return 0, usagef("--period %s is longer than the 168h (7 days) allowed", d)
	}
	return int64(d / time.Second), nil
}

// drainSummary is what `cluster drain` prints, e.g.
// `cluster "east" draining over 30s`.
func drainSummary(d *meshfedv1.Drain) string {
	if d.GetPeriodSeconds() == 0 {
		return drainSubject(d) + " draining at once"
	}
	return drainSubject(d) + " draining over " + period(d.GetPeriodSeconds())
}

// period formats seconds as a Go duration without zero tails: 90s is
// "1m30s", 600s "10m", 3600s "1h".
func period(seconds int64) string {
	if seconds == 0 {
		return "at once"
	}
	s := (time.Duration(seconds) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func newClusterUndrainCommand(a *app) *cobra.Command {
	var flags drainFlags
	cmd := &cobra.Command{
		Use:   "undrain NAME [--service NAMESPACE/NAME]",
		Short: "End a drain: the cluster or service takes traffic again",
		Long: `End the drain of a cluster, or with --service of one service's copy in
that cluster. Gateways give it its usual share of traffic again at once.
A service drain and its cluster's drain are separate: undraining one
leaves the other.`,
		Example: `  meshfed cluster undrain east
  meshfed cluster undrain east --service demo/echo`,
		Args: positional("NAME"),
	}
	flags.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		d, err := flags.drain(args[0])
		if err != nil {
			return err
		}
		what := schema.DescribeDrain(d.GetCluster(), d.GetNamespace(), d.GetName())
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			if _, err := s.admin.DeleteDrain(ctx, &meshfedv1.DeleteDrainRequest{Cluster: d.GetCluster(), Namespace: d.GetNamespace(), Name: d.GetName()}); err != nil {
				return s.fail(err, what)
			}
			fmt.Fprintf(a.streams.Out, "%s undrained\n", drainSubject(d))
			return nil
		})
	}
	return cmd
}

func newClusterDrainsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drains",
		Short: "List drains and how far they have gone",
		Long: `List every drain: the cluster, the service ("*" for the whole cluster),
the period, when it started, and PROGRESS, the share of the period
elapsed (100% once traffic has left).`,
		Example: `  meshfed cluster drains
  meshfed cluster drains -o json | jq -r '.drains[] | select(.namespace == "") | .cluster'`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListDrains(ctx, &meshfedv1.ListDrainsRequest{})
			if err != nil {
				return s.fail(err, "")
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { drainTable(w, resp, a.now()) })
		})
	}
	return cmd
}

func drainTable(w io.Writer, resp *meshfedv1.ListDrainsResponse, now time.Time) {
	row(w, "CLUSTER", "SERVICE", "PERIOD", "STARTED", "PROGRESS")
	for _, d := range resp.GetDrains() {
		svc := "*"
		if d.GetNamespace() != "" || d.GetName() != "" {
			svc = d.GetNamespace() + "/" + d.GetName()
		}
		pct := strconv.Itoa(int(math.Floor(schema.DrainProgress(d, now)*100))) + "%"
		started := "<unknown>"
		if d.GetStartedAt() != nil {
			started = age(d.GetStartedAt(), now) + " ago"
		}
		row(w, d.GetCluster(), svc, period(d.GetPeriodSeconds()), started, pct)
	}
}
