package identity_test

import (
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/trustbundle/identity"
)

// FuzzParsePEMFiles feeds the file source's parser arbitrary certificate,
// key and bundle files: it must not panic, and whatever it accepts must
// be an SVID that verifies against a bundle of its own trust domain.
func FuzzParsePEMFiles(f *testing.F) {
	ca := newCA(f, "a.test")
	svid := issue(f, ca, "/meshfed/gateway/a/gw")
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	bundlePEM, err := ca.Bundle().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	other := newCA(f, "b.test")
	otherPEM, err := other.Bundle().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(certPEM, keyPEM, bundlePEM)
	f.Add(certPEM, keyPEM, otherPEM)
	f.Add(bundlePEM, keyPEM, bundlePEM)
	f.Add(certPEM, []byte{}, bundlePEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"), keyPEM, bundlePEM)
	f.Add(certPEM[:len(certPEM)/2], keyPEM, bundlePEM)

	f.Fuzz(func(t *testing.T, cert, key, bundle []byte) {
		s, b, err := identity.ParsePEMFiles(cert, key, bundle)
		if err != nil {
			return
		}
		if b.TrustDomain() != s.ID.TrustDomain() {
			t.Fatalf("bundle of %q accepted for an SVID of %q", b.TrustDomain(), s.ID.TrustDomain())
		}
		if _, _, err := x509svid.Verify(s.Certificates, b, x509svid.WithTime(time.Now())); err != nil {
			t.Fatalf("accepted an SVID that does not verify: %v", err)
		}
	})
}
