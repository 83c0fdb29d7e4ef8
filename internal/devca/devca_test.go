package devca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/internal/devca"
)

func TestIssuedSVIDVerifiesAgainstItsBundleOnly(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("eu-1.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeid.RequireFromPath(td, "/meshfed/gateway/eu-1/gw")
	svid, err := ca.IssueSVID(id, time.Minute, devca.SVIDOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := x509svid.Verify(svid.Certificates, ca.Bundle())
	if err != nil || got != id {
		t.Fatalf("verify: %v %v", got, err)
	}
	other, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509svid.Verify(svid.Certificates, other.Bundle()); err == nil {
		t.Fatal("SVID verified against another CA of the same trust domain")
	}
	if svid.Certificates[0].NotAfter.After(time.Now().Add(2 * time.Minute)) {
		t.Fatalf("TTL not applied: expires %v", svid.Certificates[0].NotAfter)
	}
	if _, err := ca.IssueSVID(spiffeid.RequireFromString("spiffe://us-1.test/x"), time.Minute, devca.SVIDOptions{}); err == nil {
		t.Fatal("issued an SVID outside the CA's trust domain")
	}
}

func TestLoadOrCreateKeepsTheCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	td := spiffeid.RequireTrustDomainFromString("cp.test")
	first, created, err := devca.LoadOrCreate(dir, td, time.Hour)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	again, created, err := devca.LoadOrCreate(dir, td, time.Hour)
	if err != nil || created {
		t.Fatalf("load: %v created=%v", err, created)
	}
	if !again.Certificate().Equal(first.Certificate()) || !again.Certificate().IsCA {
		t.Fatal("loaded CA differs from the created one")
	}
	pool := x509.NewCertPool()
	pool.AddCert(first.Certificate())
	svid, err := again.IssueSVID(spiffeid.RequireFromPath(td, "/a"), time.Minute, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svid.Certificates[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("SVID from the reloaded CA does not chain to the original: %v", err)
	}
	_, _, err = devca.LoadOrCreate(dir, spiffeid.RequireTrustDomainFromString("other.test"), time.Hour)
	if err == nil || !strings.Contains(err.Error(), `not "other.test"`) {
		t.Fatalf("loading with another trust domain: %v", err)
	}
}

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

func keyUsageCritical(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidKeyUsage) {
			return e.Critical
		}
	}
	return false
}

// TestSVIDsFollowTheX509SVIDSpec checks, on parsed DER, each rule of
// https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md that
// applies to the leaves devca issues and to its signing certificate.
func TestSVIDsFollowTheX509SVIDSpec(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("spec.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeid.RequireFromPath(td, "/ns/demo/sa/api")
	svid, err := ca.IssueSVID(id, time.Minute, devca.SVIDOptions{DNSNames: []string{"api.demo"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(svid.Certificates) != 1 {
		t.Fatalf("chain of %d certificates, want the leaf only", len(svid.Certificates))
	}
	leaf, err := x509.ParseCertificate(svid.Certificates[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate().Raw)
	if err != nil {
		t.Fatal(err)
	}
	hasEKU := func(c *x509.Certificate, u x509.ExtKeyUsage) bool { return slices.Contains(c.ExtKeyUsage, u) }
	rules := []struct {
		name string
		ok   bool
	}{
		// Section 2: exactly one URI SAN, the SPIFFE ID; other SANs allowed.
		{"leaf has exactly one URI SAN", len(leaf.URIs) == 1},
		{"leaf URI SAN is the SPIFFE ID", len(leaf.URIs) == 1 && leaf.URIs[0].String() == id.String()},
		{"leaf keeps its DNS SAN", slices.Equal(leaf.DNSNames, []string{"api.demo"})},
		// Section 3.1: non-root path; a Subject, so the SAN need not be critical.
		{"leaf SPIFFE ID has a non-root path", len(leaf.URIs) == 1 && leaf.URIs[0].Path != "" && leaf.URIs[0].Path != "/"},
		{"leaf has a Subject", len(leaf.Subject.ToRDNSequence()) > 0},
		// Section 4.1: basic constraints.
		{"leaf basic constraints present", leaf.BasicConstraintsValid},
		{"leaf is not a CA", !leaf.IsCA},
		// Section 4.3: key usage, critical.
		{"leaf key usage is critical", keyUsageCritical(leaf)},
		{"leaf has digitalSignature", leaf.KeyUsage&x509.KeyUsageDigitalSignature != 0},
		{"leaf has no keyCertSign", leaf.KeyUsage&x509.KeyUsageCertSign == 0},
		{"leaf has no cRLSign", leaf.KeyUsage&x509.KeyUsageCRLSign == 0},
		// Section 4.4: when the EKU is present, serverAuth and clientAuth.
		{"leaf EKU has serverAuth", hasEKU(leaf, x509.ExtKeyUsageServerAuth)},
		{"leaf EKU has clientAuth", hasEKU(leaf, x509.ExtKeyUsageClientAuth)},
		// Section 3.2: the signing certificate.
		{"CA basic constraints CA=true", caCert.BasicConstraintsValid && caCert.IsCA},
		{"CA key usage is critical", keyUsageCritical(caCert)},
		{"CA has keyCertSign", caCert.KeyUsage&x509.KeyUsageCertSign != 0},
		{"CA SPIFFE ID has no path", len(caCert.URIs) == 1 && caCert.URIs[0].String() == td.IDString()},
		// Not the spec, the brief: P-256 keys, short-lived leaves.
		{"leaf key is ECDSA P-256", isP256(leaf.PublicKey)},
		{"leaf lives no longer than asked", leaf.NotAfter.Sub(leaf.NotBefore) <= 2*time.Minute},
		{"leaf is signed by the CA", leaf.CheckSignatureFrom(caCert) == nil},
	}
	for _, r := range rules {
		if !r.ok {
			t.Errorf("%s: rule broken", r.name)
		}
	}
	if _, _, err := x509svid.Verify(svid.Certificates, ca.Bundle()); err != nil {
		t.Errorf("go-spiffe rejects the SVID: %v", err)
	}
}

func isP256(k any) bool {
	pub, ok := k.(*ecdsa.PublicKey)
	return ok && pub.Curve == elliptic.P256()
}

func TestIssueSVIDRefusesTheTrustDomainID(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("spec.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ca.IssueSVID(td.ID(), time.Minute, devca.SVIDOptions{})
	if err == nil || !strings.Contains(err.Error(), "spiffe://spec.test has no path") {
		t.Fatalf("issued a leaf for the trust domain ID: %v", err)
	}
}

func TestSPIFFEBundle(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("spec.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := ca.SPIFFEBundle(3, 5*time.Minute)
	seq, _ := b.SequenceNumber()
	hint, _ := b.RefreshHint()
	if b.TrustDomain() != td || seq != 3 || hint != 5*time.Minute {
		t.Errorf("trust domain %s, sequence %d, refresh hint %v", b.TrustDomain(), seq, hint)
	}
	if got := b.X509Authorities(); len(got) != 1 || !got[0].Equal(ca.Certificate()) {
		t.Errorf("X.509 authorities are not the CA certificate alone: %d", len(got))
	}
	if len(b.JWTAuthorities()) != 0 {
		t.Errorf("unexpected JWT authorities")
	}
	if _, ok := ca.SPIFFEBundle(1, 0).RefreshHint(); ok {
		t.Errorf("refresh hint 0 was set")
	}
}

// TestWriteBundleJSON walks a bundle file through its life: written at
// sequence 1, kept while the CA is the same, bumped when the CA changes,
// and never overwritten when it is not a bundle.
func TestWriteBundleJSON(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("spec.test")
	path := filepath.Join(t.TempDir(), "sub", devca.BundleFile)
	first, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	second, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		ca          *devca.CA
		wantSeq     uint64
		wantWritten bool
	}{
		{"1. new file", first, 1, true},
		{"2. same CA keeps the file", first, 1, false},
		{"3. a new CA bumps the sequence", second, 2, true},
		{"4. then is kept", second, 2, false},
	}
	for _, s := range steps {
		seq, written, err := s.ca.WriteBundleJSON(path, 5*time.Minute)
		if err != nil || seq != s.wantSeq || written != s.wantWritten {
			t.Fatalf("%s: sequence %d written %v err %v; want %d %v", s.name, seq, written, err, s.wantSeq, s.wantWritten)
		}
		b, err := spiffebundle.Load(td, path)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, _ := b.SequenceNumber()
		hint, _ := b.RefreshHint()
		if got != s.wantSeq || hint != 5*time.Minute || !b.HasX509Authority(s.ca.Certificate()) || len(b.X509Authorities()) != 1 {
			t.Fatalf("%s: file has sequence %d, hint %v, %d authorities", s.name, got, hint, len(b.X509Authorities()))
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("bundle file mode: %v %v", fi.Mode(), err)
	}

	if err := os.WriteFile(path, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.WriteBundleJSON(path, 0); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("malformed bundle file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "not json" {
		t.Fatalf("malformed bundle file was overwritten")
	}
}
