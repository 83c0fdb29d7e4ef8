package drill

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"

	"github.com/meshfed/meshfed/internal/up"
)

// Env is where a drill runs: each cluster's gateway endpoints, and for a
// `meshfed up` federation the processes meshfed started.
type Env struct {
	// Gateways by cluster name.
	Gateways map[string]*Gateway
	// UpDir is the `meshfed up` directory, or "" for a real deployment.
	UpDir string
	// Config is the CLI config (meshfed.yaml) of the control plane, when
	// the environment knows it (`meshfed up`).
	Config string
}

// Gateway is one cluster's gateway as the runner reaches it.
type Gateway struct {
	Cluster string
	// Admin is the admin port's base URL, http://HOST:PORT.
	Admin string
	// ForwardProxy is the forward proxy's URL; nil when unknown.
	ForwardProxy *url.URL
	// Process is set when meshfed started the gateway (`meshfed up`):
	// only then can a drill kill and restart it.
	Process *Process
}

// Process is a gateway process meshfed started.
type Process struct {
	PID  int
	Args []string
	Log  string
}

// ErrNoEnvironment means neither a `meshfed up` directory nor a list of
// gateways says where the clusterset runs.
var ErrNoEnvironment = errors.New("drill: no environment")

// LoadUpEnvironment reads DIR/up.json of a running `meshfed up`.
func LoadUpEnvironment(dir string) (*Env, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	st, err := up.Load(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoEnvironment, err)
	}
	if !st.StoppedAt.IsZero() {
		return nil, fmt.Errorf("%w: the federation in %s was stopped at %s (start it with `meshfed up --dir %s`)",
			ErrNoEnvironment, abs, st.StoppedAt.Format("2006-01-02 15:04:05"), abs)
	}
	env := &Env{Gateways: map[string]*Gateway{}, UpDir: abs, Config: st.Config}
	if env.Config == "" {
		env.Config = filepath.Join(abs, "meshfed.yaml")
	}
	for _, c := range st.Clusters {
		g := &Gateway{Cluster: c.Name}
		if c.Admin != "" {
			if g.Admin, err = adminURL(c.Admin); err != nil {
				return nil, fmt.Errorf("drill: %s: cluster %q: admin: %w", filepath.Join(abs, up.StateFile), c.Name, err)
			}
		}
		proxy := c.ForwardProxy
		if proxy == "" && c.Outbound != "" {
			proxy = "http://" + c.Outbound
		}
		if proxy != "" {
			if g.ForwardProxy, err = proxyURL(proxy); err != nil {
				return nil, fmt.Errorf("drill: %s: cluster %q: forward_proxy: %w", filepath.Join(abs, up.StateFile), c.Name, err)
			}
		}
		if c.GatewayPID > 0 && len(c.GatewayArgs) > 0 {
			g.Process = &Process{PID: c.GatewayPID, Args: c.GatewayArgs, Log: c.GatewayLog}
		}
		env.Gateways[c.Name] = g
	}
	return env, nil
}

// SpecEnvironment is the real deployment a spec lists under
// environment.gateways; nil when it lists none.
func SpecEnvironment(s *Spec) *Env {
	if len(s.Environment.Gateways) == 0 {
		return nil
	}
	env := &Env{Gateways: map[string]*Gateway{}}
	for name, gw := range s.Environment.Gateways {
		g := &Gateway{Cluster: name}
		g.Admin, _ = adminURL(gw.Admin) // validated by Normalize
		if gw.ForwardProxy != "" {
			g.ForwardProxy, _ = proxyURL(gw.ForwardProxy)
		}
		env.Gateways[name] = g
	}
	return env
}

// Clusters are the environment's cluster names, sorted.
func (e *Env) Clusters() []string {
	out := make([]string, 0, len(e.Gateways))
	for name := range e.Gateways {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
