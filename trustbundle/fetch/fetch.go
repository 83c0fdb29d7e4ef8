package fetch

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/backoff"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Defaults of Config.
const (
	DefaultMinInterval    = 10 * time.Second
	DefaultMaxInterval    = time.Hour
	DefaultInterval       = 5 * time.Minute
	DefaultInitialBackoff = time.Second
	DefaultPoll           = time.Second
	DefaultTimeout        = 30 * time.Second
	sourceEndpointPrefix  = "endpoint "
)

// ErrNoBundleForAuth means an https_spiffe endpoint cannot be
// authenticated because no bundle of its trust domain is stored yet.
var ErrNoBundleForAuth = errors.New("fetch: no stored bundle to authenticate the endpoint")

// ErrConfigChanged means an endpoint's configuration changed during a
// fetch; what was fetched is not stored and the new configuration is
// fetched at once.
var ErrConfigChanged = errors.New("fetch: endpoint configuration changed during the fetch; bundle not stored")

// Store is what a Fetcher needs of federation/store.
type Store interface {
	ListBundleEndpoints(ctx context.Context) ([]*meshfedv1.BundleEndpoint, error)
	GetBundleEndpointRev(ctx context.Context, trustDomain string) (*meshfedv1.BundleEndpoint, int64, error)
	UpdateBundleEndpoint(ctx context.Context, trustDomain string, update func(*meshfedv1.BundleEndpoint)) (*meshfedv1.BundleEndpoint, int64, error)
	GetBundle(ctx context.Context, trustDomain string) (*meshfedv1.Bundle, error)
	PutBundleFromEndpoint(ctx context.Context, b *meshfedv1.Bundle, endpointRev int64) (*meshfedv1.Bundle, int64, error)
}

// Config configures a Fetcher. Zero values mean the documented defaults.
type Config struct {
	// Store holds the endpoints and bundles. Required.
	Store Store
	// WebPKIRoots verify https_web endpoints; nil means the system roots.
	WebPKIRoots *x509.CertPool
	// MinInterval and MaxInterval bound the refresh interval taken from a
	// bundle's refresh hint; defaults min(DefaultMinInterval, MaxInterval)
	// and DefaultMaxInterval.
	MinInterval, MaxInterval time.Duration
	// DefaultInterval applies to bundles without a refresh hint; default
	// DefaultInterval.
	DefaultInterval time.Duration
	// InitialBackoff is the delay after a first failure, doubled after each
	// further one up to MaxInterval; default DefaultInitialBackoff.
	InitialBackoff time.Duration
	// Poll is how often Run looks for due endpoints and refresh requests;
	// default DefaultPoll.
	Poll time.Duration
	// Timeout bounds one fetch; default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnResult, if set, is called after every fetch with its trust domain
	// and error (nil on success), from the goroutine running Sync.
	OnResult func(trustDomain string, err error)
	// Logger receives the fetcher's logs; nil discards them.
	Logger *slog.Logger
}

// Fetcher fetches bundles from the configured endpoints when due.
type Fetcher struct {
	cfg Config
}

// New checks cfg and returns a Fetcher.
func New(cfg Config) (*Fetcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("fetch: Config.Store is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MaxInterval, DefaultMaxInterval)
	def(&cfg.MinInterval, min(DefaultMinInterval, cfg.MaxInterval))
	def(&cfg.DefaultInterval, DefaultInterval)
	def(&cfg.InitialBackoff, DefaultInitialBackoff)
	def(&cfg.Poll, DefaultPoll)
	def(&cfg.Timeout, DefaultTimeout)
	if cfg.MinInterval > cfg.MaxInterval {
		return nil, fmt.Errorf("fetch: MinInterval %v is more than MaxInterval %v", cfg.MinInterval, cfg.MaxInterval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{cfg: cfg}, nil
}

// Run calls Sync every Config.Poll until ctx is done and returns
// ctx.Err(). Errors of a pass are logged, and the next pass retries.
func (f *Fetcher) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.Poll)
	defer t.Stop()
	for {
		if err := f.Sync(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Logger.Warn("bundle fetch pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sync fetches, one after the other, every endpoint that is due now. It
// blocks until they are done; a failed fetch is recorded in its endpoint,
// not returned. It returns an error only when the endpoints cannot be
// listed or ctx is done.
func (f *Fetcher) Sync(ctx context.Context) error {
	endpoints, err := f.cfg.Store.ListBundleEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("fetch: list endpoints: %w", err)
	}
	for _, e := range endpoints {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := f.cfg.Now()
		if !Due(e, now) {
			continue
		}
		f.fetchOne(ctx, e, now)
	}
	return nil
}

// Due reports whether e should be fetched at now: it never was, its next
// refresh has come, or a refresh was requested after the last attempt.
func Due(e *meshfedv1.BundleEndpoint, now time.Time) bool {
	if e.GetNextRefresh() == nil || e.GetLastAttempt() == nil || !now.Before(e.GetNextRefresh().AsTime()) {
		return true
	}
	return e.GetRefreshRequestedAt() != nil && e.GetRefreshRequestedAt().AsTime().After(e.GetLastAttempt().AsTime())
}

func (f *Fetcher) fetchOne(ctx context.Context, e *meshfedv1.BundleEndpoint, now time.Time) {
	td := e.GetTrustDomain()
	log := f.cfg.Logger.With("trust_domain", td, "url", e.GetUrl())
	stored, err := f.fetch(ctx, e)
	if err != nil && ctx.Err() != nil {
		return // stopping: not the endpoint's fault
	}
	var next time.Time
	if err == nil {
		next = now.Add(f.interval(stored.GetRefreshHintSeconds()))
		log.Info("fetched bundle", "sequence", stored.GetSequence(), "next_refresh", next)
	} else {
		log.Warn("bundle fetch failed; keeping the last good bundle", "error", err)
	}
	if f.cfg.OnResult != nil {
		f.cfg.OnResult(td, err)
	}
	_, _, uerr := f.cfg.Store.UpdateBundleEndpoint(ctx, td, func(cur *meshfedv1.BundleEndpoint) {
		cur.LastAttempt = timestamppb.New(now)
		if err == nil {
			cur.LastSuccess = timestamppb.New(now)
			cur.LastError = ""
			cur.Failures = 0
			cur.NextRefresh = timestamppb.New(next)
			return
		}
		cur.LastError = err.Error()
		cur.Failures++
		cur.NextRefresh = timestamppb.New(now.Add(f.backoff(cur.Failures)))
	})
	if uerr != nil && !errors.Is(uerr, store.ErrNotFound) && ctx.Err() == nil {
		log.Warn("could not record the fetch status", "error", uerr)
	}
}

// fetch gets e's bundle and stores it with source "endpoint <url>".
func (f *Fetcher) fetch(ctx context.Context, e *meshfedv1.BundleEndpoint) (*meshfedv1.Bundle, error) {
	if err := schema.ValidateBundleEndpoint(e); err != nil {
		return nil, err
	}
	td := spiffeid.RequireTrustDomainFromString(e.GetTrustDomain())
	var opt federation.FetchOption
	switch e.GetProfile() {
	case schema.ProfileHTTPSSPIFFE:
		auth, err := f.authBundle(ctx, td)
		if err != nil {
			return nil, err
		}
		opt = federation.WithSPIFFEAuth(auth, spiffeid.RequireFromString(e.GetEndpointSpiffeId()))
	default:
		opt = federation.WithWebPKIRoots(f.cfg.WebPKIRoots)
	}
	fctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	sb, err := federation.FetchBundle(fctx, td, e.GetUrl(), opt)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", e.GetUrl(), err)
	}
	jwks, err := sb.Marshal()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: re-encoding the bundle: %w", e.GetUrl(), err)
	}
	rec, err := schema.CanonicalBundle(&meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}, sourceEndpointPrefix+e.GetUrl())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", e.GetUrl(), err)
	}
	// Only the endpoint configured for td may write td's bundle: the write
	// happens only if the configuration is what was fetched from, checked
	// in the same etcd transaction as the write.
	cur, rev, err := f.cfg.Store.GetBundleEndpointRev(ctx, td.Name())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: re-reading the endpoint configuration: %w", e.GetUrl(), err)
	}
	if cur.GetUrl() != e.GetUrl() || cur.GetProfile() != e.GetProfile() || cur.GetEndpointSpiffeId() != e.GetEndpointSpiffeId() {
		return nil, fmt.Errorf("fetch %s: %w", e.GetUrl(), ErrConfigChanged)
	}
	stored, _, err := f.cfg.Store.PutBundleFromEndpoint(ctx, rec, rev)
	if errors.Is(err, store.ErrConditionFailed) {
		return nil, fmt.Errorf("fetch %s: %w", e.GetUrl(), ErrConfigChanged)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch %s: storing sequence %d: %w", e.GetUrl(), rec.GetSequence(), err)
	}
	return stored, nil
}

// authBundle returns the stored bundle of td, which authenticates its
// https_spiffe endpoint.
func (f *Fetcher) authBundle(ctx context.Context, td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	b, err := f.cfg.Store.GetBundle(ctx, td.Name())
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: trust domain %q has no stored bundle to authenticate its https_spiffe endpoint; store an initial one with: meshfed trust set %s --bundle FILE", ErrNoBundleForAuth, td.Name(), td.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("fetch: reading the stored bundle of %q: %w", td.Name(), err)
	}
	sb, err := spiffebundle.Parse(td, b.GetJwks())
	if err != nil {
		return nil, fmt.Errorf("fetch: stored bundle of %q does not parse: %w", td.Name(), err)
	}
	return sb, nil
}

// interval is the time to the next fetch after a success.
func (f *Fetcher) interval(hintSeconds int64) time.Duration {
	d := f.cfg.DefaultInterval
	if hintSeconds > 0 {
		d = time.Duration(hintSeconds) * time.Second
	}
	return min(max(d, f.cfg.MinInterval), f.cfg.MaxInterval)
}

// backoff is the time to the next attempt after failures consecutive
// failures (at least 1).
func (f *Fetcher) backoff(failures uint32) time.Duration {
	return backoff.Delay(f.cfg.InitialBackoff, f.cfg.MaxInterval, int(failures))
}
