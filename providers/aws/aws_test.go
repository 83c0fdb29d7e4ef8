package aws_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
)

var pluginDir string

func TestMain(m *testing.M) {
	plugintest.Main(m, &pluginDir, "cmd/meshfed-provider-aws")
}

// load starts the real aws plugin process, configured with cfg.
func load(t *testing.T, cfg map[string]any) providers.Provider {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := providers.New(providers.Config{Dir: pluginDir, Plugins: map[string]providers.PluginConfig{"aws": {Config: b}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	p, err := cat.Provider(t.Context(), "aws")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocality(t *testing.T) {
	t.Parallel()
	imds := newFakeIMDS(t)
	p := load(t, map[string]any{"imds_endpoint": imds.srv.URL})
	got, err := p.Locality(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Instance{
		Locality:   providers.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"},
		InstanceID: "i-1234567890abcdef0", Account: "123456789012",
	}
	if got != want {
		t.Fatalf("Locality = %+v, want %+v", got, want)
	}
}

// TestTokenExpiry: 1. a call gets a token; 2. the token expires on the
// metadata service's side; 3. the next call is refused (401), fetches a
// new token and succeeds.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	imds := newFakeIMDS(t)
	p := load(t, map[string]any{"imds_endpoint": imds.srv.URL})
	if _, err := p.Locality(t.Context()); err != nil {
		t.Fatal(err)
	}
	imds.expireTokens()
	got, err := p.Locality(t.Context())
	if err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	if got.Locality.Zone != "eu-west-1a" {
		t.Fatalf("zone %q after token expiry", got.Locality.Zone)
	}
	imds.set(func(f *fakeIMDS) {
		if f.puts != 2 {
			t.Errorf("%d token requests, want 2", f.puts)
		}
	})
}

func TestMetadataErrors(t *testing.T) {
	t.Parallel()
	const doc = "/latest/dynamic/instance-identity/document"
	for _, tc := range []struct {
		name     string
		cfg      map[string]any
		break_   func(f *fakeIMDS)
		sentinel error
		want     string
	}{
		{"token always refused", nil, func(f *fakeIMDS) { f.reject = true }, providers.ErrUnavailable, "HTTP 401"},
		{"timeout", map[string]any{"timeout": "300ms"}, func(f *fakeIMDS) { f.delay = 5 * time.Second }, providers.ErrUnavailable, "no answer within 300ms"},
		{"missing document", nil, func(f *fakeIMDS) { delete(f.files, doc) }, providers.ErrNotFound, "HTTP 404"},
		{"malformed JSON", nil, func(f *fakeIMDS) { f.files[doc] = `{"region": "eu-west-1", "availabilityZone": ` }, nil, "not valid JSON"},
		{"throttled 429", map[string]any{"max_attempts": 2}, func(f *fakeIMDS) { f.statuses[doc] = http.StatusTooManyRequests }, providers.ErrUnavailable, "throttled (HTTP 429)"},
		{"throttled 503", map[string]any{"max_attempts": 2}, func(f *fakeIMDS) { f.statuses[doc] = http.StatusServiceUnavailable }, providers.ErrUnavailable, "throttled (HTTP 503)"},
		{"zone of another region", nil, func(f *fakeIMDS) {
			f.files[doc] = strings.Replace(identityDoc, `"eu-west-1a"`, `"us-east-1a"`, 1)
		}, nil, `"us-east-1a" is not in region "eu-west-1"`},
		{"no zone", nil, func(f *fakeIMDS) { f.files[doc] = `{"region": "eu-west-1"}` }, nil, `availabilityZone ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imds := newFakeIMDS(t)
			imds.set(tc.break_)
			cfg := map[string]any{"imds_endpoint": imds.srv.URL}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			p := load(t, cfg)
			got, err := p.Locality(t.Context())
			if err == nil {
				t.Fatalf("Locality = %+v, want an error", got)
			}
			plugintest.WantError(t, err, tc.sentinel, `plugin "aws"`, imds.srv.URL, tc.want)
		})
	}
}

func TestGatewayAddresses(t *testing.T) {
	t.Parallel()
	imds := newFakeIMDS(t)
	p := load(t, map[string]any{"imds_endpoint": imds.srv.URL})
	got, err := p.GatewayAddresses(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []providers.Address{
		{Address: "203.0.113.10", Kind: providers.AddressPublic, Source: "instance-metadata"},
		{Address: "10.0.1.17", Kind: providers.AddressPrivate, Source: "instance-metadata"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GatewayAddresses = %+v, want %+v", got, want)
	}

	imds.set(func(f *fakeIMDS) { delete(f.files, "/latest/meta-data/public-ipv4") })
	got, err = p.GatewayAddresses(t.Context(), "")
	if err != nil || len(got) != 1 || got[0].Kind != providers.AddressPrivate {
		t.Fatalf("without a public IP: %+v, %v", got, err)
	}

	if _, err := p.GatewayAddresses(t.Context(), "eu-2"); !errors.Is(err, providers.ErrUnimplemented) {
		t.Fatalf("another cluster: %v, want ErrUnimplemented", err)
	}
}

func TestDiscoverClusters(t *testing.T) {
	t.Parallel()
	imds := newFakeIMDS(t)
	eks := newFakeEKS(t, "prod-eu", "staging-eu")
	p := load(t, map[string]any{"imds_endpoint": imds.srv.URL, "eks_endpoint": eks.URL})
	got, err := p.DiscoverClusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("DiscoverClusters = %+v, want 2 clusters", got)
	}
	want := providers.Cluster{
		Name: "prod-eu", Locality: providers.Locality{Provider: "aws", Region: "eu-west-1"},
		ID:       "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu",
		Endpoint: "https://prod-eu.gr7.eu-west-1.eks.amazonaws.com", Status: "ACTIVE",
	}
	if got[0] != want || got[1].Name != "staging-eu" {
		t.Fatalf("DiscoverClusters = %+v, want [%+v staging-eu]", got, want)
	}
}
