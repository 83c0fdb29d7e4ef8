package azure_test

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/azure"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
)

// entraToken is the access token the stand-in Entra ID issues; ARM
// requires it in the workload identity tests.
const entraToken = "eyJ0eXAiOiJKV1Qi.meshfed-test.entra"

const (
	clientID = "0f5c3d6e-8a7b-4c2d-9e1f-3a4b5c6d7e8f"
	tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

// fakeEntra is a stand-in for Microsoft Entra ID's token endpoint,
// following the documented wire format, served over TLS as MSAL (inside
// azidentity) insists: GET /TENANT/v2.0/.well-known/openid-configuration
// (OpenID Connect discovery, which names the token endpoint), then POST
// /TENANT/oauth2/v2.0/token with a form of exactly client_id, scope
// (RESOURCE/.default), grant_type=client_credentials,
// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
// and client_assertion, which must equal the federated token file's
// content at that moment. MSAL also sends client_info=1, may send claims
// (CAE) and appends the scopes openid, offline_access and profile; nothing
// else is accepted. A refused request gets Entra's error JSON
// ({"error", "error_description": "AADSTSnnn: ...", ...}) and is recorded
// in rejected. The reply is {"token_type": "Bearer", "expires_in": N,
// "access_token": entraToken}.
type fakeEntra struct {
	srv       *httptest.Server
	tokenFile string // the federated token file the plugin is given
	caFile    string // srv's certificate (PEM), for SSL_CERT_FILE

	mu            sync.Mutex
	expiresIn     int
	status        int    // a failing reply's status, when not 0 ...
	body          string // ... and body
	discovery     int    // OpenID configuration requests
	tokenRequests int
	assertions    []string // client_assertion of every token issued
	rejected      []string
}

func newFakeEntra(t *testing.T, saToken string) *fakeEntra {
	dir := t.TempDir()
	f := &fakeEntra{tokenFile: filepath.Join(dir, "azure-identity-token"), caFile: filepath.Join(dir, "entra.pem"), expiresIn: 3599}
	f.rotate(t, saToken)
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// rotate replaces the token file's content atomically, as the kubelet does.
func (f *fakeEntra) rotate(t *testing.T, saToken string) {
	t.Helper()
	tmp := f.tokenFile + ".new"
	if err := os.WriteFile(tmp, []byte(saToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.tokenFile); err != nil {
		t.Fatal(err)
	}
}

// env gives the plugins the test starts what the workload identity
// webhook gives a pod, and makes them trust the stand-in's certificate.
func (f *fakeEntra) env(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the plugin trusts the stand-in through SSL_CERT_FILE, which Go reads only on other Unix systems")
	}
	t.Setenv(azure.EnvClientID, clientID)
	t.Setenv(azure.EnvTenantID, tenantID)
	t.Setenv(azure.EnvFederatedTokenFile, f.tokenFile)
	t.Setenv(azure.EnvAuthorityHost, f.srv.URL+"/")
	t.Setenv("SSL_CERT_FILE", f.caFile)
}

func (f *fakeEntra) set(fn func(f *fakeEntra)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeEntra) issued() (assertions, rejected []string, tokenRequests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.assertions), slices.Clone(f.rejected), f.tokenRequests
}

func (f *fakeEntra) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	entraErr := func(status int, code, desc string) {
		f.rejected = append(f.rejected, desc)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error": %q, "error_description": %q, "error_codes": [0], "timestamp": "2026-11-22 20:00:00Z", "trace_id": "6e1f4c1a-0000-0000-0000-000000000000"}`,
			code, desc+"\r\nTrace ID: 6e1f4c1a-0000-0000-0000-000000000000\r\nCorrelation ID: 9b2d0c3e-0000-0000-0000-000000000000\r\nTimestamp: 2026-11-22 20:00:00Z")
	}
	base := f.srv.URL + "/" + tenantID
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/"+tenantID+"/v2.0/.well-known/openid-configuration":
		f.discovery++
		fmt.Fprintf(w, `{"token_endpoint": %q, "authorization_endpoint": %q, "issuer": %q, "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"]}`,
			base+"/oauth2/v2.0/token", base+"/oauth2/v2.0/authorize", base+"/v2.0")
		return
	case r.Method != http.MethodPost || r.URL.Path != "/"+tenantID+"/oauth2/v2.0/token":
		entraErr(http.StatusNotFound, "invalid_request", fmt.Sprintf("stand-in: no endpoint %s %s", r.Method, r.URL.Path))
		return
	}
	f.tokenRequests++
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprint(w, f.body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") || r.URL.RawQuery != "" {
		entraErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf("stand-in: want a form body, got Content-Type %q and query %q", ct, r.URL.RawQuery))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		entraErr(http.StatusBadRequest, "invalid_request", "stand-in: "+err.Error())
		return
	}
	form := r.PostForm
	for k, v := range form {
		if !slices.Contains([]string{"client_id", "scope", "grant_type", "client_assertion_type", "client_assertion", "client_info", "claims"}, k) || len(v) != 1 {
			entraErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf("stand-in: unexpected parameter %q=%q", k, v))
			return
		}
	}
	for _, k := range []string{"client_id", "scope", "grant_type", "client_assertion_type", "client_assertion"} {
		if form.Get(k) == "" {
			entraErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf("AADSTS900144: The request body must contain the following parameter: '%s'.", k))
			return
		}
	}
	current, err := os.ReadFile(f.tokenFile)
	scope := strings.Fields(form.Get("scope"))
	switch {
	case form.Get("client_id") != clientID:
		entraErr(http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", form.Get("client_id"), tenantID))
	case form.Get("grant_type") != "client_credentials":
		entraErr(http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '"+form.Get("grant_type")+"'.")
	case form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		entraErr(http.StatusBadRequest, "invalid_request", "stand-in: client_assertion_type "+form.Get("client_assertion_type"))
	case len(scope) == 0 || scope[0] != "https://management.core.windows.net//.default" || slices.ContainsFunc(scope[1:], func(s string) bool { return !slices.Contains([]string{"openid", "offline_access", "profile"}, s) }):
		entraErr(http.StatusBadRequest, "invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope' is not valid: "+form.Get("scope"))
	case err != nil || form.Get("client_assertion") != string(current):
		entraErr(http.StatusBadRequest, "invalid_client", fmt.Sprintf("AADSTS700211: No matching federated identity record found for presented assertion %q (the token file holds %q).", form.Get("client_assertion"), current))
	default:
		f.assertions = append(f.assertions, form.Get("client_assertion"))
		fmt.Fprintf(w, `{"token_type": "Bearer", "expires_in": %d, "ext_expires_in": %d, "access_token": %q}`, f.expiresIn, f.expiresIn, entraToken)
	}
}

// workloadIdentity starts the stand-ins and the plugin with the
// webhook's environment; IMDS refuses managed identity tokens and ARM
// wants Entra's.
func workloadIdentity(t *testing.T, extra map[string]any) (*fakeIMDS, *fakeARM, *fakeEntra, providers.Provider) {
	t.Helper()
	imds := newFakeIMDS(t)
	imds.mu.Lock()
	imds.tokenStatus = http.StatusBadRequest
	imds.mu.Unlock()
	arm := newFakeARM(t)
	arm.set(func(f *fakeARM) { f.token = entraToken })
	entra := newFakeEntra(t, "sa-token-1")
	entra.env(t)
	cfg := map[string]any{"arm_endpoint": arm.srv.URL}
	for k, v := range extra {
		cfg[k] = v
	}
	return imds, arm, entra, load(t, imds, imds.srv.URL, cfg)
}

// The workload identity tests set the environment of the plugins they
// start, so they do not run in parallel.
func TestWorkloadIdentity(t *testing.T) {
	discover := func(t *testing.T, p providers.Provider) {
		t.Helper()
		got, err := p.DiscoverClusters(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Name != "prod-eu" || got[2].Name != "dev" {
			t.Fatalf("DiscoverClusters = %+v, want prod-eu, edge-east, dev", got)
		}
	}
	t.Run("every token request reads the rotated token file", func(t *testing.T) {
		// 1. Tokens valid for 4 minutes, under the 5-minute margin of MSAL's
		//    cache and azcore's bearer policy: every ARM request needs one.
		imds, arm, entra, p := workloadIdentity(t, nil)
		entra.set(func(f *fakeEntra) { f.expiresIn = 240 })
		// 2. List the clusters (two ARM pages) with the first token file.
		discover(t, p)
		first, rejected, _ := entra.issued()
		if len(first) == 0 || slices.ContainsFunc(first, func(a string) bool { return a != "sa-token-1" }) || len(rejected) != 0 {
			t.Fatalf("first listing: assertions %q, rejected %q; want only sa-token-1", first, rejected)
		}
		// 3. The kubelet rotates the token; list again.
		entra.rotate(t, "sa-token-2")
		discover(t, p)
		all, rejected, _ := entra.issued()
		second := all[len(first):]
		if len(second) == 0 || slices.ContainsFunc(second, func(a string) bool { return a != "sa-token-2" }) || len(rejected) != 0 {
			t.Fatalf("after rotation: assertions %q, rejected %q; want only sa-token-2", second, rejected)
		}
		// 4. Every ARM request carried Entra's token (fakeARM refuses any
		//    other) and IMDS was never asked for one.
		imds.mu.Lock()
		defer imds.mu.Unlock()
		arm.mu.Lock()
		defer arm.mu.Unlock()
		if imds.tokenRequests != 0 || arm.requests != 4 {
			t.Errorf("IMDS token requests %d (want 0), ARM requests %d (want 4)", imds.tokenRequests, arm.requests)
		}
	})
	t.Run("the token is cached", func(t *testing.T) {
		_, arm, entra, p := workloadIdentity(t, nil)
		discover(t, p)
		discover(t, p)
		assertions, rejected, _ := entra.issued()
		entra.mu.Lock()
		discovery := entra.discovery
		entra.mu.Unlock()
		arm.mu.Lock()
		defer arm.mu.Unlock()
		if len(assertions) != 1 || len(rejected) != 0 || discovery != 1 || arm.requests != 4 {
			t.Errorf("two listings: %d tokens (want 1), rejected %q, %d OpenID discoveries (want 1), %d ARM requests (want 4)", len(assertions), rejected, discovery, arm.requests)
		}
	})
	for _, tc := range []struct {
		name          string
		entraBreak    func(f *fakeEntra)
		fileBreak     func(t *testing.T, path string)
		armBreak      func(f *fakeARM)
		tokenRequests int
		sentinel      error
		want          []string
	}{
		{
			name: "federated credential does not match",
			entraBreak: func(f *fakeEntra) {
				f.status = http.StatusBadRequest
				f.body = `{"error": "invalid_client", "error_description": "AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://westeurope.oic.prod-aks.azure.com/72f988bf/abc/'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.\r\nTrace ID: 6e1f4c1a\r\nCorrelation ID: 9b2d0c3e\r\nTimestamp: 2026-11-22 20:00:00Z", "error_codes": [700211]}`
			},
			tokenRequests: 1,
			sentinel:      providers.ErrUnavailable,
			want: []string{"ARM list managed clusters", "no workload identity token (client ID " + clientID + ", tenant " + tenantID + ") from https://127.0.0.1:",
				"HTTP 400 invalid_client: AADSTS700211: No matching federated identity record found", "Trace ID: 6e1f4c1a Correlation ID"},
		},
		{
			name: "Entra unavailable",
			entraBreak: func(f *fakeEntra) {
				f.status = http.StatusServiceUnavailable
				f.body = `{"error": "temporarily_unavailable", "error_description": "AADSTS90033: A transient error has occurred. Please try again."}`
			},
			tokenRequests: 2, // max_attempts
			sentinel:      providers.ErrUnavailable,
			want:          []string{"no workload identity token", "HTTP 503 temporarily_unavailable: AADSTS90033", "retry later"},
		},
		{
			name: "token file too large",
			fileBreak: func(t *testing.T, path string) {
				if err := os.WriteFile(path, make([]byte, azure.MaxTokenFileSize+1), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			sentinel: providers.ErrUnavailable,
			want:     []string{"no workload identity token", "federated token file", "is larger than 64 KiB"},
		},
		{
			name: "token file gone",
			fileBreak: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			sentinel: providers.ErrUnavailable,
			want:     []string{"no workload identity token", "azure-identity-token: no such file or directory"},
		},
		{
			name:          "identity without the role",
			armBreak:      func(f *fakeARM) { f.status = http.StatusForbidden },
			tokenRequests: 1,
			want:          []string{"denied (HTTP 403 AuthorizationFailed)", "give the workload identity's managed identity (client ID " + clientID + ") Microsoft.ContainerService/managedClusters/read"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, arm, entra, p := workloadIdentity(t, map[string]any{"max_attempts": 2})
			if tc.entraBreak != nil {
				entra.set(tc.entraBreak)
			}
			if tc.fileBreak != nil {
				tc.fileBreak(t, entra.tokenFile)
			}
			if tc.armBreak != nil {
				arm.set(tc.armBreak)
			}
			got, err := p.DiscoverClusters(t.Context())
			if err == nil {
				t.Fatalf("DiscoverClusters = %+v, want an error", got)
			}
			plugintest.WantError(t, err, tc.sentinel, append([]string{`plugin "azure"`}, tc.want...)...)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
			if _, _, n := entra.issued(); n != tc.tokenRequests {
				t.Errorf("Entra got %d token requests, want %d", n, tc.tokenRequests)
			}
		})
	}
	t.Run("a partial environment is a configuration error", func(t *testing.T) {
		imds := newFakeIMDS(t)
		t.Setenv(azure.EnvClientID, clientID)
		t.Setenv(azure.EnvTenantID, tenantID)
		p, err := start(t, imds.srv.URL, nil)
		if err == nil {
			t.Fatalf("plugin started (%v) with AZURE_FEDERATED_TOKEN_FILE unset", p)
		}
		plugintest.WantError(t, err, providers.ErrInvalidConfig, "workload identity needs AZURE_FEDERATED_TOKEN_FILE too",
			"since AZURE_CLIENT_ID and AZURE_TENANT_ID are set", `azure.workload.identity/use: "true"`, "or unset AZURE_CLIENT_ID and AZURE_TENANT_ID to use the VM's managed identity")
	})
}

func TestWorkloadIdentityConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	emptyFile := filepath.Join(dir, "empty")
	bigFile := filepath.Join(dir, "big")
	for path, content := range map[string]string{tokenFile: "eyJhbGciOiJSUzI1NiJ9.sa.sig\n", emptyFile: " \n", bigFile: strings.Repeat("x", azure.MaxTokenFileSize+1)} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	webhook := map[string]string{
		azure.EnvClientID:           clientID,
		azure.EnvTenantID:           tenantID,
		azure.EnvFederatedTokenFile: tokenFile,
		azure.EnvAuthorityHost:      "https://login.microsoftonline.com/",
	}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range webhook {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tc := range []struct {
		name      string
		doc       string
		env       map[string]string
		authority string // want, "" for IMDS
		want      string // error, "" for none
	}{
		{name: "no environment: IMDS"},
		{name: "the webhook's environment", env: webhook, authority: "https://login.microsoftonline.com/"},
		{name: "sovereign cloud, no trailing slash", env: with(azure.EnvAuthorityHost, "https://login.microsoftonline.us"), authority: "https://login.microsoftonline.us/"},
		{name: "no authority host: public cloud", env: with(azure.EnvAuthorityHost, ""), authority: azure.DefaultAuthorityHost},
		{name: "authority host alone: IMDS", env: map[string]string{azure.EnvAuthorityHost: "https://login.chinacloudapi.cn/"}},
		{name: "config fields override the environment", doc: fmt.Sprintf(`{"client_id": %q, "federated_token_file": %q, "authority_host": "https://login.example/"}`, "11111111-2222-3333-4444-555555555555", tokenFile), env: with(azure.EnvClientID, "bad"), authority: "https://login.example/"},
		{name: "config fields alone", doc: fmt.Sprintf(`{"client_id": %q, "tenant_id": "contoso.onmicrosoft.com", "federated_token_file": %q}`, clientID, tokenFile), authority: azure.DefaultAuthorityHost},
		{name: "token file missing", env: with(azure.EnvFederatedTokenFile, ""), want: `workload identity needs AZURE_FEDERATED_TOKEN_FILE too (or the config field federated_token_file), since AZURE_CLIENT_ID and AZURE_TENANT_ID are set`},
		{name: "client ID alone", env: map[string]string{azure.EnvClientID: clientID}, want: `workload identity needs AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE too (or the config fields tenant_id and federated_token_file), since AZURE_CLIENT_ID is set: label the pod azure.workload.identity/use: "true"`},
		{name: "tenant ID in config alone", doc: `{"tenant_id": "` + tenantID + `"}`, want: `since config field "tenant_id" is set: label the pod azure.workload.identity/use: "true" and annotate its service account azure.workload.identity/client-id so that the webhook sets AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE; or remove tenant_id from the config to use`},
		{name: "authority host in config alone", doc: `{"authority_host": "https://login.microsoftonline.com/"}`, want: `authority_host "https://login.microsoftonline.com/" is set but workload identity also needs AZURE_CLIENT_ID`},
		{name: "client ID not a GUID", env: with(azure.EnvClientID, "meshfed-plugin"), want: `AZURE_CLIENT_ID "meshfed-plugin" is not a client ID (a GUID): annotate the service account azure.workload.identity/client-id`},
		{name: "tenant not a tenant", env: with(azure.EnvTenantID, "../x"), want: `AZURE_TENANT_ID "../x" is not a tenant ID`},
		{name: "relative token file", env: with(azure.EnvFederatedTokenFile, "token"), want: `AZURE_FEDERATED_TOKEN_FILE "token" is not an absolute path`},
		{name: "token file absent", env: with(azure.EnvFederatedTokenFile, filepath.Join(dir, "absent")), want: "AZURE_FEDERATED_TOKEN_FILE: federated token file: open " + filepath.Join(dir, "absent") + ": no such file or directory"},
		{name: "token file empty", env: with(azure.EnvFederatedTokenFile, emptyFile), want: "federated token file " + emptyFile + " is empty"},
		{name: "token file too large", env: with(azure.EnvFederatedTokenFile, bigFile), want: "federated token file " + bigFile + " is larger than 64 KiB"},
		{name: "authority host over http", env: with(azure.EnvAuthorityHost, "http://login.microsoftonline.com/"), want: `AZURE_AUTHORITY_HOST "http://login.microsoftonline.com/" is not an https URL`},
		{name: "authority host with a query", doc: `{"authority_host": "https://login.microsoftonline.com/?x=1"}`, env: webhook, want: `config field "authority_host" "https://login.microsoftonline.com/?x=1" is not an https URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := azure.ParseConfig([]byte(tc.doc), func(k string) string { return tc.env[k] })
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("ParseConfig: err = %v, want one mentioning %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AuthorityHost != tc.authority || (tc.authority == "") != (cfg.ClientID == "") {
				t.Fatalf("ParseConfig: client ID %q, authority host %q; want authority host %q", cfg.ClientID, cfg.AuthorityHost, tc.authority)
			}
		})
	}
}

func FuzzParseEntraError(f *testing.F) {
	f.Add([]byte(`{"error": "invalid_client", "error_description": "AADSTS700211: No matching federated identity record found.\r\nTrace ID: x", "error_codes": [700211]}`))
	f.Add([]byte(`{"error": "", "error_description": "x"}`))
	f.Add([]byte(`{"error": {"code": "x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, desc, ok := azure.ParseEntraError(b)
		if !ok {
			return
		}
		for _, s := range []string{code, desc} {
			if strings.ContainsAny(s, "\r\n\t") || len(s) > 603 || !utf8.ValidString(s) {
				t.Fatalf("ParseEntraError(%q) = %q, %q", b, code, desc)
			}
		}
		if code == "" {
			t.Fatalf("ParseEntraError(%q) = ok without a code", b)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	tokenFile := filepath.Join(f.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJSUzI1NiJ9.sa.sig"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{}`), clientID, tenantID, "https://login.microsoftonline.com/")
	f.Add([]byte(`{"tenant_id": "contoso.onmicrosoft.com", "authority_host": "https://login.microsoftonline.us"}`), clientID, "", "")
	f.Add([]byte(`{"arm_endpoint": "http://127.0.0.1:1", "max_attempts": 2}`), "", "", "http://x")
	f.Fuzz(func(t *testing.T, doc []byte, client, tenant, authority string) {
		env := map[string]string{azure.EnvClientID: client, azure.EnvTenantID: tenant, azure.EnvAuthorityHost: authority}
		if client != "" || tenant != "" {
			env[azure.EnvFederatedTokenFile] = tokenFile
		}
		cfg, err := azure.ParseConfig(doc, func(k string) string { return env[k] })
		if err != nil || cfg.ClientID == "" {
			return
		}
		if cfg.TenantID == "" || cfg.FederatedTokenFile == "" || !strings.HasPrefix(cfg.AuthorityHost, "https://") || !strings.HasSuffix(cfg.AuthorityHost, "/") || len(cfg.ClientID) != 36 {
			t.Fatalf("ParseConfig(%q, %q) = %+v", doc, env, cfg)
		}
	})
}
