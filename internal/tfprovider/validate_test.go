package tfprovider_test

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/internal/devca"
)

// caPEM returns the PEM CA certificate of a new dev CA for td.
func caPEM(t *testing.T, td string) string {
	t.Helper()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// want is one expected error: the attribute it is attached to and text
// its detail must contain.
type want struct {
	path, detail string
}

func checkErrors(t *testing.T, got []diagnostic, wants []want) {
	t.Helper()
	if len(wants) == 0 {
		if len(got) > 0 {
			t.Fatalf("want no errors, got %v", got)
		}
		return
	}
	for _, w := range wants {
		found := false
		for _, d := range got {
			if d.Path == w.path && strings.Contains(d.Detail, w.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("want an error at %q containing %q, got %v", w.path, w.detail, got)
		}
	}
	// One mistake, one error: no second validator repeating it.
	if len(got) != len(wants) {
		t.Errorf("want %d errors, got %d: %v", len(wants), len(got), got)
	}
}

func cluster(overrides map[string]any) map[string]any {
	c := map[string]any{
		"name":         "eu-1",
		"trust_domain": "eu-1.example.org",
		"locality":     map[string]any{"provider": "aws", "region": "eu-west-1", "zone": "eu-west-1a"},
	}
	for k, v := range overrides {
		c[k] = v
	}
	return c
}

func TestClusterValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   []want
	}{
		{"valid", cluster(map[string]any{
			"labels":            map[string]any{"env": "prod", "example.org/tier": "gold"},
			"gateway_addresses": []any{"10.0.0.1:15443", "gw.eu-1.example.org:15443"},
		}), nil},
		{"valid without zone, labels or addresses", cluster(map[string]any{
			"locality": map[string]any{"provider": "onprem", "region": "dc-1"},
		}), nil},
		{"unknown values are checked at apply", cluster(map[string]any{"name": unknown{}, "trust_domain": unknown{}}), nil},
		{"bad name", cluster(map[string]any{"name": "Bad_Name"}),
			[]want{{"name", `name "Bad_Name" is not a valid DNS-1123 label (1-63 lowercase letters, digits or '-'`}}},
		{"bad trust domain", cluster(map[string]any{"trust_domain": "x y"}),
			[]want{{"trust_domain", `trust_domain "x y" is not a valid SPIFFE trust domain name`}}},
		{"trust domain with a scheme", cluster(map[string]any{"trust_domain": "spiffe://eu-1.example.org"}),
			[]want{{"trust_domain", "no scheme or path"}}},
		{"bad provider", cluster(map[string]any{"locality": map[string]any{"provider": "AWS", "region": "eu-west-1"}}),
			[]want{{"locality.provider", `locality.provider "AWS" is not a valid provider name`}}},
		{"bad region", cluster(map[string]any{"locality": map[string]any{"provider": "aws", "region": "eu west"}}),
			[]want{{"locality.region", `locality.region "eu west" is not a valid region name`}}},
		{"empty zone", cluster(map[string]any{"locality": map[string]any{"provider": "aws", "region": "eu-west-1", "zone": ""}}),
			[]want{{"locality.zone", `locality.zone "" is not a valid zone name`}}},
		{"bad label key", cluster(map[string]any{"labels": map[string]any{"bad key": "x"}}),
			[]want{{"labels", `labels key "bad key" is not a valid label key`}}},
		{"bad label value", cluster(map[string]any{"labels": map[string]any{"env": "-prod"}}),
			[]want{{`labels["env"]`, `labels["env"] "-prod" is not a valid label value`}}},
		{"bad gateway address", cluster(map[string]any{"gateway_addresses": []any{"10.0.0.1:15443", "gw.example.org"}}),
			[]want{{"gateway_addresses[1]", `gateway_addresses[1] "gw.example.org" is not a host:port address`}}},
		{"too many gateway addresses", cluster(map[string]any{"gateway_addresses": func() []any {
			var a []any
			for i := 0; i < 17; i++ {
				a = append(a, "10.0.0.1:15443")
			}
			return a
		}()}), []want{{"gateway_addresses", "at most 16"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, validateResource(t, "meshfed_cluster", tc.config), tc.want)
		})
	}
}

func TestFailoverPolicyValidation(t *testing.T) {
	policy := func(doc map[string]any) map[string]any {
		for k, v := range map[string]any{"namespace": "demo", "name": "api"} {
			if _, ok := doc[k]; !ok {
				doc[k] = v
			}
		}
		return doc
	}
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   []want
	}{
		{"valid", policy(map[string]any{
			"targets": []any{
				map[string]any{"region": "europe-west1"},
				map[string]any{"cluster": "backup-dc"},
				map[string]any{"labels": map[string]any{"tier": "gold"}},
			},
			"never":                []any{"legacy-1"},
			"weights":              map[string]any{"big-1": 3, "small-1": 1},
			"max_shift_per_second": 0.2,
		}), nil},
		{"empty policy", policy(map[string]any{}), nil},
		{"bad namespace", policy(map[string]any{"namespace": "Demo"}),
			[]want{{"namespace", `namespace "Demo" is not a valid DNS-1123 label`}}},
		{"target with two kinds", policy(map[string]any{"targets": []any{
			map[string]any{"region": "eu-west-1", "cluster": "eu-1"},
		}}), []want{{"targets[0]", "targets[0] sets region and cluster: set exactly one of region, cluster or labels."}}},
		{"empty target", policy(map[string]any{"targets": []any{map[string]any{}}}),
			[]want{{"targets[0]", "targets[0] sets none of them: set exactly one of region, cluster or labels."}}},
		{"target with empty labels", policy(map[string]any{"targets": []any{
			map[string]any{"labels": map[string]any{}},
		}}), []want{{"targets[0].labels", "at least 1"}}},
		{"bad target cluster", policy(map[string]any{"targets": []any{
			map[string]any{"region": "eu-west-1"}, map[string]any{"cluster": "EU_1"},
		}}), []want{{"targets[1].cluster", `targets[1].cluster "EU_1" is not a valid DNS-1123 label`}}},
		{"bad never", policy(map[string]any{"never": []any{"ok-1", "not ok"}}),
			[]want{{"never[*]", `"not ok" is not a valid DNS-1123 label`}}},
		{"bad weight key", policy(map[string]any{"weights": map[string]any{"Big": 1}}),
			[]want{{"weights", `weights key "Big" is not a valid DNS-1123 label`}}},
		{"negative weight", policy(map[string]any{"weights": map[string]any{"big": -1}}),
			[]want{{`weights["big"]`, "value must be between 0 and 4294967295"}}},
		{"shift above 1", policy(map[string]any{"max_shift_per_second": 1.5}),
			[]want{{"max_shift_per_second", "must be between 0.000000 and 1.000000"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, validateResource(t, "meshfed_failover_policy", tc.config), tc.want)
		})
	}
}

func TestAuthorizationPolicyValidation(t *testing.T) {
	policy := func(allow ...any) map[string]any {
		if allow == nil {
			allow = []any{}
		}
		return map[string]any{"namespace": "demo", "name": "api", "allow": allow}
	}
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   []want
	}{
		{"valid", policy(
			map[string]any{"cluster": "east"},
			map[string]any{"trust_domain": "partner.example"},
			map[string]any{"spiffe_id": "spiffe://east.example/meshfed/gateway/east/*"},
			map[string]any{"trust_domain": "east.example", "cluster": "east"},
		), nil},
		{"deny everybody", policy(), nil},
		{"rule matching everybody", policy(map[string]any{}),
			[]want{{"allow[0]", "allow[0] sets none of them: set at least one of trust_domain, cluster or spiffe_id."}}},
		{"bad trust domain", policy(map[string]any{"trust_domain": "Partner.Example"}),
			[]want{{"allow[0].trust_domain", `allow[0].trust_domain "Partner.Example" is not a valid SPIFFE trust domain name`}}},
		{"bad spiffe id", policy(map[string]any{"cluster": "east"}, map[string]any{"spiffe_id": "east/*"}),
			[]want{{"allow[1].spiffe_id", `allow[1].spiffe_id "east/*" is not a SPIFFE ID or a SPIFFE ID prefix ending in /*`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, validateResource(t, "meshfed_authorization_policy", tc.config), tc.want)
		})
	}
}

func TestTrustDomainValidation(t *testing.T) {
	td := "eu-1.example.org"
	pemCA := caPEM(t, td)
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(goodFile, []byte(pemCA), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFile, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","use":"jwt-svid","kid":"a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	web := map[string]any{"url": "https://spire.eu-1.example.org:8443", "profile": "https_web"}
	spiffe := map[string]any{"url": "https://10.0.0.5:8443", "profile": "https_spiffe", "endpoint_spiffe_id": "spiffe://eu-1.example.org/spire/server"}
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   []want
	}{
		{"bundle", map[string]any{"trust_domain": td, "bundle": pemCA}, nil},
		{"bundle file", map[string]any{"trust_domain": td, "bundle_file": goodFile}, nil},
		{"https_web endpoint", map[string]any{"trust_domain": td, "bundle_endpoint": web}, nil},
		{"https_spiffe endpoint with a bootstrap bundle", map[string]any{"trust_domain": td, "bundle_endpoint": spiffe, "bundle": pemCA}, nil},
		{"unknown bundle", map[string]any{"trust_domain": td, "bundle": unknown{}}, nil},
		{"nothing", map[string]any{"trust_domain": td},
			[]want{{"", "At least one of these attributes must be configured: [bundle,bundle_file,bundle_endpoint]"}}},
		{"bundle and bundle_file", map[string]any{"trust_domain": td, "bundle": pemCA, "bundle_file": goodFile},
			[]want{{"bundle", "cannot be configured together"}}},
		{"bad trust domain", map[string]any{"trust_domain": "EU", "bundle": pemCA},
			[]want{{"trust_domain", `trust_domain "EU" is not a valid SPIFFE trust domain name`}}},
		{"garbage bundle", map[string]any{"trust_domain": td, "bundle": "hello"},
			[]want{{"bundle", "bundle is neither a SPIFFE bundle document (JWKS) nor PEM certificates"}}},
		{"bundle with a private key", map[string]any{"trust_domain": td, "bundle": `{"keys":[{"kty":"oct","k":"c2VjcmV0","use":"jwt-svid","kid":"a"}]}`},
			[]want{{"bundle", "private or symmetric key material"}}},
		{"missing bundle file", map[string]any{"trust_domain": td, "bundle_file": filepath.Join(dir, "nope.pem")},
			[]want{{"bundle_file", "cannot be read"}}},
		{"bad bundle file", map[string]any{"trust_domain": td, "bundle_file": badFile},
			[]want{{"bundle_file", "private or symmetric key material"}}},
		{"bad profile", map[string]any{"trust_domain": td, "bundle_endpoint": map[string]any{"url": "https://x.example", "profile": "https"}},
			[]want{{"bundle_endpoint.profile", `bundle_endpoint.profile "https" is not one of https_web, https_spiffe.`}}},
		{"http url", map[string]any{"trust_domain": td, "bundle_endpoint": map[string]any{"url": "http://x.example", "profile": "https_web"}},
			[]want{{"bundle_endpoint.url", `bundle_endpoint.url "http://x.example" is not an https URL with a host`}}},
		{"https_spiffe without an endpoint id", map[string]any{"trust_domain": td, "bundle_endpoint": map[string]any{"url": "https://x.example", "profile": "https_spiffe"}},
			[]want{{"bundle_endpoint.endpoint_spiffe_id", "profile https_spiffe needs the endpoint's ID"}}},
		{"https_web with an endpoint id", map[string]any{"trust_domain": td, "bundle_endpoint": map[string]any{
			"url": "https://x.example", "profile": "https_web", "endpoint_spiffe_id": "spiffe://eu-1.example.org/spire/server"}},
			[]want{{"bundle_endpoint.endpoint_spiffe_id", "is only used with profile https_spiffe"}}},
		{"bundle with https_web", map[string]any{"trust_domain": td, "bundle_endpoint": web, "bundle": pemCA},
			[]want{{"bundle", "bundle goes with bundle_endpoint only as the bootstrap bundle of profile https_spiffe"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, validateResource(t, "meshfed_trust_domain", tc.config), tc.want)
		})
	}
}

func TestDataSourceValidation(t *testing.T) {
	checkErrors(t, validateDataSource(t, "meshfed_cluster", map[string]any{"name": "eu-1"}), nil)
	checkErrors(t, validateDataSource(t, "meshfed_cluster", map[string]any{"name": "eu_1"}),
		[]want{{"name", `name "eu_1" is not a valid DNS-1123 label`}})
	checkErrors(t, validateDataSource(t, "meshfed_imports", map[string]any{}), nil)
	checkErrors(t, validateDataSource(t, "meshfed_imports", map[string]any{"namespace": "Demo"}),
		[]want{{"namespace", `namespace "Demo" is not a valid DNS-1123 label`}})
}

func TestProviderValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   []want
	}{
		{"config file only", map[string]any{"config_path": "/etc/meshfed.yaml"}, nil},
		{"everything by attributes", map[string]any{
			"server": "127.0.0.1:15012", "ca_file": "ca.pem", "server_id": "spiffe://meshfed.local/meshfed/controlplane",
			"cert_file": "admin.pem", "key_file": "admin-key.pem", "timeout": "1m",
		}, nil},
		{"bad server", map[string]any{"server": "localhost"}, []want{{"server", `server "localhost" is not a host:port address`}}},
		{"bad server id", map[string]any{"server_id": "meshfed.local"}, []want{{"server_id", `server_id "meshfed.local" is not a SPIFFE ID`}}},
		{"bad timeout", map[string]any{"timeout": "30"}, []want{{"timeout", `timeout "30" is not a positive duration`}}},
		{"cert without key", map[string]any{"cert_file": "admin.pem"}, []want{{"cert_file", "These attributes must be configured together: [cert_file,key_file]"}}},
		{"token and cert", map[string]any{"token": "t", "cert_file": "admin.pem", "key_file": "k.pem"},
			[]want{{"token", "cannot be configured together"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, validateProvider(t, tc.config), tc.want)
		})
	}
}
