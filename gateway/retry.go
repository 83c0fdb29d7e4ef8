package gateway

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RetryConfig says when a proxied HTTP request is retried on another
// cluster. A request that failed to connect (nothing was sent) is always
// retried; one that was reset before any response byte, timed out before
// its response headers (PerTryTimeout), or got a status in OnStatus is
// retried only when its method is idempotent and its body can be
// replayed. Retries are bounded by a budget so they cannot amplify an
// outage.
type RetryConfig struct {
	// Attempts is the most clusters tried per request (default 3).
	Attempts int `json:"attempts,omitempty"`
	// PerTryTimeout bounds each attempt until its response headers
	// (default 5s; it never exceeds limits.request_timeout).
	PerTryTimeout Duration `json:"per_try_timeout,omitempty"`
	// OnStatus lists the response codes that are retried (default [503]).
	OnStatus []int `json:"on_status,omitempty"`
	// BudgetPercent: retries may add at most this share of extra requests
	// over the last 10 s (default 20), plus MinPerSecond retries per
	// second (default 10) so that low traffic can still fail over.
	BudgetPercent int `json:"budget_percent,omitempty"`
	MinPerSecond  int `json:"min_per_second,omitempty"`
}

func (r *RetryConfig) setDefaults() {
	if r.Attempts <= 0 {
		r.Attempts = 3
	}
	if r.PerTryTimeout == 0 {
		r.PerTryTimeout = Duration(5 * time.Second)
	}
	if r.OnStatus == nil {
		r.OnStatus = []int{http.StatusServiceUnavailable}
	}
	if r.BudgetPercent <= 0 {
		r.BudgetPercent = 20
	}
	if r.MinPerSecond <= 0 {
		r.MinPerSecond = 10
	}
}

// retryBudget is a token bucket in two parts, like Finagle's: each
// request deposits BudgetPercent/100 of a token that fades over
// budgetWindow, so deposits hold about BudgetPercent of the last 10 s of
// requests; MinPerSecond tokens are added every second, up to
// budgetWindow's worth. Each retry withdraws one token. A quiet period
// banks no more than its traffic earned, while the requests caught on a
// silently failed cluster until health checks notice (a second or two of
// all traffic) can all be retried.
type retryBudget struct {
	mu       sync.Mutex
	tokens   float64 // from MinPerSecond
	deposits float64 // from requests, fading
	last     time.Time
	ratio    float64
	perSec   float64
	ceiling  float64
}

// budgetWindow is how long a request's deposit lasts (its time constant).
const budgetWindow = 10 * time.Second

func newRetryBudget(cfg RetryConfig) *retryBudget {
	per := float64(cfg.MinPerSecond)
	return &retryBudget{ratio: float64(cfg.BudgetPercent) / 100, perSec: per, ceiling: 10 * per, tokens: per}
}

func (b *retryBudget) refill(now time.Time) {
	if !b.last.IsZero() {
		dt := now.Sub(b.last).Seconds()
		b.tokens += dt * b.perSec
		b.deposits *= math.Exp(-dt / budgetWindow.Seconds())
	}
	b.last = now
	b.tokens = min(b.tokens, b.ceiling+b.perSec)
}

// request records an original request.
func (b *retryBudget) request(now time.Time) {
	b.mu.Lock()
	b.refill(now)
	b.deposits += b.ratio
	b.mu.Unlock()
}

// retry takes a token if one is left.
func (b *retryBudget) retry(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens+b.deposits < 1 {
		return false
	}
	take := min(1, b.deposits)
	b.deposits -= take
	b.tokens -= 1 - take
	return true
}

// peerRefused reports a TLS alert received from the peer gateway.
func peerRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// idempotent methods may be retried after they were sent.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// routeTransport picks the target cluster for each request and sends it
// over that cluster's transport, retrying on other clusters as
// RetryConfig allows, and feeding outcomes to outlier detection.
type routeTransport struct{ g *Gateway }

func (rt routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := rt.g
	t, err := ParseHost(req.URL.Host)
	if err != nil {
		return nil, err
	}
	if t, err = g.resolve(t); err != nil {
		return nil, err
	}
	req.URL.Host = t.Service.Host() + ":" + strconv.Itoa(int(t.Port))
	bal := g.lb.get(t.Service.Key())
	if bal == nil {
		return nil, fmt.Errorf("%s: %w", t.Service, errUnavailable)
	}
	info, _ := req.Context().Value(reqInfoKey{}).(*reqInfo)
	now := time.Now()
	g.retryBudget.request(now)
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	known := len(g.routes.Load().clusters)
	var tried []string
	var errs []error
	for attempt := 0; attempt < g.cfg.Retry.Attempts; attempt++ {
		cluster, ok := bal.Pick(skipper(tried))
		if !ok {
			break
		}
		if attempt > 0 {
			if !g.retryBudget.retry(time.Now()) {
				errs = append(errs, errors.New("retry budget exhausted"))
				break
			}
			if req.Body != nil && req.Body != http.NoBody {
				if req.Body, err = req.GetBody(); err != nil {
					break
				}
			}
			g.m.retries.WithLabelValues(g.cfg.Cluster, cluster, t.Service.String()).Inc()
		}
		tried = append(tried, cluster)
		if info != nil {
			info.cluster = cluster
		}
		resp, err := rt.try(req, cluster)
		sent := true
		var de *dialError
		switch {
		case errors.As(err, &de):
			sent = false
		case peerRefused(err):
			// The peer's TLS alert after the handshake (TLS 1.3 checks the
			// client certificate after the client is done): it processed
			// nothing, so any method may go elsewhere.
			sent = false
			g.m.handshakeFailures.WithLabelValues("outbound", "refused_by_peer").Inc()
		}
		if cluster != g.cfg.Cluster {
			g.health.observe(cluster, err == nil && resp.StatusCode < 500, known, time.Now())
		}
		if err == nil && !g.retryableStatus(resp.StatusCode) {
			return resp, nil
		}
		canRetry := !sent || (idempotent(req.Method) && replayable)
		if err == nil {
			if !canRetry || attempt+1 >= g.cfg.Retry.Attempts {
				return resp, nil
			}
			// Drain a little so the connection can be reused, then retry.
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			errs = append(errs, fmt.Errorf("cluster %s: %s", cluster, resp.Status))
			continue
		}
		errs = append(errs, err)
		if !canRetry || req.Context().Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: %w", t.Service, errUnavailable)
	}
	return nil, errors.Join(errs...)
}

// try sends one attempt. The per-try timeout is the cluster transport's
// ResponseHeaderTimeout: it covers the time until the response headers,
// not the body.
func (rt routeTransport) try(req *http.Request, cluster string) (*http.Response, error) {
	return rt.g.peers.transport(cluster).RoundTrip(req)
}

func (g *Gateway) retryableStatus(code int) bool {
	for _, c := range g.cfg.Retry.OnStatus {
		if c == code {
			return true
		}
	}
	return false
}

// skipper returns a Pick skip function for the clusters already tried,
// or nil when there are none (the allocation-free path).
func skipper(tried []string) func(string) bool {
	if len(tried) == 0 {
		return nil
	}
	return func(c string) bool {
		for _, t := range tried {
			if t == c {
				return true
			}
		}
		return false
	}
}
