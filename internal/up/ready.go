package up

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/gateway"
)

// pollInterval is how often readiness is checked.
const pollInterval = 50 * time.Millisecond

// poll calls check until it reports done. It fails when ctx ends (with
// check's last reason and the log to read) or when a child exits.
func (f *Federation) poll(ctx context.Context, what, logPath string, check func(ctx context.Context) (done bool, reason string)) error {
	reason := "not checked yet"
	for {
		for _, c := range f.children {
			if c.exited() {
				return fmt.Errorf("up: waiting for %s: %w", what, c.exitError())
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		done, r := check(cctx)
		cancel()
		if done {
			return nil
		}
		if r != "" {
			reason = r
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("up: %s not ready after %s: %s; see %s:\n%s", what, f.opts.ReadyTimeout, reason, logPath, tail(logPath, 15))
			}
			return fmt.Errorf("up: interrupted while waiting for %s", what)
		case <-time.After(pollInterval):
		}
	}
}

// direct returns a transport for loopback checks that ignores
// HTTP_PROXY.
func direct() http.RoundTripper { return &http.Transport{Proxy: nil, DisableKeepAlives: true} }

// get fetches url and returns its status and body (at most 1 MiB).
func get(ctx context.Context, rt http.RoundTripper, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// waitControlplane waits for /readyz and for the CLI config the control
// plane writes once ready, and returns that config.
func (f *Federation) waitControlplane(ctx context.Context, cpConfig string) (*client.Config, error) {
	var cc *client.Config
	err := f.poll(ctx, "the control plane", f.state.Logs["controlplane"], func(ctx context.Context) (bool, string) {
		code, body, err := get(ctx, direct(), "http://"+f.state.ControlplaneHTTP+"/readyz")
		if err != nil {
			return false, err.Error()
		}
		if code != http.StatusOK {
			return false, fmt.Sprintf("/readyz: %d %s", code, body)
		}
		c, err := client.Load(cpConfig)
		if err != nil {
			return false, err.Error()
		}
		if c.Server != f.state.Controlplane {
			return false, fmt.Sprintf("%s names %s, not %s", cpConfig, c.Server, f.state.Controlplane)
		}
		cc = c
		return true, ""
	})
	return cc, err
}

// waitBackends waits until every demo backend accepts connections.
func (f *Federation) waitBackends(ctx context.Context) error {
	return f.poll(ctx, "the demo backends", f.state.Logs["demo"], func(ctx context.Context) (bool, string) {
		var d net.Dialer
		for _, b := range f.plan.Backends {
			c, err := d.DialContext(ctx, "tcp", b.Addr)
			if err != nil {
				return false, fmt.Sprintf("%s (%s): %v", b, b.Protocol, err)
			}
			c.Close()
		}
		return true, ""
	})
}

// waitGateways waits until each gateway is ready, routes echo.demo to
// every cluster and catalog.demo to the last one, and answers both
// through its forward proxy. It reports each gateway as it gets there.
func (f *Federation) waitGateways(ctx context.Context, t0 time.Time) error {
	st := f.state
	for i := range st.Clusters {
		c := st.Clusters[i]
		err := f.poll(ctx, "gateway "+c.Name, c.GatewayLog, func(ctx context.Context) (bool, string) {
			return gatewayReady(ctx, st, c)
		})
		if err != nil {
			return err
		}
		f.progress("cluster %s: gateway ready, routes %s to %d clusters (%s)", c.Name, Echo, len(st.Clusters), since(t0))
	}
	return nil
}

// gatewayReady checks one gateway: /readyz, its /debug/snapshot, and a
// request for each demo service through its forward proxy.
func gatewayReady(ctx context.Context, st *State, c Cluster) (bool, string) {
	admin := "http://" + c.Admin
	code, body, err := get(ctx, direct(), admin+"/readyz")
	if err != nil {
		return false, err.Error()
	}
	if code != http.StatusOK {
		return false, fmt.Sprintf("/readyz: %d %s", code, body)
	}
	_, body, err = get(ctx, direct(), admin+"/debug/snapshot")
	if err != nil {
		return false, err.Error()
	}
	var snap gateway.DebugSnapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		return false, "/debug/snapshot: " + err.Error()
	}
	var all []string
	for _, o := range st.Clusters {
		all = append(all, o.Name)
	}
	owner := st.Clusters[len(st.Clusters)-1].Name
	if why := routes(&snap, Echo, all); why != "" {
		return false, why
	}
	if why := routes(&snap, Catalog, []string{owner}); why != "" {
		return false, why
	}
	proxyURL, err := url.Parse(c.ForwardProxy)
	if err != nil {
		return false, err.Error()
	}
	via := &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: true}
	for _, svc := range []struct {
		name string
		port int
		from string // the cluster that must answer; "" for any
	}{{Echo, EchoHTTPPort, ""}, {Catalog, CatalogHTTPPort, owner}} {
		u := fmt.Sprintf("http://%s.svc.clusterset.local:%d/", svc.name, svc.port)
		code, body, err := get(ctx, via, u)
		if err != nil {
			return false, fmt.Sprintf("GET %s via %s: %v", u, c.ForwardProxy, err)
		}
		var r DemoReply
		if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Cluster == "" || (svc.from != "" && r.Cluster != svc.from) {
			return false, fmt.Sprintf("GET %s via %s: %d %s", u, c.ForwardProxy, code, body)
		}
	}
	return true, ""
}

// routes says why snap does not route svc to each of clusters ("" if it
// does): the service must list the cluster with ready endpoints, and the
// cluster must be alive unless it is the gateway's own.
func routes(snap *gateway.DebugSnapshot, svc string, clusters []string) string {
	alive := map[string]bool{snap.Cluster: true}
	for _, c := range snap.Clusters {
		alive[c.Name] = alive[c.Name] || c.Alive
	}
	for _, s := range snap.Services {
		if s.Service != svc {
			continue
		}
		ready := map[string]bool{}
		for _, t := range s.Clusters {
			ready[t.Cluster] = t.Ready > 0 && !t.Conflicted
		}
		for _, c := range clusters {
			switch {
			case !ready[c]:
				return fmt.Sprintf("%s: no ready endpoints of cluster %s yet", svc, c)
			case !alive[c]:
				return fmt.Sprintf("%s: cluster %s has no live gateway yet", svc, c)
			}
		}
		return ""
	}
	return fmt.Sprintf("%s is not imported yet", svc)
}
