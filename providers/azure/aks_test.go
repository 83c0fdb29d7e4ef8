package azure_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/azure"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
)

// issuedToken is the access token the fake IMDS issues and the fake ARM
// requires.
const issuedToken = "eyJ0eXAiOiJKV1Qi.meshfed-test.token"

const subscription = "8d10da13-8125-4ba9-a717-bf7490507b3d"

// tokenReply is IMDS's documented managed identity token reply, valid for
// an hour.
func tokenReply() string {
	now := time.Now().Unix()
	return fmt.Sprintf(`{"access_token": %q, "refresh_token": "", "expires_in": "3599", "expires_on": "%d", "not_before": "%d", "resource": "https://management.core.windows.net/", "token_type": "Bearer"}`,
		issuedToken, now+3599, now)
}

// token serves GET /metadata/identity/oauth2/token: the resource query
// parameter must be ARM's audience (else 400 invalid_resource).
func (f *fakeIMDS) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.tokenRequests++
	code, body := f.tokenStatus, f.tokenBody
	f.mu.Unlock()
	switch {
	case r.URL.Query().Get("resource") != "https://management.core.windows.net/":
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error": "invalid_resource", "error_description": "AADSTS500011: The resource principal was not found"}`)
	case code != 0:
		w.WriteHeader(code)
		fmt.Fprint(w, `{"error": "unknown", "error_description": "failing"}`)
	default:
		fmt.Fprint(w, body)
	}
}

const (
	aksPage1 = `{"value": [
  {"id": "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourcegroups/prod/providers/Microsoft.ContainerService/managedClusters/prod-eu",
   "location": "westeurope", "name": "prod-eu", "type": "Microsoft.ContainerService/ManagedClusters",
   "properties": {"provisioningState": "Succeeded", "kubernetesVersion": "1.33.2", "fqdn": "prod-eu-dns-4f2a.hcp.westeurope.azmk8s.io",
     "agentPoolProfiles": [{"name": "system", "count": 3, "availabilityZones": ["1", "2", "3"]}, {"name": "user", "count": 3, "availabilityZones": ["1", "2", "3"]}]}},
  {"id": "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourcegroups/edge/providers/Microsoft.ContainerService/managedClusters/edge-east",
   "location": "eastus", "name": "edge-east", "type": "Microsoft.ContainerService/ManagedClusters",
   "properties": {"provisioningState": "Updating", "fqdn": "edge-east-dns-1b2c.hcp.eastus.azmk8s.io",
     "agentPoolProfiles": [{"name": "system", "count": 1, "availabilityZones": ["2"]}]}}
 ],
 "nextLink": "NEXT"}`
	aksPage2 = `{"value": [
  {"id": "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourcegroups/dev/providers/Microsoft.ContainerService/managedClusters/dev",
   "location": "northeurope", "name": "dev", "type": "Microsoft.ContainerService/ManagedClusters",
   "properties": {"provisioningState": "Succeeded", "fqdn": "dev-dns-9e8d.hcp.northeurope.azmk8s.io",
     "agentPoolProfiles": [{"name": "system", "count": 1}]}}
 ]}`
)

// fakeARM stands in for Azure Resource Manager's managedClusters list: GET
// /subscriptions/SUB/providers/Microsoft.ContainerService/managedClusters
// with an api-version query parameter (else 400
// MissingApiVersionParameter) and "Authorization: Bearer TOKEN" (else 401
// InvalidAuthenticationToken), replying {"value": [...], "nextLink": URL}
// pages; the second page is asked for with $skipToken.
type fakeARM struct {
	srv *httptest.Server

	mu       sync.Mutex
	token    string // the bearer token it requires (default issuedToken)
	page1    string
	status   int
	requests int
}

func newFakeARM(t *testing.T) *fakeARM {
	f := &fakeARM{token: issuedToken, page1: aksPage1}
	const path = "/subscriptions/" + subscription + "/providers/Microsoft.ContainerService/managedClusters"
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		token, page1, code := f.token, f.page1, f.status
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		armErr := func(status int, code, msg string) {
			w.Header().Set("x-ms-error-code", code)
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error": {"code": %q, "message": %q}}`, code, msg)
		}
		q := r.URL.Query()
		switch {
		case q.Get("api-version") == "":
			armErr(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		case r.Header.Get("Authorization") != "Bearer "+token:
			armErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		case r.Method != http.MethodGet || r.URL.Path != path:
			armErr(http.StatusNotFound, "InvalidResourceType", "no such resource "+r.URL.Path)
		case code == http.StatusForbidden:
			armErr(code, "AuthorizationFailed", "The client does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/read'.")
		case code == http.StatusTooManyRequests:
			armErr(code, "TooManyRequests", "The request is being throttled.")
		case code != 0:
			armErr(code, "InternalServerError", "failing")
		case q.Get("$skipToken") == "page2":
			fmt.Fprint(w, aksPage2)
		default:
			next := f.srv.URL + path + "?api-version=" + q.Get("api-version") + "&%24skipToken=page2"
			fmt.Fprint(w, strings.Replace(page1, `"NEXT"`, fmt.Sprintf("%q", next), 1))
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeARM) set(fn func(f *fakeARM)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func TestDiscoverClusters(t *testing.T) {
	t.Parallel()
	imds := newFakeIMDS(t)
	arm := newFakeARM(t)
	p := load(t, imds, imds.srv.URL, map[string]any{"arm_endpoint": arm.srv.URL})
	got, err := p.DiscoverClusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const rg = "/subscriptions/" + subscription + "/resourcegroups/"
	want := []providers.Cluster{{
		Name:     "prod-eu",
		Locality: providers.Locality{Provider: "azure", Region: "westeurope"}, // spread over zones 1-3
		ID:       rg + "prod/providers/Microsoft.ContainerService/managedClusters/prod-eu",
		Endpoint: "https://prod-eu-dns-4f2a.hcp.westeurope.azmk8s.io", Status: "Succeeded",
	}, {
		Name:     "edge-east",
		Locality: providers.Locality{Provider: "azure", Region: "eastus", Zone: "eastus-2"},
		ID:       rg + "edge/providers/Microsoft.ContainerService/managedClusters/edge-east",
		Endpoint: "https://edge-east-dns-1b2c.hcp.eastus.azmk8s.io", Status: "Updating",
	}, {
		Name:     "dev",
		Locality: providers.Locality{Provider: "azure", Region: "northeurope"},
		ID:       rg + "dev/providers/Microsoft.ContainerService/managedClusters/dev",
		Endpoint: "https://dev-dns-9e8d.hcp.northeurope.azmk8s.io", Status: "Succeeded",
	}}
	if len(got) != len(want) {
		t.Fatalf("DiscoverClusters = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cluster %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	arm.mu.Lock()
	defer arm.mu.Unlock()
	if arm.requests != 2 {
		t.Errorf("ARM got %d requests, want 2 (two pages)", arm.requests)
	}
}

func TestDiscoverClustersErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		imdsBreak func(f *fakeIMDS)
		armBreak  func(f *fakeARM)
		requests  int // ARM requests expected
		sentinel  error
		want      []string
	}{
		{
			name:      "token endpoint failing",
			imdsBreak: func(f *fakeIMDS) { f.tokenStatus = http.StatusInternalServerError },
			sentinel:  providers.ErrUnavailable,
			want:      []string{"ARM list managed clusters of subscription " + subscription, "no managed identity token http://127.0.0.1:", "/metadata/identity/oauth2/token", "HTTP 500) after 2 attempts"},
		},
		{
			name:      "no managed identity",
			imdsBreak: func(f *fakeIMDS) { f.tokenStatus = http.StatusBadRequest },
			sentinel:  providers.ErrUnavailable,
			want:      []string{"no managed identity token", "HTTP 400"},
		},
		{
			name:      "token reply malformed",
			imdsBreak: func(f *fakeIMDS) { f.tokenBody = `{"access_token": "x", "expires_on": ` },
			sentinel:  providers.ErrUnavailable,
			want:      []string{"no managed identity token", "not valid JSON"},
		},
		{
			name:     "forbidden 403",
			armBreak: func(f *fakeARM) { f.status = http.StatusForbidden },
			requests: 1,
			want:     []string{"ARM list managed clusters", "denied (HTTP 403 AuthorizationFailed)", "give the VM's managed identity Microsoft.ContainerService/managedClusters/read"},
		},
		{
			name:     "malformed JSON",
			armBreak: func(f *fakeARM) { f.page1 = `{"value": [{"name": "prod-eu"` },
			requests: 1,
			want:     []string{"ARM list managed clusters", "reply is not a valid managed cluster list"},
		},
		{
			name:     "bad zone",
			armBreak: func(f *fakeARM) { f.page1 = strings.Replace(aksPage1, `["2"]`, `["eastus-2"]`, 1) },
			requests: 1,
			want:     []string{`managed cluster "edge-east": availability zone "eastus-2" is not a zone number`},
		},
		{
			name:     "throttled 429",
			armBreak: func(f *fakeARM) { f.status = http.StatusTooManyRequests },
			requests: 2,
			sentinel: providers.ErrUnavailable,
			want:     []string{"ARM list managed clusters", "throttled or failing (HTTP 429 TooManyRequests) after 2 attempts"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imds := newFakeIMDS(t)
			arm := newFakeARM(t)
			if tc.imdsBreak != nil {
				imds.mu.Lock()
				tc.imdsBreak(imds)
				imds.mu.Unlock()
			}
			if tc.armBreak != nil {
				arm.set(tc.armBreak)
			}
			p := load(t, imds, imds.srv.URL, map[string]any{"arm_endpoint": arm.srv.URL, "max_attempts": 2})
			got, err := p.DiscoverClusters(t.Context())
			if err == nil {
				t.Fatalf("DiscoverClusters = %+v, want an error", got)
			}
			plugintest.WantError(t, err, tc.sentinel, append([]string{`plugin "azure"`, arm.srv.URL}, tc.want...)...)
			arm.mu.Lock()
			n := arm.requests
			arm.mu.Unlock()
			if n != tc.requests {
				t.Errorf("ARM got %d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestConfigARMEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"", true},
		{"https://management.usgovcloudapi.net", true},
		{"http://127.0.0.1:8080", true},
		{"http://management.azure.com", false}, // a token over plain HTTP
		{"ftp://x", false},
	} {
		_, err := azure.ParseConfig([]byte(fmt.Sprintf(`{"arm_endpoint": %q}`, tc.endpoint)), nil)
		if (err == nil) != tc.ok {
			t.Errorf("arm_endpoint %q: err = %v, want ok=%v", tc.endpoint, err, tc.ok)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(tokenReply()))
	f.Add([]byte(`{"access_token": "x", "expires_on": 1700000000}`))
	f.Add([]byte(`{"access_token": "x", "expires_on": "soon"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := azure.ParseToken(b)
		if err == nil && (tok.Token == "" || tok.ExpiresOn.Unix() <= 0) {
			t.Fatalf("ParseToken(%q) = %+v", b, tok)
		}
	})
}

func FuzzClusterFromAKS(f *testing.F) {
	f.Add(`{"name": "edge-east", "location": "eastus", "properties": {"agentPoolProfiles": [{"availabilityZones": ["2"]}]}}`)
	f.Add(`{"name": "prod-eu", "location": "West Europe", "properties": {"fqdn": "x"}}`)
	f.Add(`{"name": "a", "location": "eastus", "properties": {"agentPoolProfiles": [null, {"availabilityZones": [null]}]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var mc armcontainerservice.ManagedCluster
		if json.Unmarshal([]byte(s), &mc) != nil {
			return
		}
		dc, err := azure.ClusterFromAKS(&mc)
		if err != nil {
			return
		}
		l := dc.GetLocality()
		if dc.GetName() == "" || l.GetRegion() == "" || strings.ToLower(l.GetRegion()) != l.GetRegion() || l.GetZone() != "" && !strings.HasPrefix(l.GetZone(), l.GetRegion()+"-") {
			t.Fatalf("ClusterFromAKS(%s) = %v", s, dc)
		}
	})
}
