package identity

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// DefaultPollInterval is how often a FileSource checks its files when
// FileSourceConfig.PollInterval is zero.
const DefaultPollInterval = 5 * time.Second

// ErrNotInTrustDomain means a source was asked for the bundle of a trust
// domain it does not hold.
var ErrNotInTrustDomain = errors.New("identity: no bundle for that trust domain")

// FileSourceConfig configures NewFileSource.
type FileSourceConfig struct {
	// CertFile holds the X.509-SVID: PEM certificates, leaf first, then
	// any intermediates. Required.
	CertFile string
	// KeyFile holds the SVID's PKCS#8 private key in PEM. Required.
	KeyFile string
	// BundleFile holds the PEM X.509 authorities of the SVID's own trust
	// domain. Required.
	BundleFile string
	// PollInterval is how often the files are checked; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// OnError, if set, is called from the polling goroutine with every
	// failed reload (the last good SVID and bundle are kept). It must
	// not block for long.
	OnError func(error)
	// Logger receives reloads and their failures; nil discards them.
	Logger *slog.Logger
}

// FileSource is an X.509-SVID and own-trust-domain bundle read from PEM
// files and re-read when they change. It implements x509svid.Source and
// x509bundle.Source and is safe for concurrent use.
//
// Every PollInterval it compares each file's modification time and size
// with the last seen; when one changed, it reads all three and, if their
// content hash differs from the last read, parses them. A new set is used
// only if the key matches the leaf and the chain verifies against the new
// bundle; otherwise the last good set stays in use and the error is
// reported (Err, OnError, Logger). A missing or unreadable file is
// reported once, and the files are read again when it is back. Writers
// should replace each file atomically (rename); a set caught half
// rewritten (new key, old certificate) is reported, then recovered from
// at the next poll after the rewrite completes.
type FileSource struct {
	cfg     FileSourceConfig
	log     *slog.Logger
	current atomic.Pointer[fileSet]

	// errMu guards lastErr.
	errMu   sync.Mutex
	lastErr error

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// fileSet is one parsed, consistent set of files; never modified.
type fileSet struct {
	svid   *x509svid.SVID
	bundle *x509bundle.Bundle
}

type fileStamp struct {
	modTime time.Time
	size    int64
}

// NewFileSource reads the files once, failing if they do not make a valid
// SVID of the bundle's trust domain, then polls them on a goroutine until
// Close, which the caller must call.
func NewFileSource(cfg FileSourceConfig) (*FileSource, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" || cfg.BundleFile == "" {
		return nil, fmt.Errorf("identity: file source needs a certificate, a key and a bundle file (got %q, %q, %q)", cfg.CertFile, cfg.KeyFile, cfg.BundleFile)
	}
	if cfg.PollInterval < 0 {
		return nil, fmt.Errorf("identity: poll interval %v is negative: use 0 for the default (%v) or a positive duration", cfg.PollInterval, DefaultPollInterval)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	s := &FileSource{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	stamps, err := s.stat()
	if err != nil {
		return nil, err
	}
	sum, set, err := s.load()
	if err != nil {
		return nil, err
	}
	s.current.Store(set)
	go s.poll(stamps, sum)
	return s, nil
}

// GetX509SVID returns the last good X.509-SVID. It never blocks and
// implements x509svid.Source.
func (s *FileSource) GetX509SVID() (*x509svid.SVID, error) {
	return s.current.Load().svid, nil
}

// GetX509BundleForTrustDomain returns the last good bundle if td is the
// SVID's trust domain, and an error wrapping ErrNotInTrustDomain
// otherwise. It never blocks and implements x509bundle.Source.
func (s *FileSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	set := s.current.Load()
	if set.bundle.TrustDomain() != td {
		return nil, fmt.Errorf("%w: %s holds the bundle of %q, not %q", ErrNotInTrustDomain, s.cfg.BundleFile, set.bundle.TrustDomain(), td)
	}
	return set.bundle, nil
}

// Err returns the error of the last reload attempt, or nil if it
// succeeded (or none was needed since the source was created).
func (s *FileSource) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.lastErr
}

// Close stops polling and waits for the polling goroutine to return. The
// last good SVID and bundle stay readable. It is safe to call more than
// once.
func (s *FileSource) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *FileSource) poll(stamps [3]fileStamp, sum [sha256.Size]byte) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var (
		sumErr  error  // outcome of parsing the files whose hash is sum
		statErr string // last stat failure reported, so a missing file is reported once
	)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now, err := s.stat()
		if err != nil {
			stamps = [3]fileStamp{} // read again once the files are back
			if err.Error() != statErr {
				statErr = err.Error()
				s.fail(err)
			}
			continue
		}
		statErr = ""
		if now == stamps {
			continue
		}
		stamps = now
		newSum, set, err := s.load()
		if set == nil && newSum == ([sha256.Size]byte{}) {
			s.fail(err) // unreadable
			continue
		}
		if newSum == sum {
			s.setErr(sumErr) // touched, or rewritten with the same bytes
			continue
		}
		sum, sumErr = newSum, err
		if err != nil {
			s.fail(err)
			continue
		}
		s.current.Store(set)
		s.setErr(nil)
		s.log.Info("identity: reloaded SVID files", "spiffe_id", set.svid.ID.String(), "serial", set.svid.Certificates[0].SerialNumber.String(), "not_after", set.svid.Certificates[0].NotAfter)
	}
}

func (s *FileSource) fail(err error) {
	s.setErr(err)
	s.log.Error("identity: keeping the last good SVID", "error", err)
	if s.cfg.OnError != nil {
		s.cfg.OnError(err)
	}
}

func (s *FileSource) setErr(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.lastErr = err
}

func (s *FileSource) paths() [3]string {
	return [3]string{s.cfg.CertFile, s.cfg.KeyFile, s.cfg.BundleFile}
}

func (s *FileSource) stat() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range s.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("identity: %w", err)
		}
		out[i] = fileStamp{modTime: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// load reads the three files and parses them. The hash covers all three
// contents and is returned even when parsing fails, so that a bad set is
// reported once, not at every poll.
func (s *FileSource) load() ([sha256.Size]byte, *fileSet, error) {
	var data [3][]byte
	h := sha256.New()
	for i, p := range s.paths() {
		b, err := os.ReadFile(p)
		if err != nil {
			return [sha256.Size]byte{}, nil, fmt.Errorf("identity: %w", err)
		}
		data[i] = b
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	svid, bundle, err := parsePEMFiles(data[0], data[1], data[2])
	if err != nil {
		return sum, nil, fmt.Errorf("identity: files %s, %s, %s: %w", s.cfg.CertFile, s.cfg.KeyFile, s.cfg.BundleFile, err)
	}
	return sum, &fileSet{svid: svid, bundle: bundle}, nil
}

// parsePEMFiles parses an SVID chain, its key and the bundle of its trust
// domain, and checks that the chain verifies against the bundle.
func parsePEMFiles(certPEM, keyPEM, bundlePEM []byte) (*x509svid.SVID, *x509bundle.Bundle, error) {
	svid, err := x509svid.Parse(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate or key: %w", err)
	}
	td := svid.ID.TrustDomain()
	bundle, err := x509bundle.Parse(td, bundlePEM)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle of %q: %w", td, err)
	}
	if bundle.Empty() {
		return nil, nil, fmt.Errorf("bundle of %q holds no certificate", td)
	}
	if _, _, err := x509svid.Verify(svid.Certificates, bundle); err != nil {
		return nil, nil, fmt.Errorf("SVID %s does not verify against the bundle file (rotate the bundle before the SVID): %w", svid.ID, err)
	}
	return svid, bundle, nil
}
