package gcp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/gcp"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
)

// issuedToken is the access token the fake metadata server issues and the
// fake GKE API requires.
const issuedToken = "ya29.meshfed-test-token"

const gkeClusters = `{"clusters": [
  {"name": "prod-eu", "location": "europe-west1-b", "zone": "europe-west1-b", "locations": ["europe-west1-b"],
   "endpoint": "34.76.10.1", "status": "RUNNING", "id": "a1b2c3"},
  {"name": "prod-us", "location": "us-central1", "zone": "us-central1", "locations": ["us-central1-a", "us-central1-b", "us-central1-c"],
   "endpoint": "35.188.0.2", "status": "PROVISIONING", "unknownField": true}
]}`

// fakeGKE stands in for the GKE REST API's clusters.list: GET
// /v1/projects/PROJECT/locations/-/clusters with "Authorization: Bearer
// TOKEN" (else 401 with a Google JSON error), replying a
// ListClustersResponse.
type fakeGKE struct {
	srv *httptest.Server

	mu       sync.Mutex
	body     string
	status   int
	requests int
}

func newFakeGKE(t *testing.T) *fakeGKE {
	f := &fakeGKE{body: gkeClusters}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		body, code := f.body, f.status
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		apiErr := func(code int, st, msg string) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error": {"code": %d, "message": %q, "status": %q}}`, code, msg, st)
		}
		switch {
		case r.Header.Get("Authorization") != "Bearer "+issuedToken:
			apiErr(http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
		case r.Method != http.MethodGet || r.URL.Path != "/v1/projects/meshfed-prod/locations/-/clusters":
			apiErr(http.StatusNotFound, "NOT_FOUND", "no such resource "+r.URL.Path)
		case code == http.StatusForbidden:
			apiErr(code, "PERMISSION_DENIED", "Required \"container.clusters.list\" permission(s) for \"projects/meshfed-prod\".")
		case code == http.StatusTooManyRequests:
			apiErr(code, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests'.")
		case code != 0:
			apiErr(code, "INTERNAL", "internal error")
		default:
			fmt.Fprint(w, body)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGKE) set(fn func(f *fakeGKE)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func TestDiscoverClusters(t *testing.T) {
	t.Parallel()
	md := newFakeMetadata(t)
	gke := newFakeGKE(t)
	p := load(t, md, map[string]any{"gke_endpoint": gke.srv.URL})
	got, err := p.DiscoverClusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []providers.Cluster{{
		Name:     "prod-eu",
		Locality: providers.Locality{Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b"},
		ID:       "projects/meshfed-prod/locations/europe-west1-b/clusters/prod-eu",
		Endpoint: "https://34.76.10.1", Status: "RUNNING",
	}, {
		Name:     "prod-us",
		Locality: providers.Locality{Provider: "gcp", Region: "us-central1"},
		ID:       "projects/meshfed-prod/locations/us-central1/clusters/prod-us",
		Endpoint: "https://35.188.0.2", Status: "PROVISIONING",
	}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("DiscoverClusters = %+v, want %+v", got, want)
	}

	gke.set(func(f *fakeGKE) { f.body = `{}` })
	if got, err = p.DiscoverClusters(t.Context()); err != nil || len(got) != 0 {
		t.Fatalf("no clusters: %+v, %v", got, err)
	}
}

func TestDiscoverClustersErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		mdBreak  func(f *fakeMetadata)
		gkeBreak func(f *fakeGKE)
		requests int // GKE requests expected, -1 for any
		sentinel error
		want     []string
	}{
		{
			name: "token endpoint failing",
			mdBreak: func(f *fakeMetadata) {
				f.codes["instance/service-accounts/default/token"] = http.StatusInternalServerError
			},
			sentinel: providers.ErrUnavailable,
			want:     []string{"GKE ListClusters projects/meshfed-prod/locations/-", "no access token from the metadata server", "HTTP 500"},
		},
		{
			name:     "token reply malformed",
			mdBreak:  func(f *fakeMetadata) { f.values["instance/service-accounts/default/token"] = `{"access_token": ` },
			sentinel: providers.ErrUnavailable,
			want:     []string{"no access token from the metadata server", "not valid JSON"},
		},
		{
			name:     "no service account",
			mdBreak:  func(f *fakeMetadata) { delete(f.values, "instance/service-accounts/default/token") },
			sentinel: providers.ErrUnavailable,
			want:     []string{"does the instance have a service account?"},
		},
		{
			name:     "forbidden 403",
			gkeBreak: func(f *fakeGKE) { f.status = http.StatusForbidden },
			requests: 1,
			want:     []string{"GKE ListClusters projects/meshfed-prod/locations/-", "denied (HTTP 403)", "container.clusters.list"},
		},
		{
			name:     "malformed JSON",
			gkeBreak: func(f *fakeGKE) { f.body = `{"clusters": [{"name": "prod-eu"` },
			requests: 1,
			want:     []string{"GKE ListClusters", "reply is not a valid ListClustersResponse"},
		},
		{
			name:     "bad location",
			gkeBreak: func(f *fakeGKE) { f.body = `{"clusters": [{"name": "x", "location": "Europe West"}]}` },
			requests: 1,
			want:     []string{`location "Europe West" is neither a GCP region nor a zone`},
		},
		{
			name:     "missing zones",
			gkeBreak: func(f *fakeGKE) { f.body = `{"clusters": [], "missingZones": ["asia-east1-a"]}` },
			requests: 1,
			sentinel: providers.ErrUnavailable,
			want:     []string{"zones asia-east1-a did not answer"},
		},
		{
			name:     "throttled 429",
			gkeBreak: func(f *fakeGKE) { f.status = http.StatusTooManyRequests },
			requests: 2,
			sentinel: providers.ErrUnavailable,
			want:     []string{"GKE ListClusters", "throttled or failing (HTTP 429) after 2 attempts"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			md := newFakeMetadata(t)
			gke := newFakeGKE(t)
			if tc.mdBreak != nil {
				md.set(tc.mdBreak)
			}
			if tc.gkeBreak != nil {
				gke.set(tc.gkeBreak)
			}
			// The metadata package retries a failing token request; 5s
			// leaves it room to report the HTTP status.
			p := load(t, md, map[string]any{"gke_endpoint": gke.srv.URL, "max_attempts": 2, "timeout": "5s"})
			got, err := p.DiscoverClusters(t.Context())
			if err == nil {
				t.Fatalf("DiscoverClusters = %+v, want an error", got)
			}
			plugintest.WantError(t, err, tc.sentinel, append([]string{`plugin "gcp"`, gke.srv.URL}, tc.want...)...)
			gke.mu.Lock()
			n := gke.requests
			gke.mu.Unlock()
			if n != tc.requests {
				t.Errorf("GKE got %d requests, want %d", n, tc.requests)
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}`))
	f.Add([]byte(`{"access_token":"","expires_in":-1}`))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := gcp.ParseToken(b, now)
		if err == nil && (tok.AccessToken == "" || !tok.Expiry.After(now)) {
			t.Fatalf("ParseToken(%q) = %+v", b, tok)
		}
	})
}

func TestConfigGKEEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"", true},
		{"https://container.googleapis.com", true},
		{"http://127.0.0.1:8080", true},
		{"http://container.googleapis.com", false}, // a token over plain HTTP
		{"container.googleapis.com", false},
	} {
		_, err := gcp.ParseConfig([]byte(fmt.Sprintf(`{"gke_endpoint": %q}`, tc.endpoint)))
		if (err == nil) != tc.ok {
			t.Errorf("gke_endpoint %q: err = %v, want ok=%v", tc.endpoint, err, tc.ok)
		}
	}
}

func FuzzClusterFromGKE(f *testing.F) {
	f.Add(`{"name": "prod-eu", "location": "europe-west1-b", "endpoint": "34.76.10.1", "status": "RUNNING"}`)
	f.Add(`{"name": "prod-us", "zone": "us-central1"}`)
	f.Add(`{"name": "x", "location": "Europe West"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var c containerpb.Cluster
		if protojson.Unmarshal([]byte(s), &c) != nil {
			return
		}
		dc, err := gcp.ClusterFromGKE("meshfed-prod", &c)
		if err != nil {
			return
		}
		l := dc.GetLocality()
		if dc.GetName() == "" || l.GetRegion() == "" || l.GetZone() != "" && !strings.HasPrefix(l.GetZone(), l.GetRegion()+"-") {
			t.Fatalf("ClusterFromGKE(%s) = %v", s, dc)
		}
	})
}
