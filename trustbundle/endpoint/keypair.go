package endpoint

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// keyPair is the https_web certificate, re-read from its files when they
// change. It is safe for concurrent use.
type keyPair struct {
	certFile, keyFile string
	every             time.Duration
	now               func() time.Time
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     fileStamp // of the files cert was loaded from
	checkedAt time.Time
}

// fileStamp tells whether a file changed.
type fileStamp struct {
	certSize, keySize int64
	certMod, keyMod   int64 // UnixNano
}

func newKeyPair(certFile, keyFile string, every time.Duration, now func() time.Time, log *slog.Logger) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile, every: every, now: now, log: log}
	stamp, err := k.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("endpoint: bundle endpoint certificate %s and key %s: %w", certFile, keyFile, err)
	}
	k.cert, k.stamp, k.checkedAt = &cert, stamp, now()
	return k, nil
}

func (k *keyPair) stat() (fileStamp, error) {
	c, err := os.Stat(k.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("endpoint: bundle endpoint certificate: %w", err)
	}
	key, err := os.Stat(k.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("endpoint: bundle endpoint key: %w", err)
	}
	return fileStamp{certSize: c.Size(), keySize: key.Size(), certMod: c.ModTime().UnixNano(), keyMod: key.ModTime().UnixNano()}, nil
}

// getCertificate is tls.Config.GetCertificate: the current pair, re-read
// first if the files changed since the last check.
func (k *keyPair) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); now.Sub(k.checkedAt) >= k.every {
		k.checkedAt = now
		k.reloadLocked()
	}
	return k.cert, nil
}

// reloadLocked re-reads the files if they changed; on failure it keeps the
// last good pair and retries at the next check.
func (k *keyPair) reloadLocked() {
	stamp, err := k.stat()
	if err != nil {
		k.log.Warn("bundle endpoint certificate files unreadable; keeping the last good pair", "error", err)
		return
	}
	if stamp == k.stamp {
		return
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		// Possibly a half-written rotation: the next check retries.
		k.log.Warn("bundle endpoint certificate does not load; keeping the last good pair", "cert", k.certFile, "key", k.keyFile, "error", err)
		return
	}
	k.cert, k.stamp = &cert, stamp
	k.log.Info("bundle endpoint certificate reloaded", "cert", k.certFile)
}
