package client

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// svidFiles is an X.509-SVID read from a certificate and a key file and
// read again when either changes (size or modification time), so that a
// long-running caller (meshfed agent) picks up a rotated SVID on its next
// connection without a restart. A rotation caught half written, or a bad
// new pair, keeps the last good SVID.
type svidFiles struct {
	cert, key string

	mu    sync.Mutex
	stamp [2]fileStamp
	svid  *x509svid.SVID
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func loadSVIDFiles(cert, key string) (*svidFiles, error) {
	s := &svidFiles{cert: cert, key: key}
	if _, err := s.GetX509SVID(); err != nil {
		return nil, err
	}
	return s, nil
}

// GetX509SVID implements x509svid.Source.
func (s *svidFiles) GetX509SVID() (*x509svid.SVID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var now [2]fileStamp
	for i, p := range []string{s.cert, s.key} {
		fi, err := os.Stat(p)
		if err != nil {
			if s.svid != nil {
				return s.svid, nil
			}
			return nil, fmt.Errorf("client: SVID file: %w", err)
		}
		now[i] = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	}
	if s.svid != nil && now == s.stamp {
		return s.svid, nil
	}
	svid, err := x509svid.Load(s.cert, s.key)
	if err != nil {
		if s.svid != nil {
			return s.svid, nil
		}
		return nil, fmt.Errorf("client: cert %s / key %s: %w", s.cert, s.key, err)
	}
	s.svid, s.stamp = svid, now
	return svid, nil
}
