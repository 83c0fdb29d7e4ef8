package up

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/gateway"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Errors callers can test with errors.Is.
var (
	// ErrRunning: a federation started on the directory still runs.
	ErrRunning = errors.New("already running")
	// ErrPortInUse: a port of the layout is taken.
	ErrPortInUse = errors.New("is already in use")
	// ErrNoState: the directory holds no up.json.
	ErrNoState = errNoState
)

// DefaultReadyTimeout bounds how long Start waits for the federation.
const DefaultReadyTimeout = 60 * time.Second

// Options configure Start.
type Options struct {
	// Dir holds all state (required); it is made absolute.
	Dir string
	// Clusters is how many clusters to run (default DefaultClusters).
	Clusters int
	// BasePort is the first port of the layout (default DefaultBasePort).
	BasePort int
	// Detach starts the processes in their own sessions, so they outlive
	// this one; Stop is then not called, `meshfed down` stops them.
	Detach bool
	// Executable is the meshfed binary the children run (default this
	// process's). A binary that `go run` built in a temporary directory
	// is first copied to DIR/bin/meshfed, so that detached processes and
	// drills can start it after `go run` has removed its build.
	Executable string
	// ReadyTimeout bounds the wait for readiness (default
	// DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Federation is a federation Start started. Its methods are not safe for
// concurrent use.
type Federation struct {
	plan     *Plan
	opts     Options
	state    *State
	children []*child
	// ReadyIn is how long Start took.
	ReadyIn time.Duration
	// Executable is the binary the children run.
	Executable string
}

// State returns up.json as Start wrote it.
func (f *Federation) State() *State { return f.state }

// Start lays out and starts a federation in opts.Dir, and blocks until
// every gateway routes the demo services to every cluster and answers
// through its forward proxy, or until it fails, ctx is cancelled or
// ReadyTimeout passes. On failure it stops everything it started. It
// refuses to start when a federation already runs on the directory
// (ErrRunning) or a port is taken (ErrPortInUse), before starting
// anything.
func Start(ctx context.Context, opts Options) (*Federation, error) {
	begin := time.Now()
	if runtime.GOOS == "windows" {
		return nil, errors.New("up: meshfed up runs on Linux and other Unix systems")
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.Dir == "" {
		return nil, errors.New("up: no directory given (--dir)")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("up: --dir %q: %w", opts.Dir, err)
	}
	opts.Dir = dir
	old, err := Load(filepath.Join(dir, StateFile))
	if err == nil {
		if r := running(old); len(r) > 0 {
			p := r[len(r)-1] // the control plane, when it runs
			return nil, fmt.Errorf("up: %w in %s (%s pid %d, %d processes in all): stop it with `meshfed down --dir %s`", ErrRunning, dir, p.what, p.pid, len(r), dir)
		}
	} else if _, statErr := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(statErr, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (remove it to start afresh)", err)
	} else {
		old = nil
	}
	exe, copyFrom, err := executable(opts.Executable, dir)
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(PlanConfig{Dir: dir, Clusters: opts.Clusters, BasePort: opts.BasePort, Executable: exe})
	if err != nil {
		return nil, err
	}
	if err := checkPorts(plan); err != nil {
		return nil, err
	}
	if copyFrom != "" {
		if err := copyExecutable(copyFrom, exe); err != nil {
			return nil, err
		}
	}
	st := plan.State
	st.PIDs = map[string]int{}
	f := &Federation{plan: plan, opts: opts, state: &st, Executable: exe}
	f.progress("meshfed up: %d clusters in %s, ports %d-%d", len(st.Clusters), dir, st.BasePort, LastPort(st.BasePort, len(st.Clusters)))
	ok := false
	defer func() {
		if !ok {
			f.abort()
		}
	}()
	if err := f.run(ctx, old); err != nil {
		return nil, err
	}
	f.state.StartedAt = begin
	f.state.Detached = opts.Detach
	if err := f.state.Save(dir); err != nil {
		return nil, fmt.Errorf("up: writing %s: %w", StateFile, err)
	}
	f.ReadyIn = time.Since(begin)
	ok = true
	return f, nil
}

// run does the work of Start once the plan is checked.
func (f *Federation) run(ctx context.Context, old *State) error {
	ctx, cancel := context.WithTimeout(ctx, f.opts.ReadyTimeout)
	defer cancel()
	p, st := f.plan, f.state
	pkis := make([]*clusterPKI, len(st.Clusters))
	for i, c := range st.Clusters {
		pki, err := p.preparePKI(c)
		if err != nil {
			return err
		}
		pkis[i] = pki
		how := "CA kept"
		if pki.created {
			how = "CA created"
		}
		f.progress("cluster %s: trust domain %s, %s %s %s (%s in %s)", c.Name, c.TrustDomain, c.Provider, c.Region, c.Zone, how, p.CADir(c.Name))
	}

	// The control plane writes its CLI config when it is ready; remove
	// the last run's so that its presence means this run's is written.
	cpConfig := filepath.Join(p.ControlplaneDir(), "meshfed.yaml")
	if err := os.Remove(cpConfig); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("up: %w", err)
	}
	if err := os.MkdirAll(p.ControlplaneDir(), 0o700); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	t0 := time.Now()
	cp, err := f.start("control plane", "controlplane", p.ControlplaneArgs(), st.Logs["controlplane"])
	if err != nil {
		return err
	}
	f.progress("starting control plane (pid %d)...", cp.pid)
	demo, err := f.start("demo backends", "demo", p.DemoArgs(), st.Logs["demo"])
	if err != nil {
		return err
	}
	f.progress("starting demo backends (pid %d)...", demo.pid)
	cc, err := f.waitControlplane(ctx, cpConfig)
	if err != nil {
		return err
	}
	f.progress("control plane ready on %s (%s)", st.Controlplane, since(t0))
	if err := cc.Save(st.Config); err != nil {
		return fmt.Errorf("up: writing %s: %w", st.Config, err)
	}
	if err := f.registerAll(ctx, cc, old, pkis); err != nil {
		return err
	}

	cpc := gateway.ControlPlaneConfig{Address: cc.Server, CA: cc.CA, ServerID: cc.ServerID}
	for i := range st.Clusters {
		c := &st.Clusters[i]
		if err := writeGatewayConfig(p.GatewayConfigPath(c.Name), p.GatewayConfig(i, cpc)); err != nil {
			return err
		}
		g, err := f.start("gateway "+c.Name, "", c.GatewayArgs, c.GatewayLog)
		if err != nil {
			return err
		}
		c.GatewayPID = g.pid
		if err := st.Save(p.Config.Dir); err != nil {
			return fmt.Errorf("up: writing %s: %w", StateFile, err)
		}
		f.progress("cluster %s: starting gateway (pid %d)...", c.Name, g.pid)
	}
	if err := f.waitBackends(ctx); err != nil {
		return err
	}
	return f.waitGateways(ctx, t0)
}

// registerAll registers every cluster and its bundle, and removes the
// clusters a previous run on the directory registered but this one does
// not run.
func (f *Federation) registerAll(ctx context.Context, cc *client.Config, old *State, pkis []*clusterPKI) error {
	conn, err := client.Dial(cc)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer conn.Close()
	st := f.state
	if old != nil {
		for _, c := range old.Clusters {
			if st.Cluster(c.Name) != nil {
				continue
			}
			if _, err := conn.Admin.DeleteCluster(ctx, &meshfedv1.DeleteClusterRequest{Name: c.Name}); err != nil {
				f.progress("cluster %s: from an earlier run with more clusters; could not remove it: %v", c.Name, err)
				continue
			}
			f.progress("cluster %s: removed (an earlier run had it; this one has %d clusters)", c.Name, len(st.Clusters))
		}
	}
	for i, c := range st.Clusters {
		if err := register(ctx, conn.Admin, c, pkis[i]); err != nil {
			return err
		}
	}
	return nil
}

// start starts a child and records its PID in up.json; key is its PIDs
// key ("" for a gateway, which the caller records).
func (f *Federation) start(what, key string, args []string, logPath string) (*child, error) {
	c, err := startChild(what, args, f.plan.Config.Dir, logPath, f.opts.Detach)
	if err != nil {
		return nil, err
	}
	f.children = append(f.children, c)
	if key != "" {
		f.state.PIDs[key] = c.pid
		if err := f.state.Save(f.plan.Config.Dir); err != nil {
			return nil, fmt.Errorf("up: writing %s: %w", StateFile, err)
		}
	}
	return c, nil
}

// abort stops what a failed Start started.
func (f *Federation) abort() {
	if len(f.children) == 0 {
		return
	}
	f.progress("stopping what was started...")
	f.Stop(func(s Stopped) {})
}

// Wait blocks until ctx is done, or until every process Start started
// has exited (say, `meshfed down` stopped them). It calls exited for each
// process that ends meanwhile. It returns ctx.Err(), or nil when all
// exited.
func (f *Federation) Wait(ctx context.Context, exited func(what string, pid int, err error)) error {
	quit := make(chan struct{})
	defer close(quit)
	ends := make(chan *child, len(f.children))
	for _, c := range f.children {
		go func() {
			select {
			case <-c.done:
				ends <- c
			case <-quit:
			}
		}()
	}
	for left := len(f.children); left > 0; left-- {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-ends:
			exited(c.what, c.pid, c.err)
		}
	}
	return nil
}

// Stop stops the federation: the processes up.json lists now (a drill
// may have restarted a gateway since Start), if they are still ours, and
// whatever Start started. report is called once per process. up.json is
// then rewritten without PIDs.
func (f *Federation) Stop(report func(Stopped)) {
	st := f.state
	if cur, err := Load(filepath.Join(f.plan.Config.Dir, StateFile)); err == nil && cur.Dir == st.Dir {
		st = cur
	}
	seen := map[int]bool{}
	stopState(st, func(s Stopped) {
		seen[s.PID] = true
		report(s)
	})
	for _, c := range f.children {
		if seen[c.pid] || c.exited() {
			continue
		}
		s := stopOne(proc{c.what, c.pid}, st.Dir)
		report(s)
	}
	markStopped(st)
	st.Save(st.Dir)
	f.state = st
}

// markStopped clears the PIDs of a stopped federation.
func markStopped(st *State) {
	st.PIDs = nil
	for i := range st.Clusters {
		st.Clusters[i].GatewayPID = 0
	}
	st.Detached = false
	st.StoppedAt = time.Now().UTC()
}

// Down stops the federation recorded in dir's up.json: every recorded
// process that is still ours (see Owned), gateways and demo backends
// first, the control plane last; SIGTERM, then SIGKILL after StopTimeout.
// report is called as each ends. up.json is kept, without PIDs, and the
// rest of the state too, so `meshfed up` on dir starts the same
// federation again.
func Down(dir string, report func(Stopped)) ([]Stopped, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("up: --dir %q: %w", dir, err)
	}
	path := filepath.Join(abs, StateFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("up: %w in %s (%s does not exist): nothing to stop; is --dir the one `meshfed up` used?", ErrNoState, abs, path)
	}
	st, err := Load(path)
	if err != nil {
		return nil, err
	}
	var out []Stopped
	stopState(st, func(s Stopped) {
		out = append(out, s)
		if report != nil {
			report(s)
		}
	})
	markStopped(st)
	if err := st.Save(abs); err != nil {
		return out, fmt.Errorf("up: writing %s: %w", path, err)
	}
	return out, nil
}

// checkPorts listens on every port of the plan, to fail before anything
// starts.
func checkPorts(p *Plan) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	last := LastPort(p.Config.BasePort, p.Config.Clusters)
	for _, u := range p.Ports {
		l, err := net.Listen("tcp", u.Addr)
		if err != nil {
			problem := fmt.Errorf("cannot be listened on: %w", cause(err))
			if errors.Is(err, syscall.EADDRINUSE) {
				problem = ErrPortInUse
			}
			return fmt.Errorf("up: port %d (%s, for the %s) %w: pick another range with --base-port (this run needs ports %d-%d)",
				u.Port, u.Addr, u.Use, problem, p.Config.BasePort, last)
		}
		ls = append(ls, l)
	}
	return nil
}

// cause is the system error under a net error, which says it best.
func cause(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// executable returns the binary the children run, and the binary to
// copy there first if it must be copied.
func executable(exe, dir string) (path, copyFrom string, err error) {
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("up: finding the meshfed executable: %w", err)
		}
	}
	// `go run` builds into a go-build temporary directory it removes on
	// exit; run a copy that outlives it.
	if slices.ContainsFunc(strings.Split(filepath.ToSlash(exe), "/"), func(s string) bool { return strings.HasPrefix(s, "go-build") }) {
		return filepath.Join(dir, "bin", "meshfed"), exe, nil
	}
	return exe, "", nil
}

// writeGatewayConfig writes a gateway's YAML config.
func writeGatewayConfig(path string, cfg *gateway.Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	data = append([]byte("# Written by meshfed up at every start; see docs/gateway.md.\n"), data...)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	return nil
}

func (f *Federation) progress(format string, args ...any) {
	fmt.Fprintf(f.opts.Progress, format+"\n", args...)
}

func since(t time.Time) string {
	return time.Since(t).Round(10 * time.Millisecond).String()
}
