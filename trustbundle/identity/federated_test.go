package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity"
)

// rogueCA is a CA of one trust domain whose key the test holds, so that
// it can sign what devca refuses to: an SVID in another trust domain.
func rogueCA(t *testing.T, td string) (*devca.CA, crypto.Signer) {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := devca.LoadOrCreate(dir, spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, devca.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key.(crypto.Signer)
}

// signForeign signs an X.509-SVID for id with ca, whatever id's trust domain.
func signForeign(t *testing.T, ca *devca.CA, caKey crypto.Signer, id spiffeid.ID) *x509svid.SVID {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{Organization: []string{"rogue"}},
		URIs:                  []*url.URL{id.URL()},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate(), key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &x509svid.SVID{ID: id, Certificates: []*x509.Certificate{cert}, PrivateKey: key}
}

// A peer's SVID is verified against its own trust domain's bundle only: a
// CA of A cannot vouch for an ID in B, and a trust domain without a bundle
// cannot be verified at all. Each case runs a real TLS handshake in both
// directions (the peer as server, then as client).
func TestPeerVerificationIsPerTrustDomain(t *testing.T) {
	t.Parallel()
	caA, keyA := rogueCA(t, "a.test")
	caB, caD, caLocal := newCA(t, "b.test"), newCA(t, "d.test"), newCA(t, "local.test")
	idB := spiffeid.RequireFromString("spiffe://b.test/meshfed/gateway/b/gw")
	me := issue(t, caLocal, "/meshfed/gateway/local/gw")

	both := map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 1, caA), "b.test": bundleOf(t, 1, caB)}
	onlyA := map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 1, caA)}

	for _, tc := range []struct {
		name    string
		peer    *x509svid.SVID
		bundles map[string]*meshfedv1.Bundle
		wantErr string // "" means accepted
		wantIs  error
	}{
		{name: "A's SVID", peer: issue(t, caA, "/meshfed/gateway/a/gw"), bundles: both},
		{name: "B's SVID", peer: issue(t, caB, "/meshfed/gateway/b/gw"), bundles: both},
		{name: "CA of A signing an ID in B", peer: signForeign(t, caA, keyA, idB), bundles: both, wantErr: "could not verify leaf certificate"},
		{name: "CA of A signing an ID in B, B not federated", peer: signForeign(t, caA, keyA, idB), bundles: onlyA, wantErr: `"b.test" is not federated`, wantIs: identity.ErrNoBundle},
		{name: "trust domain without a bundle", peer: issue(t, caD, "/meshfed/gateway/d/gw"), bundles: both, wantErr: `"d.test" is not federated`, wantIs: identity.ErrNoBundle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peers := identity.NewFederatedBundles(caLocal.TrustDomain(), caLocal.Bundle())
			if err := peers.Update(tc.bundles); err != nil {
				t.Fatal(err)
			}

			// Straight verification, as the handshake does it.
			_, _, err := x509svid.Verify(tc.peer.Certificates, peers)
			checkVerdict(t, "x509svid.Verify", err, tc.wantErr, tc.wantIs)

			// The peer is the server; we dial it.
			srv := startEcho(t, identity.ServerConfig(tc.peer, x509bundle.NewSet(caLocal.Bundle()), tlsconfig.AuthorizeAny()), nil)
			c, err := dial(srv.addr(), identity.ClientConfig(me, peers, tlsconfig.AuthorizeAny()))
			if err == nil {
				err = roundTrip(c, "hello")
				c.Close()
			}
			checkVerdict(t, "dialing the peer", err, tc.wantErr, tc.wantIs)

			// The peer dials us.
			errs := make(chan error, 1)
			us := startEcho(t, identity.ServerConfig(me, peers, tlsconfig.AuthorizeAny()), errs)
			c, err = dial(us.addr(), identity.ClientConfig(tc.peer, x509bundle.NewSet(caLocal.Bundle()), tlsconfig.AuthorizeAny()))
			if err == nil {
				err = roundTrip(c, "hello")
				c.Close()
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("accepting the peer: %v", err)
				}
				return
			}
			select {
			case serverErr := <-errs:
				checkVerdict(t, "accepting the peer", serverErr, tc.wantErr, tc.wantIs)
			case <-time.After(10 * time.Second):
				t.Fatalf("server accepted the peer (client side: %v)", err)
			}
		})
	}
}

func checkVerdict(t *testing.T, what string, err error, wantErr string, wantIs error) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("%s: rejected: %v", what, err)
	case wantErr != "" && err == nil:
		t.Fatalf("%s: accepted, want rejected (%s)", what, wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("%s: error %q does not contain %q", what, err, wantErr)
	case wantIs != nil && !errors.Is(err, wantIs):
		t.Fatalf("%s: error %v is not %v", what, err, wantIs)
	}
}

func TestFederatedBundlesUpdate(t *testing.T) {
	t.Parallel()
	caA, caA2, caB := newCA(t, "a.test"), newCA(t, "a.test"), newCA(t, "b.test")
	tdA, tdB := caA.TrustDomain(), caB.TrustDomain()
	local := newCA(t, "local.test")
	jwtOnly := &meshfedv1.Bundle{TrustDomain: "b.test", Sequence: 9, Jwks: []byte(`{"keys":[]}`)}

	get := func(f *identity.FederatedBundles, td spiffeid.TrustDomain) *x509bundle.Bundle {
		t.Helper()
		b, err := f.GetX509BundleForTrustDomain(td)
		if err != nil {
			t.Fatalf("bundle of %s: %v", td, err)
		}
		return b
	}

	t.Run("unchanged bundles are not parsed again", func(t *testing.T) {
		t.Parallel()
		f := identity.NewFederatedBundles(local.TrustDomain(), local.Bundle())
		in := map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 1, caA)}
		if err := f.Update(in); err != nil {
			t.Fatal(err)
		}
		first := get(f, tdA)
		if err := f.Update(in); err != nil {
			t.Fatal(err)
		}
		if get(f, tdA) != first {
			t.Fatal("same sequence and document parsed again")
		}
		if err := f.Update(map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 2, caA, caA2)}); err != nil {
			t.Fatal(err)
		}
		if b := get(f, tdA); b == first || !b.HasX509Authority(caA2.Certificate()) {
			t.Fatal("new sequence not applied")
		}
		if seq, ok := f.Sequence(tdA); !ok || seq != 2 {
			t.Fatalf("Sequence = %d, %v; want 2", seq, ok)
		}
	})

	t.Run("bad bundles keep the last good one and do not stop the others", func(t *testing.T) {
		t.Parallel()
		f := identity.NewFederatedBundles(spiffeid.TrustDomain{}, nil)
		if err := f.Update(map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 5, caA)}); err != nil {
			t.Fatal(err)
		}
		err := f.Update(map[string]*meshfedv1.Bundle{
			"a.test":    bundleOf(t, 4, caA2),                                             // rollback
			"b.test":    {TrustDomain: "b.test", Sequence: 1, Jwks: []byte(`{"keys": [`)}, // malformed
			"c.test":    bundleOf(t, 1, caB),                                              // named b.test inside
			"Bad Name!": bundleOf(t, 1, caB),
		})
		for _, want := range []string{`trust domain "a.test": got sequence 4, hold 5`, `bundle of trust domain "b.test" (sequence 1)`, `bundle stored under "c.test" names trust domain "b.test"`, `bundle key "Bad Name!"`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not contain %q", err, want)
			}
		}
		if !errors.Is(err, identity.ErrRollback) {
			t.Errorf("error %v is not ErrRollback", err)
		}
		if b := get(f, tdA); !b.HasX509Authority(caA.Certificate()) || b.HasX509Authority(caA2.Certificate()) {
			t.Fatal("rollback replaced the held bundle")
		}
		if _, err := f.GetX509BundleForTrustDomain(tdB); !errors.Is(err, identity.ErrNoBundle) {
			t.Fatalf("malformed bundle: %v, want ErrNoBundle", err)
		}
		if err := f.Update(map[string]*meshfedv1.Bundle{"b.test": jwtOnly}); err == nil || !strings.Contains(err.Error(), "no X.509 authority") {
			t.Fatalf("JWT-only bundle: %v", err)
		}
	})

	t.Run("dropped trust domains are gone", func(t *testing.T) {
		t.Parallel()
		f := identity.NewFederatedBundles(spiffeid.TrustDomain{}, nil)
		if err := f.Update(map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 1, caA), "b.test": bundleOf(t, 1, caB)}); err != nil {
			t.Fatal(err)
		}
		if err := f.Update(map[string]*meshfedv1.Bundle{"b.test": bundleOf(t, 1, caB)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.GetX509BundleForTrustDomain(tdA); !errors.Is(err, identity.ErrNoBundle) {
			t.Fatalf("dropped trust domain: %v", err)
		}
		get(f, tdB)
	})

	t.Run("the local trust domain comes from the local source", func(t *testing.T) {
		t.Parallel()
		f := identity.NewFederatedBundles(tdA, caA.Bundle())
		// The control plane's copy of the local trust domain is ignored.
		if err := f.Update(map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, 1, caA2)}); err != nil {
			t.Fatal(err)
		}
		if b := get(f, tdA); !b.HasX509Authority(caA.Certificate()) || b.HasX509Authority(caA2.Certificate()) {
			t.Fatal("local trust domain not answered by the local source")
		}
	})
}

func TestConfigsRefuseANilAuthorizer(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "a.test")
	svid := issue(t, ca, "/x")
	for name, f := range map[string]func() *tls.Config{
		"server": func() *tls.Config { return identity.ServerConfig(svid, ca.Bundle(), nil) },
		"client": func() *tls.Config { return identity.ClientConfig(svid, ca.Bundle(), nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}
