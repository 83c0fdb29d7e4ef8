package azure_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/azure"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
)

var pluginDir string

func TestMain(m *testing.M) {
	// The plugins inherit the environment: a machine's own workload
	// identity must not leak into the tests, which set it themselves.
	for _, k := range []string{azure.EnvClientID, azure.EnvTenantID, azure.EnvFederatedTokenFile, azure.EnvAuthorityHost} {
		os.Unsetenv(k)
	}
	plugintest.Main(m, &pluginDir, "cmd/meshfed-provider-azure")
}

const instanceDoc = `{
  "compute": {
    "azEnvironment": "AzurePublicCloud",
    "location": "westeurope",
    "name": "aks-nodepool1-12345678-vmss_0",
    "resourceGroupName": "MC_prod_prod-eu_westeurope",
    "subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d",
    "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
    "zone": "2"
  },
  "network": {
    "interface": [{
      "ipv4": {
        "ipAddress": [{"privateIpAddress": "10.224.0.4", "publicIpAddress": "203.0.113.30"}],
        "subnet": [{"address": "10.224.0.0", "prefix": "16"}]
      },
      "macAddress": "000D3A2B3C4D"
    }]
  }
}`

// fakeIMDS stands in for the Azure Instance Metadata Service: GET
// /metadata/instance needs the "Metadata: true" header and an api-version
// query parameter (else 400 with a JSON error), and refuses requests with
// X-Forwarded-For (proxied).
type fakeIMDS struct {
	srv *httptest.Server

	mu     sync.Mutex
	doc    string
	status int
	delay  time.Duration
	// The managed identity token endpoint's reply: a status other than
	// 200, or else the body.
	tokenStatus   int
	tokenBody     string
	tokenRequests int
}

func newFakeIMDS(t *testing.T) *fakeIMDS {
	f := &fakeIMDS{doc: instanceDoc, tokenBody: tokenReply()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		doc, code, delay := f.doc, f.status, f.delay
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case r.Header.Get("Metadata") != "true" || r.Header.Get("X-Forwarded-For") != "":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error": "Bad request. Required metadata header not specified"}`)
		case r.URL.Query().Get("api-version") == "":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error": "Bad request. api-version was not specified in the request."}`)
		case r.URL.Path == "/metadata/identity/oauth2/token":
			f.token(w, r)
		case r.URL.Path != "/metadata/instance":
			w.WriteHeader(http.StatusNotFound)
		case code != 0:
			w.WriteHeader(code)
			fmt.Fprint(w, `{"error": "Too many requests"}`)
		default:
			fmt.Fprint(w, doc)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func load(t *testing.T, f *fakeIMDS, endpoint string, extra map[string]any) providers.Provider {
	t.Helper()
	p, err := start(t, endpoint, extra)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs the plugin, configured with the IMDS endpoint and extra, in
// the test's environment.
func start(t *testing.T, endpoint string, extra map[string]any) (providers.Provider, error) {
	t.Helper()
	cfg := map[string]any{"imds_endpoint": endpoint}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	cat, err := providers.New(providers.Config{Dir: pluginDir, Plugins: map[string]providers.PluginConfig{"azure": {Config: b}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat.Provider(t.Context(), "azure")
}

func TestLocality(t *testing.T) {
	t.Parallel()
	f := newFakeIMDS(t)
	p := load(t, f, f.srv.URL, nil)
	got, err := p.Locality(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Instance{
		Locality:   providers.Locality{Provider: "azure", Region: "westeurope", Zone: "westeurope-2"},
		InstanceID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6", Account: "8d10da13-8125-4ba9-a717-bf7490507b3d",
	}
	if got != want {
		t.Fatalf("Locality = %+v, want %+v", got, want)
	}

	f.mu.Lock()
	f.doc = strings.Replace(instanceDoc, `"zone": "2"`, `"zone": ""`, 1)
	f.mu.Unlock()
	if got, err = p.Locality(t.Context()); err != nil || got.Locality.Zone != "" || got.Locality.Region != "westeurope" {
		t.Fatalf("non-zonal VM: %+v, %v", got, err)
	}
}

func TestMetadataErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		path     string // appended to the endpoint
		cfg      map[string]any
		break_   func(f *fakeIMDS)
		sentinel error
		want     string
	}{
		{"not found", "/nowhere", nil, func(*fakeIMDS) {}, providers.ErrNotFound, "HTTP 404"},
		{"malformed JSON", "", nil, func(f *fakeIMDS) { f.doc = `{"compute": {"location": "westeurope"` }, nil, "not valid JSON"},
		{"no location", "", nil, func(f *fakeIMDS) { f.doc = `{"compute": {"zone": "1"}}` }, nil, `compute.location ""`},
		{"throttled", "", map[string]any{"max_attempts": 2}, func(f *fakeIMDS) { f.status = http.StatusTooManyRequests }, providers.ErrUnavailable, "HTTP 429) after 2 attempts"},
		{"timeout", "", map[string]any{"timeout": "300ms"}, func(f *fakeIMDS) { f.delay = 5 * time.Second }, providers.ErrUnavailable, "no answer within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeIMDS(t)
			f.mu.Lock()
			tc.break_(f)
			f.mu.Unlock()
			p := load(t, f, f.srv.URL+tc.path, tc.cfg)
			got, err := p.Locality(t.Context())
			if err == nil {
				t.Fatalf("Locality = %+v, want an error", got)
			}
			plugintest.WantError(t, err, tc.sentinel, `plugin "azure"`, f.srv.URL, tc.want)
		})
	}
}

func TestGatewayAddresses(t *testing.T) {
	t.Parallel()
	f := newFakeIMDS(t)
	p := load(t, f, f.srv.URL, nil)
	got, err := p.GatewayAddresses(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Address != "203.0.113.30" || got[0].Kind != providers.AddressPublic || got[1].Address != "10.224.0.4" {
		t.Fatalf("GatewayAddresses = %+v", got)
	}
}

func FuzzParseInstance(f *testing.F) {
	f.Add([]byte(instanceDoc))
	f.Add([]byte(`{"compute":{"location":"West Europe","zone":"x"}}`))
	f.Add([]byte(`{"compute":{"location":"eastus"},"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.1:80"}]}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := azure.ParseInstance(b)
		if err != nil {
			return
		}
		if in.Compute.Location == "" || strings.ContainsAny(in.Compute.Location, " -") {
			t.Fatalf("accepted location %q", in.Compute.Location)
		}
		if z := in.Zone(); z != "" && !strings.HasPrefix(z, in.Compute.Location+"-") {
			t.Fatalf("zone %q not in location %q", z, in.Compute.Location)
		}
	})
}
