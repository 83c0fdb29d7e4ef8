package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/meshfed/meshfed/gateway"
)

// Table is c0's routing table for echo.demo, as /debug/routes shows it.
type Table struct {
	// Share and Healthy by cluster.
	Share   map[string]float64
	Healthy map[string]bool
	Notes   map[string][]string
	Panic   bool
}

// table reads c0's table for echo.demo.
func (e *Env) table(ctx context.Context) (Table, error) {
	var d gateway.DebugRoutes
	if err := e.getJSON(ctx, "http://"+e.c0Admin+"/debug/routes?service="+service, &d); err != nil {
		return Table{}, err
	}
	if len(d.Services) != 1 {
		return Table{}, fmt.Errorf("/debug/routes: %d tables for %s", len(d.Services), service)
	}
	s := d.Services[0]
	t := Table{Share: map[string]float64{}, Healthy: map[string]bool{}, Notes: map[string][]string{}, Panic: s.Panic}
	for _, r := range s.Targets {
		t.Share[r.Cluster] = r.Share
		t.Healthy[r.Cluster] = r.Healthy
		t.Notes[r.Cluster] = r.Notes
	}
	return t, nil
}

// RoutesText is c0's /debug/routes in text form, for failure reports.
func (e *Env) RoutesText(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.c0Admin+"/debug/routes?format=text", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := e.debug.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}

func (e *Env) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := e.debug.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// waitTable polls c0's table every 50 ms until cond holds, limit passes
// or ctx ends.
func (e *Env) waitTable(ctx context.Context, what string, limit time.Duration, cond func(Table) bool) error {
	deadline := time.Now().Add(limit)
	var last Table
	var lastErr error
	for {
		t, err := e.table(ctx)
		if err == nil && cond(t) {
			return nil
		}
		last, lastErr = t, err
		if time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("failover: %s: not within %v: %w", what, limit, lastErr)
			}
			return fmt.Errorf("failover: %s: not within %v; c0's table: shares %v, healthy %v, notes %v", what, limit, last.Share, last.Healthy, last.Notes)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// steady is the state every scenario starts from: near takes all of
// echo.demo, far is healthy behind it.
func steady(t Table) bool {
	return t.Share[Near] == 1 && t.Healthy[Near] && t.Healthy[Far] && len(t.Notes[Near]) == 0 && len(t.Notes[Far]) == 0
}

// waitSteady waits for the steady state, then checks that a request
// through c0 is answered by near.
func (e *Env) waitSteady(ctx context.Context, limit time.Duration) error {
	if err := e.waitTable(ctx, "c0 routes echo.demo to near, far healthy", limit, steady); err != nil {
		return err
	}
	rec := e.send(ctx)
	if rec.Cluster != Near {
		return fmt.Errorf("failover: steady table, but a request through c0 got %q (error %q), want %s", rec.Cluster, rec.Err, Near)
	}
	return nil
}
