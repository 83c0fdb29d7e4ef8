package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/internal/gatewaycmd"
)

// Exit statuses returned by Main.
const (
	ExitOK    = 0 // the command succeeded
	ExitError = 1 // the command failed
	ExitUsage = 2 // the command line was wrong
)

// Streams are the standard streams a command tree reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Main runs the meshfed command line args (without the program name) and
// returns the exit status. It blocks until the command is done; cancelling
// ctx aborts calls to the control plane. Errors are printed on errOut as
// "meshfed: <message>".
func Main(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	root := NewRoot(Streams{In: in, Out: out, Err: errOut})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(errOut, "meshfed: %s\n", err)
	var u *usageError
	if errors.As(err, &u) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(errOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	return ExitError
}

// NewRoot builds the meshfed command tree writing to streams. Run it with
// ExecuteContext; it prints nothing on error (Main does).
func NewRoot(s Streams) *cobra.Command {
	a := &app{streams: s, now: time.Now}
	root := &cobra.Command{
		Use:   "meshfed",
		Short: "Operate a meshfed clusterset",
		Long: `meshfed operates a clusterset: the clusters that share services through
east-west gateways, the services they export and import, the trust bundles
of their SPIFFE trust domains, and per-service failover and authorization
policies.

Every verb talks to the control plane's admin API. Where it is and how to
authenticate comes from the client config file (--config, default
$MESHFED_CONFIG or meshfed/meshfed.yaml in the user config directory),
which ` + "`meshfed controlplane`" + ` writes into its data directory. The connection
flags override fields of that file; without a file they must give
--server, --ca, --server-id and --cert/--key or --token.

Exit status: 0 on success, 1 when the command failed, 2 when the command
line was wrong.`,
		Example: `  export MESHFED_CONFIG=/var/lib/meshfed/meshfed.yaml
  meshfed cluster list
  meshfed import list -o yaml`,
		Args:          noArgs,
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	a.conn.register(root.PersistentFlags())

	root.AddCommand(
		newClusterCommand(a),
		newExportCommand(a),
		newImportCommand(a),
		newPolicyCommand(a),
		newTrustCommand(a),
		newControlPlaneCommand(s),
		gatewaycmd.New(gatewaycmd.Streams{Out: s.Out, Err: s.Err}),
		newRouteCommand(a),
		newCACommand(s),
		newUpCommand(s), newDownCommand(s), newDemoBackendCommand(s),
		newDrillCommand(a),
		newAgentCommand(s),
		newInstallCommand(s),
	)
	return root
}

// group returns a command that only holds subcommands. Run bare it prints
// its help; with an unknown subcommand it is a usage error.
func group(use, short, long, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    noArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(subs...)
	return c
}

// usageError marks an error in the command line itself (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// noArgs refuses arguments; on a command with subcommands the first
// argument is a mistyped subcommand.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if c.HasSubCommands() {
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		hint := ""
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return usagef("unknown command %q for %q%s", args[0], c.CommandPath(), hint)
	}
	return usagef("unexpected argument %q: %q takes no arguments", args[0], c.CommandPath())
}

// positional requires exactly the named arguments, e.g. positional("NAME").
func positional(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef("missing %s argument (usage: %s)", names[len(args)], c.UseLine())
		case len(args) > len(names):
			return usagef("unexpected argument %q (usage: %s)", args[len(names)], c.UseLine())
		}
		return nil
	}
}

// requireFlags fails with a usage error naming the first of flags not set.
func requireFlags(c *cobra.Command, flags ...string) error {
	for _, name := range flags {
		f := c.Flags().Lookup(name)
		if f != nil && !f.Changed {
			return usagef("flag --%s is required: %s", name, strings.TrimSuffix(f.Usage, " (required)"))
		}
	}
	return nil
}
