package schema_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestParseBundleRefusesWhatMustNotBeFederated(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("eu-1.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueSVID(spiffeid.RequireFromPath(td, "/gw"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	encode := func(certs ...*x509.Certificate) string {
		b := spiffebundle.FromX509Authorities(td, certs)
		b.SetSequenceNumber(1)
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	good := encode(ca.Certificate())
	var many []*x509.Certificate
	for range schema.MaxBundleKeys + 1 {
		c, err := devca.New(td, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, c.Certificate())
	}
	tests := []struct {
		name, td, jwks, want string
	}{
		{"valid", "eu-1.test", good, ""},
		{"malformed JSON", "eu-1.test", `{"keys": [`, "is not a SPIFFE bundle document"},
		{"no keys", "eu-1.test", `{"keys":[]}`, "holds no keys"},
		{"leaf as authority", "eu-1.test", encode(leaf.Certificates[0]), "is not a CA certificate"},
		{"oversize", "eu-1.test", good[:len(good)-1] + `,"pad":"` + strings.Repeat("x", schema.MaxBundleBytes) + `"}`, "bytes is more than"},
		{"too many keys", "eu-1.test", encode(many...), "is more than the 64 allowed"},
		{"private key member", "eu-1.test", `{"keys":[{"use":"jwt-svid","kty":"oct","k":"c2VjcmV0","kid":"s"}]}`, "private or symmetric key material"},
		{"negative refresh hint", "eu-1.test", strings.Replace(good, `"keys"`, `"spiffe_refresh_hint":-5,"keys"`, 1), "spiffe_refresh_hint"},
		{"bad trust domain", "EU 1", good, `trust_domain "EU 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := schema.ParseBundle(&meshfedv1.Bundle{TrustDomain: tt.td, Jwks: []byte(tt.jwks)})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
