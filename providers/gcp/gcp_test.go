package gcp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/gcp"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
)

var pluginDir string

func TestMain(m *testing.M) {
	plugintest.Main(m, &pluginDir, "cmd/meshfed-provider-gcp")
}

// fakeMetadata stands in for the GCE metadata server: every request must
// carry "Metadata-Flavor: Google" (else 403), every reply carries it too,
// values live under /computeMetadata/v1/, and an undefined key is a 404.
type fakeMetadata struct {
	srv *httptest.Server

	mu     sync.Mutex
	values map[string]string
	status int
	codes  map[string]int // status for one key only
	delay  time.Duration
}

func newFakeMetadata(t *testing.T) *fakeMetadata {
	f := &fakeMetadata{values: map[string]string{
		"instance/zone":                    "projects/123456789/zones/europe-west1-b",
		"project/project-id":               "meshfed-prod",
		"instance/id":                      "4520031799277581759",
		"instance/attributes/cluster-name": "prod-eu",
		"instance/network-interfaces/0/access-configs/0/external-ip": "203.0.113.20",
		"instance/network-interfaces/0/ip":                           "10.132.0.7",
		"instance/service-accounts/default/token":                    `{"access_token":"` + issuedToken + `","expires_in":3599,"token_type":"Bearer"}`,
	}, codes: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		delay, code := f.delay, f.status
		key := strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/")
		v, ok := f.values[key]
		if c, found := f.codes[key]; found {
			code = c
		}
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Metadata-Flavor", "Google")
		if r.Header.Get("Metadata-Flavor") != "Google" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		switch {
		case code != 0:
			w.WriteHeader(code)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/text")
			fmt.Fprint(w, v)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMetadata) set(fn func(f *fakeMetadata)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func load(t *testing.T, f *fakeMetadata, extra map[string]any) providers.Provider {
	t.Helper()
	cfg := map[string]any{"metadata_host": f.srv.Listener.Addr().String()}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	cat, err := providers.New(providers.Config{Dir: pluginDir, Plugins: map[string]providers.PluginConfig{"gcp": {Config: b}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	p, err := cat.Provider(t.Context(), "gcp")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocality(t *testing.T) {
	t.Parallel()
	f := newFakeMetadata(t)
	p := load(t, f, nil)
	got, err := p.Locality(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Instance{
		Locality:   providers.Locality{Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b"},
		InstanceID: "4520031799277581759", Account: "meshfed-prod", Cluster: "prod-eu",
	}
	if got != want {
		t.Fatalf("Locality = %+v, want %+v", got, want)
	}

	f.set(func(f *fakeMetadata) { delete(f.values, "instance/attributes/cluster-name") })
	if got, err = p.Locality(t.Context()); err != nil || got.Cluster != "" || got.Locality != want.Locality {
		t.Fatalf("outside GKE: %+v, %v; want no cluster and the same locality", got, err)
	}
}

func TestMetadataErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      map[string]any
		break_   func(f *fakeMetadata)
		sentinel error
		want     string
	}{
		{"missing zone", nil, func(f *fakeMetadata) { delete(f.values, "instance/zone") }, providers.ErrNotFound, "instance/zone"},
		{"malformed zone", nil, func(f *fakeMetadata) { f.values["instance/zone"] = `{"zone": "europe-west1-b"}` }, nil, "not of the form projects/NUMBER/zones/"},
		{"timeout", map[string]any{"timeout": "300ms"}, func(f *fakeMetadata) { f.delay = 5 * time.Second }, providers.ErrUnavailable, "no answer within 300ms"},
		{"throttled 429", nil, func(f *fakeMetadata) { f.status = http.StatusTooManyRequests }, providers.ErrUnavailable, "HTTP 429"},
		{"failing 503", nil, func(f *fakeMetadata) { f.status = http.StatusServiceUnavailable }, providers.ErrUnavailable, "HTTP 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeMetadata(t)
			f.set(tc.break_)
			cfg := map[string]any{"timeout": "5s"}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			p := load(t, f, cfg)
			got, err := p.Locality(t.Context())
			if err == nil {
				t.Fatalf("Locality = %+v, want an error", got)
			}
			plugintest.WantError(t, err, tc.sentinel, `plugin "gcp"`, tc.want)
		})
	}
}

func TestGatewayAddresses(t *testing.T) {
	t.Parallel()
	f := newFakeMetadata(t)
	p := load(t, f, nil)
	got, err := p.GatewayAddresses(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Address != "203.0.113.20" || got[0].Kind != providers.AddressPublic || got[1].Address != "10.132.0.7" || got[1].Kind != providers.AddressPrivate {
		t.Fatalf("GatewayAddresses = %+v", got)
	}
}

func FuzzParseZone(f *testing.F) {
	f.Add("projects/123/zones/us-central1-a")
	f.Add("projects/x/zones/us-central1")
	f.Add("us-central1-a")
	f.Fuzz(func(t *testing.T, v string) {
		zone, region, err := gcp.ParseZone(v)
		if err == nil && (!strings.HasPrefix(zone, region+"-") || len(zone) != len(region)+2) {
			t.Fatalf("ParseZone(%q) = %q, %q", v, zone, region)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"metadata_host":"127.0.0.1:8080","timeout":"1s"}`))
	f.Add([]byte(`{"metadata_host":"http://x/"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := gcp.ParseConfig(b)
		if err == nil && strings.ContainsAny(c.MetadataHost, "/?#@ ") {
			t.Fatalf("accepted metadata_host %q", c.MetadataHost)
		}
	})
}
