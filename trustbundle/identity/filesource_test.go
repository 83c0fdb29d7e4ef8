package identity_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/trustbundle/identity"
)

type svidFiles struct{ cert, key, bundle string }

func newSVIDFiles(t testing.TB) svidFiles {
	dir := t.TempDir()
	return svidFiles{filepath.Join(dir, "svid.pem"), filepath.Join(dir, "svid-key.pem"), filepath.Join(dir, "bundle.pem")}
}

func (f svidFiles) config() identity.FileSourceConfig {
	return identity.FileSourceConfig{CertFile: f.cert, KeyFile: f.key, BundleFile: f.bundle, PollInterval: 5 * time.Millisecond}
}

func (f svidFiles) write(t testing.TB, svid *x509svid.SVID, roots ...*devca.CA) {
	t.Helper()
	var pem []byte
	for _, r := range roots {
		b, err := r.Bundle().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	writeFile(t, f.bundle, pem)
	if svid != nil {
		if err := devca.WriteSVID(f.cert, f.key, svid); err != nil {
			t.Fatal(err)
		}
	}
}

// writeFile replaces path atomically, as rotation tools do.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func currentSerial(t testing.TB, src *identity.FileSource) string {
	s, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	return serial(s).String()
}

func TestFileSourceFollowsRewritesAndKeepsTheLastGood(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "a.test")
	files := newSVIDFiles(t)
	svid1 := issue(t, ca, "/meshfed/gateway/a/gw")
	files.write(t, svid1, ca)

	var mu sync.Mutex
	var reported []error
	cfg := files.config()
	cfg.OnError = func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}
	src, err := identity.NewFileSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	// 1. Start: the files' SVID and bundle are served.
	if got := currentSerial(t, src); got != serial(svid1).String() {
		t.Fatalf("serial %s, want %s", got, serial(svid1))
	}
	b, err := src.GetX509BundleForTrustDomain(ca.TrustDomain())
	if err != nil || !b.HasX509Authority(ca.Certificate()) {
		t.Fatalf("own bundle: %v", err)
	}
	if _, err := src.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("b.test")); !errors.Is(err, identity.ErrNotInTrustDomain) {
		t.Fatalf("another trust domain's bundle: %v, want ErrNotInTrustDomain", err)
	}

	// 2. Rewrite: the new SVID is picked up.
	svid2 := issue(t, ca, "/meshfed/gateway/a/gw")
	files.write(t, svid2, ca)
	eventually(t, "the rewritten SVID is served", func() bool { return currentSerial(t, src) == serial(svid2).String() })

	// 3. Garbage: the last good SVID stays, the error is reported.
	writeFile(t, files.cert, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	eventually(t, "the bad file is reported", func() bool { return src.Err() != nil })
	if !strings.Contains(src.Err().Error(), files.cert) {
		t.Fatalf("error does not name the files: %v", src.Err())
	}
	mu.Lock()
	n := len(reported)
	mu.Unlock()
	if n == 0 {
		t.Fatal("OnError was not called")
	}
	if got := currentSerial(t, src); got != serial(svid2).String() {
		t.Fatalf("after a bad file: serial %s, want the last good %s", got, serial(svid2))
	}

	// 4. Fix: the source recovers.
	svid3 := issue(t, ca, "/meshfed/gateway/a/gw")
	files.write(t, svid3, ca)
	eventually(t, "the fixed SVID is served", func() bool { return currentSerial(t, src) == serial(svid3).String() })
	if err := src.Err(); err != nil {
		t.Fatalf("Err after recovery: %v", err)
	}

	// 5. A file goes missing: reported, SVID kept; it comes back unchanged: the error clears.
	bundlePEM, err := os.ReadFile(files.bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(files.bundle); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing file is reported", func() bool { return errors.Is(src.Err(), os.ErrNotExist) })
	writeFile(t, files.bundle, bundlePEM)
	eventually(t, "the error clears", func() bool { return src.Err() == nil })
	if got := currentSerial(t, src); got != serial(svid3).String() {
		t.Fatalf("after the file came back: serial %s, want %s", got, serial(svid3))
	}
}

func TestNewFileSourceRefusesBadFiles(t *testing.T) {
	t.Parallel()
	caA, caB, otherA := newCA(t, "a.test"), newCA(t, "b.test"), newCA(t, "a.test")
	svid := issue(t, caA, "/meshfed/gateway/a/gw")
	otherKey := issue(t, caA, "/meshfed/gateway/a/other")

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f svidFiles)
		want  string
	}{
		{"missing bundle", func(t *testing.T, f svidFiles) {
			if err := devca.WriteSVID(f.cert, f.key, svid); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
		{"garbage certificate", func(t *testing.T, f svidFiles) {
			f.write(t, svid, caA)
			writeFile(t, f.cert, []byte("garbage"))
		}, "certificate or key"},
		{"key of another SVID", func(t *testing.T, f svidFiles) {
			f.write(t, svid, caA)
			if err := devca.WriteCertKey(filepath.Join(t.TempDir(), "c.pem"), f.key, otherKey.Certificates, otherKey.PrivateKey); err != nil {
				t.Fatal(err)
			}
		}, "certificate or key"},
		{"bundle of another CA of the trust domain", func(t *testing.T, f svidFiles) { f.write(t, svid, otherA) }, "does not verify against the bundle"},
		{"bundle of another trust domain's CA", func(t *testing.T, f svidFiles) { f.write(t, svid, caB) }, "does not verify against the bundle"},
		{"empty bundle", func(t *testing.T, f svidFiles) { f.write(t, svid) }, `bundle of "a.test"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSVIDFiles(t)
			tc.setup(t, f)
			src, err := identity.NewFileSource(f.config())
			if err == nil {
				src.Close()
				t.Fatal("NewFileSource accepted bad files")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}

	t.Run("config", func(t *testing.T) {
		t.Parallel()
		if _, err := identity.NewFileSource(identity.FileSourceConfig{CertFile: "c"}); err == nil || !strings.Contains(err.Error(), "needs a certificate, a key and a bundle file") {
			t.Fatalf("missing paths: %v", err)
		}
		f := newSVIDFiles(t)
		cfg := f.config()
		cfg.PollInterval = -time.Second
		if _, err := identity.NewFileSource(cfg); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Fatalf("negative interval: %v", err)
		}
	})
}
