package devca_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

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
