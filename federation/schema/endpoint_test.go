package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestValidateBundleEndpoint(t *testing.T) {
	t.Parallel()
	web := func() *meshfedv1.BundleEndpoint {
		return &meshfedv1.BundleEndpoint{TrustDomain: "eu-1.example.org", Url: "https://spire.eu-1.example.org:8443/", Profile: "https_web"}
	}
	tests := []struct {
		name   string
		mutate func(e *meshfedv1.BundleEndpoint)
		want   string // substring of the error; empty means valid
	}{
		{"https_web", func(*meshfedv1.BundleEndpoint) {}, ""},
		{"https_spiffe", func(e *meshfedv1.BundleEndpoint) {
			e.Profile, e.EndpointSpiffeId = "https_spiffe", "spiffe://eu-1.example.org/spire/server"
		}, ""},
		{"bad trust domain", func(e *meshfedv1.BundleEndpoint) { e.TrustDomain = "x y" }, `trust_domain "x y"`},
		{"http", func(e *meshfedv1.BundleEndpoint) { e.Url = "http://spire:8443" }, `url "http://spire:8443" is not an https URL`},
		{"no host", func(e *meshfedv1.BundleEndpoint) { e.Url = "https:///bundle" }, "is not an https URL with a host"},
		{"not a URL", func(e *meshfedv1.BundleEndpoint) { e.Url = "spire:8443" }, "is not an https URL"},
		{"user info", func(e *meshfedv1.BundleEndpoint) { e.Url = "https://u:p@spire/" }, "is not an https URL"},
		{"unknown profile", func(e *meshfedv1.BundleEndpoint) { e.Profile = "https" }, `profile "https" is not one of https_web, https_spiffe`},
		{"spiffe without id", func(e *meshfedv1.BundleEndpoint) { e.Profile = "https_spiffe" }, `endpoint_spiffe_id "" is not a valid SPIFFE ID`},
		{"web with id", func(e *meshfedv1.BundleEndpoint) { e.EndpointSpiffeId = "spiffe://x/y" }, "is only used with profile https_spiffe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := web()
			tt.mutate(e)
			err := schema.ValidateBundleEndpoint(e)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, schema.ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func FuzzBundleEndpoint(f *testing.F) {
	f.Add("eu-1.example.org", "https://spire:8443/", "https_web", "")
	f.Add("eu-1.example.org", "https://[::1]:8443/b", "https_spiffe", "spiffe://eu-1.example.org/spire/server")
	f.Add("x", "https://%zz", "https_spiffe", "spiffe://")
	f.Fuzz(func(t *testing.T, td, url, profile, id string) {
		e := &meshfedv1.BundleEndpoint{TrustDomain: td, Url: url, Profile: profile, EndpointSpiffeId: id}
		err := schema.ValidateBundleEndpoint(e)
		if err != nil && !errors.Is(err, schema.ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
		if err == nil && !strings.HasPrefix(strings.ToLower(url), "https://") {
			t.Fatalf("accepted non-https URL %q", url)
		}
	})
}
