package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

const testTD = "eu-1.example.org"

func testCA(t testing.TB) *devca.CA {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(testTD), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func caPEM(t testing.TB, ca *devca.CA) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})
}

func testJWKS(t testing.TB, ca *devca.CA, sequence uint64, hint time.Duration) []byte {
	t.Helper()
	sb := spiffebundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString(testTD), []*x509.Certificate{ca.Certificate()})
	if sequence != 0 {
		sb.SetSequenceNumber(sequence)
	}
	if hint != 0 {
		sb.SetRefreshHint(hint)
	}
	data, err := sb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testBundle is a bundle record as the control plane would return it.
func testBundle(t testing.TB, sequence uint64, hint time.Duration) *meshfedv1.Bundle {
	t.Helper()
	b, err := bundleFromFile(testTD, testJWKS(t, testCA(t), sequence, hint), 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBundleFromFile(t *testing.T) {
	ca := testCA(t)
	leaf, err := ca.IssueSVID(spiffeid.RequireFromPath(ca.TrustDomain(), "/w"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificates[0].Raw})
	tests := []struct {
		name     string
		td       string
		data     []byte
		sequence uint64
		wantSeq  uint64
		wantHint int64
		wantErr  string
	}{
		{name: "jwks keeps sequence and hint", td: testTD, data: testJWKS(t, ca, 9, 90*time.Second), wantSeq: 9, wantHint: 90},
		{name: "jwks without sequence", td: testTD, data: testJWKS(t, ca, 0, 0)},
		{name: "jwks with --sequence", td: testTD, data: testJWKS(t, ca, 9, 0), sequence: 12, wantSeq: 12},
		{name: "pem", td: testTD, data: caPEM(t, ca), wantSeq: 1},
		{name: "pem with --sequence", td: testTD, data: caPEM(t, ca), sequence: 7, wantSeq: 7},
		{name: "pem leaf", td: testTD, data: leafPEM, wantErr: "is not a CA certificate"},
		{name: "pem key only", td: testTD, data: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), wantErr: "CERTIFICATE"},
		{name: "garbage", td: testTD, data: []byte("hello"), wantErr: "neither a SPIFFE bundle document"},
		{name: "no keys", td: testTD, data: []byte(`{"keys":[]}`), wantErr: "holds no keys"},
		{name: "bad trust domain", td: "Eu 1", data: caPEM(t, ca), wantErr: `"Eu 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bundleFromFile(tt.td, tt.data, tt.sequence)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.GetTrustDomain() != tt.td || b.GetSequence() != tt.wantSeq || b.GetRefreshHintSeconds() != tt.wantHint {
				t.Errorf("got trust domain %q sequence %d hint %d, want %q %d %d",
					b.GetTrustDomain(), b.GetSequence(), b.GetRefreshHintSeconds(), tt.td, tt.wantSeq, tt.wantHint)
			}
			sb, err := schema.ParseBundle(b)
			if err != nil {
				t.Fatal(err)
			}
			if seq, _ := sb.SequenceNumber(); seq != tt.wantSeq {
				t.Errorf("document sequence %d, want %d", seq, tt.wantSeq)
			}
			if !sb.HasX509Authority(ca.Certificate()) {
				t.Errorf("document lacks the CA certificate")
			}
		})
	}
}

func FuzzBundleFromFile(f *testing.F) {
	ca := testCA(f)
	f.Add(caPEM(f, ca))
	f.Add(testJWKS(f, ca, 3, time.Minute))
	f.Add([]byte(`{"keys":[{"kty":"EC","use":"jwt-svid","kid":"k","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundleFromFile(testTD, data, 0)
		if err != nil {
			return
		}
		if b.GetTrustDomain() != testTD {
			t.Fatalf("trust domain %q", b.GetTrustDomain())
		}
		if _, err := schema.ParseBundle(b); err != nil {
			t.Fatalf("accepted a bundle schema refuses: %v", err)
		}
	})
}

func FuzzReadPolicyFile(f *testing.F) {
	f.Add([]byte(`{"targets":[{"region":"eu-west-1"}]}`))
	f.Add([]byte("allow:\n- trust_domain: a.example\n"))
	f.Add([]byte("targets: []\ntargets: []\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := readPolicyFile(bytes.NewReader(data), "-")
		if err != nil {
			return
		}
		if !json.Valid(doc) {
			t.Fatalf("converted document is not JSON: %q", doc)
		}
		// Validation must not panic on whatever the conversion produced.
		_ = schema.ValidatePolicy(&meshfedv1.Policy{Namespace: "demo", Name: "api", Kind: schema.PolicyFailover, Document: doc})
	})
}
