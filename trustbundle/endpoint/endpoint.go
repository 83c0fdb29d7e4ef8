package endpoint

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// PathPrefix is where bundles are served: PathPrefix + trust domain name.
const PathPrefix = "/bundles/"

// Profile is a SPIFFE bundle endpoint profile.
type Profile string

// Profiles of the SPIFFE Trust Domain and Bundle specification.
const (
	ProfileHTTPSWeb    Profile = "https_web"
	ProfileHTTPSSPIFFE Profile = "https_spiffe"
)

// ErrConfig is wrapped by every configuration error of New and ParseProfile.
var ErrConfig = errors.New("endpoint: invalid configuration")

// ParseProfile returns the profile named s; empty s returns the zero Profile.
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(s); p {
	case "", ProfileHTTPSWeb, ProfileHTTPSSPIFFE:
		return p, nil
	}
	return "", fmt.Errorf("%w: bundle endpoint profile %q is not one of %s, %s", ErrConfig, s, ProfileHTTPSWeb, ProfileHTTPSSPIFFE)
}

// Lookup gives the stored bundle of a trust domain; federation/view
// satisfies it. The returned record must not be modified, and a changed
// bundle must be a new record (the parsed form is cached per record).
type Lookup interface {
	Bundle(trustDomain string) (*meshfedv1.Bundle, bool)
}

// Config configures a Server.
type Config struct {
	// Bundles gives the bundles to serve. Required.
	Bundles Lookup
	// Own, if set, is served for its trust domain in place of any stored
	// bundle: the control plane's own trust domain, whose bundle clients
	// of the https_spiffe profile need to authenticate this endpoint.
	Own *spiffebundle.Bundle
	// Profile selects how the server authenticates itself; zero means
	// ProfileHTTPSWeb when CertFile is set, ProfileHTTPSSPIFFE otherwise.
	Profile Profile
	// SVID is the server's X.509-SVID source for ProfileHTTPSSPIFFE
	// (required then; a *x509svid.SVID is one).
	SVID x509svid.Source
	// CertFile and KeyFile are the PEM certificate chain and private key
	// for ProfileHTTPSWeb (required then). They are re-read when their
	// size or modification time changes, checked at most once per
	// CertCheckInterval; a pair that does not load keeps the last good one.
	CertFile string
	KeyFile  string
	// CertCheckInterval is how often the files are checked for changes;
	// zero means 10 s.
	CertCheckInterval time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Server is a SPIFFE bundle endpoint. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tls     *tls.Config
	handler http.Handler

	mu     sync.Mutex
	parsed map[spiffeid.TrustDomain]parsedBundle
}

// parsedBundle is the go-spiffe handler of one stored record.
type parsedBundle struct {
	stored  *meshfedv1.Bundle // identity of the record it was built from
	handler http.Handler
}

// New checks cfg, loads the certificate files of ProfileHTTPSWeb, and
// returns a Server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Bundles == nil {
		return nil, fmt.Errorf("%w: Config.Bundles is required", ErrConfig)
	}
	if _, err := ParseProfile(string(cfg.Profile)); err != nil {
		return nil, err
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, fmt.Errorf("%w: bundle endpoint certificate and key files must be given together (got cert %q, key %q)", ErrConfig, cfg.CertFile, cfg.KeyFile)
	}
	if cfg.Profile == "" {
		cfg.Profile = ProfileHTTPSSPIFFE
		if cfg.CertFile != "" {
			cfg.Profile = ProfileHTTPSWeb
		}
	}
	if cfg.CertCheckInterval <= 0 {
		cfg.CertCheckInterval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, parsed: map[spiffeid.TrustDomain]parsedBundle{}}
	switch cfg.Profile {
	case ProfileHTTPSSPIFFE:
		if cfg.SVID == nil {
			return nil, fmt.Errorf("%w: profile %s needs an X.509-SVID (Config.SVID)", ErrConfig, cfg.Profile)
		}
		if cfg.CertFile != "" {
			return nil, fmt.Errorf("%w: profile %s authenticates with the SVID; certificate files are for %s", ErrConfig, cfg.Profile, ProfileHTTPSWeb)
		}
		s.tls = tlsconfig.TLSServerConfig(cfg.SVID)
	case ProfileHTTPSWeb:
		if cfg.CertFile == "" {
			return nil, fmt.Errorf("%w: profile %s needs a certificate and key file", ErrConfig, cfg.Profile)
		}
		kp, err := newKeyPair(cfg.CertFile, cfg.KeyFile, cfg.CertCheckInterval, time.Now, s.log)
		if err != nil {
			return nil, err
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.getCertificate}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(PathPrefix+"{trustdomain}", s.serveBundle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("no bundle at %q: bundles are served at %sTRUST_DOMAIN", r.URL.Path, PathPrefix), http.StatusNotFound)
	})
	s.handler = mux
	return s, nil
}

// Profile returns the profile the server uses.
func (s *Server) Profile() Profile { return s.cfg.Profile }

// Handler returns the HTTP handler of the bundle paths, without TLS.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the server's TLS configuration for its profile.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

// Serve serves the endpoint with TLS on lis and blocks until ctx is done,
// then shuts down (closing lis) and returns nil; it returns an error if
// serving fails first.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(lis, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("endpoint: serve on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	<-done
	return err
}

// URL returns the bundle URL of td on a server at addr (host:port).
func URL(addr string, td spiffeid.TrustDomain) string {
	return (&url.URL{Scheme: "https", Host: addr, Path: PathPrefix + td.Name()}).String()
}

func (s *Server) serveBundle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, fmt.Sprintf("method %s is not allowed: the bundle endpoint serves GET only", r.Method), http.StatusMethodNotAllowed)
		return
	}
	name := r.PathValue("trustdomain")
	td, err := spiffeid.TrustDomainFromString(name)
	if err != nil || td.Name() != name {
		http.Error(w, fmt.Sprintf("%q is not a valid SPIFFE trust domain name (lowercase letters, digits, '.', '-', '_')", name), http.StatusNotFound)
		return
	}
	h, err := s.bundleHandler(td)
	if err != nil {
		s.log.Warn("cannot serve bundle", "trust_domain", td.Name(), "error", err)
		http.Error(w, fmt.Sprintf("bundle of trust domain %q cannot be served: %v", td.Name(), err), http.StatusInternalServerError)
		return
	}
	if h == nil {
		http.Error(w, fmt.Sprintf("trust domain %q is not federated here: no bundle is stored for it", td.Name()), http.StatusNotFound)
		return
	}
	h.ServeHTTP(w, r)
}

// bundleHandler returns the go-spiffe handler serving td's current
// bundle, or nil if there is none.
func (s *Server) bundleHandler(td spiffeid.TrustDomain) (http.Handler, error) {
	if s.cfg.Own != nil && td == s.cfg.Own.TrustDomain() {
		return s.handlerFor(td, nil, func() (*spiffebundle.Bundle, error) { return s.cfg.Own, nil })
	}
	stored, ok := s.cfg.Bundles.Bundle(td.Name())
	if !ok {
		s.mu.Lock()
		delete(s.parsed, td)
		s.mu.Unlock()
		return nil, nil
	}
	return s.handlerFor(td, stored, func() (*spiffebundle.Bundle, error) {
		b, err := spiffebundle.Parse(td, stored.GetJwks())
		if err != nil {
			return nil, fmt.Errorf("endpoint: stored bundle of %q (sequence %d) does not parse: %w", td.Name(), stored.GetSequence(), err)
		}
		return b, nil
	})
}

// handlerFor returns the cached handler of td if it was built from stored,
// else builds one from parse and caches it.
func (s *Server) handlerFor(td spiffeid.TrustDomain, stored *meshfedv1.Bundle, parse func() (*spiffebundle.Bundle, error)) (http.Handler, error) {
	s.mu.Lock()
	p, ok := s.parsed[td]
	s.mu.Unlock()
	if ok && p.stored == stored {
		return p.handler, nil
	}
	b, err := parse()
	if err != nil {
		return nil, err
	}
	// A *spiffebundle.Bundle is its own spiffebundle.Source: the handler
	// serves this immutable parse until the record changes.
	h, err := federation.NewHandler(td, b, federation.WithLogger(spiffeLogger{s.log}))
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	s.mu.Lock()
	s.parsed[td] = parsedBundle{stored: stored, handler: h}
	s.mu.Unlock()
	return h, nil
}

// spiffeLogger passes go-spiffe's logs to slog.
type spiffeLogger struct{ log *slog.Logger }

func (l spiffeLogger) Debugf(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l spiffeLogger) Infof(format string, args ...any)  { l.log.Info(fmt.Sprintf(format, args...)) }
func (l spiffeLogger) Warnf(format string, args ...any)  { l.log.Warn(fmt.Sprintf(format, args...)) }
func (l spiffeLogger) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }
