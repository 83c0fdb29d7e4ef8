package gateway

import (
	"context"
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

// attemptFn sends one attempt of a request to cluster (the attempt-th,
// from 0). It reports the response status when err is nil, and whether
// any of the request may have reached the cluster (false for a failed
// dial or a peer that refused the handshake: safe to send elsewhere).
type attemptFn func(cluster string, attempt int) (code int, sent bool, err error)

// routeRequest sends a request for t to clusters the service's balancer
// picks, retrying on other clusters as RetryConfig allows and feeding
// outcomes to outlier detection. It returns the cluster of the last
// attempt, and nil when that attempt's response is the one to forward.
// discard is called for a response that is retried instead.
func (g *Gateway) routeRequest(ctx context.Context, t Target, method string, replayable bool, try attemptFn, discard func()) (string, error) {
	bal := g.lb.get(t.Service.Key())
	if bal == nil {
		return "", fmt.Errorf("%s: %w", t.Service, errUnavailable)
	}
	g.retryBudget.request(time.Now())
	known := len(g.routes.Load().clusters)
	var tried []string
	var errs []error
	last := ""
	budgeted := false // a retry's budget was taken when its status was seen
	for attempt := 0; attempt < g.cfg.Retry.Attempts; attempt++ {
		cluster, ok := bal.Pick(skipper(tried))
		if !ok {
			break
		}
		if attempt > 0 {
			if !budgeted && !g.retryBudget.retry(time.Now()) {
				errs = append(errs, errors.New("retry budget exhausted"))
				break
			}
			budgeted = false
			g.m.retries.WithLabelValues(g.cfg.Cluster, cluster, t.Service.String()).Inc()
		}
		tried = append(tried, cluster)
		last = cluster
		code, sent, err := try(cluster, attempt)
		if errors.Is(err, errClientGone) {
			return cluster, err // not the cluster's doing: no health verdict, no retry
		}
		if cluster != g.cfg.Cluster {
			g.health.observe(cluster, err == nil && code < 500, known, time.Now())
		}
		if err == nil && !g.retryableStatus(code) {
			return cluster, nil
		}
		canRetry := !sent || (idempotent(method) && replayable)
		if err == nil {
			// A retryable status: retried only when another cluster can
			// be tried now; else this response is the answer.
			if !canRetry || attempt+1 >= g.cfg.Retry.Attempts {
				return cluster, nil
			}
			if _, ok := bal.Pick(skipper(tried)); !ok || !g.retryBudget.retry(time.Now()) {
				return cluster, nil
			}
			budgeted = true
			discard()
			errs = append(errs, fmt.Errorf("cluster %s: status %d", cluster, code))
			continue
		}
		errs = append(errs, err)
		if !canRetry || ctx.Err() != nil || errors.Is(err, errClientGone) {
			break
		}
	}
	if len(errs) == 0 {
		return last, fmt.Errorf("%s: %w", t.Service, errUnavailable)
	}
	return last, errors.Join(errs...)
}

// sentAny classifies an attempt's error: false when nothing of the
// request can have reached the cluster.
func (g *Gateway) sentAny(err error) bool {
	var de *dialError
	switch {
	case errors.As(err, &de):
		return false
	case peerRefused(err):
		// The peer's TLS alert after the handshake (TLS 1.3 checks the
		// client certificate after the client is done): it processed
		// nothing, so any method may go elsewhere.
		g.m.handshakeFailures.WithLabelValues("outbound", "refused_by_peer").Inc()
		return false
	}
	return true
}

// routeTransport is the RoundTripper of the outbound net/http server (the
// requests the fast path hands over): routeRequest over per-cluster
// transports.
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
	info, _ := req.Context().Value(reqInfoKey{}).(*reqInfo)
	hasBody := req.Body != nil && req.Body != http.NoBody
	replayable := !hasBody || req.GetBody != nil
	var resp *http.Response
	_, err = g.routeRequest(req.Context(), t, req.Method, replayable, func(cluster string, attempt int) (int, bool, error) {
		if attempt > 0 && hasBody {
			// The transport closed the body of the failed attempt.
			if req.GetBody == nil {
				return 0, true, errors.New("the request body cannot be sent again")
			}
			var err error
			if req.Body, err = req.GetBody(); err != nil {
				return 0, true, err
			}
		}
		if info != nil {
			info.cluster = cluster
		}
		r, err := rt.try(req, cluster)
		if err != nil {
			return 0, g.sentAny(err), err
		}
		resp = r
		return r.StatusCode, true, nil
	}, func() {
		// Drain a little so the connection can be reused, then retry.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
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
