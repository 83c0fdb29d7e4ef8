package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// The environment variables the Azure Workload Identity webhook sets in
// a pod labelled azure.workload.identity/use: "true" whose service account
// is annotated azure.workload.identity/client-id.
const (
	EnvClientID           = "AZURE_CLIENT_ID"
	EnvTenantID           = "AZURE_TENANT_ID"
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	EnvAuthorityHost      = "AZURE_AUTHORITY_HOST"
)

// DefaultAuthorityHost is Microsoft Entra ID in the Azure public cloud.
const DefaultAuthorityHost = "https://login.microsoftonline.com/"

// MaxTokenFileSize caps the federated token file: a service account token
// is a JWT of a few KiB.
const MaxTokenFileSize = 64 << 10

var (
	guidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tenantRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.-]{0,253}$`) // a GUID or a domain, as azidentity accepts
)

// wiSetting is one workload identity setting and where it came from.
type wiSetting struct {
	field, env string
	val        *string
	name       string // how errors call it: the config field, or the variable
}

// parseWorkloadIdentity fills the workload identity settings the document
// left empty from the environment and checks them: the three identity
// settings all or none, a client ID, a tenant, a readable token file, an
// https authority host.
func (c *Config) parseWorkloadIdentity(getenv func(string) string) error {
	authorityInDoc := c.AuthorityHost != ""
	ss := []wiSetting{
		{field: "client_id", env: EnvClientID, val: &c.ClientID},
		{field: "tenant_id", env: EnvTenantID, val: &c.TenantID},
		{field: "federated_token_file", env: EnvFederatedTokenFile, val: &c.FederatedTokenFile},
		{field: "authority_host", env: EnvAuthorityHost, val: &c.AuthorityHost},
	}
	var set, setEnv, setFields, missing, missingFields []string
	for i := range ss {
		s := &ss[i]
		s.name = fmt.Sprintf("config field %q", s.field)
		if *s.val == "" {
			*s.val, s.name = strings.TrimSpace(getenv(s.env)), s.env
		}
		switch {
		case i == len(ss)-1:
			// The authority host alone selects nothing.
		case *s.val == "":
			missing, missingFields = append(missing, s.env), append(missingFields, s.field)
		case s.name == s.env:
			set, setEnv = append(set, s.name), append(setEnv, s.env)
		default:
			set, setFields = append(set, s.name), append(setFields, s.field)
		}
	}
	switch {
	case len(set) == 0 && authorityInDoc:
		return fmt.Errorf("azure: config: authority_host %q is set but workload identity also needs %s, %s and %s (or the config fields client_id, tenant_id and federated_token_file); remove authority_host to use the VM's managed identity from IMDS",
			c.AuthorityHost, EnvClientID, EnvTenantID, EnvFederatedTokenFile)
	case len(set) == 0:
		c.AuthorityHost = "" // IMDS; AZURE_AUTHORITY_HOST alone may be there for other Azure tools
		return nil
	case len(missing) > 0:
		var undo []string
		if len(setEnv) > 0 {
			undo = append(undo, "unset "+strings.Join(setEnv, " and "))
		}
		if len(setFields) > 0 {
			undo = append(undo, "remove "+strings.Join(setFields, " and ")+" from the config")
		}
		return fmt.Errorf("azure: config: workload identity needs %s too (or the config field%s %s), since %s %s set: label the pod azure.workload.identity/use: \"true\" and annotate its service account azure.workload.identity/client-id so that the webhook sets %s, %s and %s; or %s to use the VM's managed identity from IMDS",
			strings.Join(missing, " and "), plural(len(missing)), strings.Join(missingFields, " and "), strings.Join(set, " and "), isAre(len(set)),
			EnvClientID, EnvTenantID, EnvFederatedTokenFile, strings.Join(undo, " and "))
	}
	if !guidRE.MatchString(c.ClientID) {
		return fmt.Errorf("azure: config: %s %q is not a client ID (a GUID): annotate the service account azure.workload.identity/client-id with the managed identity's client ID", ss[0].name, c.ClientID)
	}
	if !tenantRE.MatchString(c.TenantID) {
		return fmt.Errorf("azure: config: %s %q is not a tenant ID (a GUID, or a domain such as contoso.onmicrosoft.com)", ss[1].name, c.TenantID)
	}
	if !filepath.IsAbs(c.FederatedTokenFile) {
		return fmt.Errorf("azure: config: %s %q is not an absolute path (the projected service account token, such as /var/run/secrets/azure/tokens/azure-identity-token)", ss[2].name, c.FederatedTokenFile)
	}
	if _, err := readTokenFile(c.FederatedTokenFile); err != nil {
		return fmt.Errorf("azure: config: %s: %w", ss[2].name, err)
	}
	if c.AuthorityHost == "" {
		c.AuthorityHost = DefaultAuthorityHost
	}
	u, err := url.Parse(c.AuthorityHost)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("azure: config: %s %q is not an https URL such as %q", ss[3].name, c.AuthorityHost, DefaultAuthorityHost)
	}
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// workloadIdentity reports whether ARM tokens come from workload identity.
func (c Config) workloadIdentity() bool { return c.ClientID != "" }

// identity names the identity ARM sees, for error messages.
func (c Config) identity() string {
	if c.workloadIdentity() {
		return fmt.Sprintf("the workload identity's managed identity (client ID %s)", c.ClientID)
	}
	return "the VM's managed identity"
}

// readTokenFile reads the federated token, at most MaxTokenFileSize bytes,
// without surrounding white space.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("federated token file: %w (the webhook projects it into pods labelled azure.workload.identity/use: \"true\")", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTokenFileSize+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("federated token file %s: %w", path, err)
	case len(b) > MaxTokenFileSize:
		return "", fmt.Errorf("federated token file %s is larger than %d KiB; it should hold one service account token (a JWT)", path, MaxTokenFileSize>>10)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", fmt.Errorf("federated token file %s is empty", path)
	}
	return string(b), nil
}

// workloadCredential is an azcore.TokenCredential for Azure Workload
// Identity: azidentity's ClientAssertionCredential (MSAL's client
// credentials grant with the service account token as client assertion,
// POST {authority}{tenant}/oauth2/v2.0/token) with an assertion callback
// that reads the token file on every token request, since the kubelet
// rotates it. (azidentity's WorkloadIdentityCredential would reuse a read
// for 10 minutes and does not cap the file's size.) The credential keeps
// the tokens it got in memory; safe for concurrent use.
type workloadCredential struct {
	cfg  Config
	cred *azidentity.ClientAssertionCredential
}

func newWorkloadCredential(cfg Config) (*workloadCredential, error) {
	retries := cfg.MaxAttempts - 1
	if retries == 0 {
		retries = -1 // azcore: 0 means its default, -1 none
	}
	u, err := url.Parse(cfg.AuthorityHost)
	if err != nil {
		return nil, fmt.Errorf("azure: authority host %q: %w", cfg.AuthorityHost, err)
	}
	w := &workloadCredential{cfg: cfg}
	w.cred, err = azidentity.NewClientAssertionCredential(cfg.TenantID, cfg.ClientID,
		func(context.Context) (string, error) { return readTokenFile(cfg.FederatedTokenFile) },
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions: policy.ClientOptions{
				Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost},
				Retry: policy.RetryOptions{MaxRetries: int32(retries), RetryDelay: 100 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
			},
			// Instance discovery asks login.microsoftonline.com to vouch
			// for an authority host it does not know; a loopback host is
			// a test's stand-in.
			DisableInstanceDiscovery: isLoopback(u.Hostname()),
		})
	if err != nil {
		return nil, fmt.Errorf("azure: workload identity (client ID %s, tenant %s): %w", cfg.ClientID, cfg.TenantID, err)
	}
	return w, nil
}

// GetToken asks Microsoft Entra ID for a token, unless one is cached. It
// blocks; ctx cancels it.
func (w *workloadCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := w.cred.GetToken(ctx, opts)
	if err != nil {
		return azcore.AccessToken{}, &tokenError{fmt.Errorf("azure: workload identity token (client ID %s, tenant %s) from %s: %s",
			w.cfg.ClientID, w.cfg.TenantID, w.cfg.AuthorityHost, entraError(err))}
	}
	return tok, nil
}

// entraError describes a failed token request in one line: Entra's error
// and error_description (which starts with the AADSTS code) when it
// answered, else the cause.
func entraError(err error) string {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		msg := fmt.Sprintf("HTTP %d", afe.RawResponse.StatusCode)
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil {
			if code, desc, ok := ParseEntraError(body); ok {
				msg += " " + code
				if desc != "" {
					msg += ": " + desc
				}
			}
		}
		if afe.RawResponse.StatusCode == http.StatusTooManyRequests || afe.RawResponse.StatusCode >= 500 {
			msg += "; retry later"
		}
		return msg
	}
	return oneLine(err.Error(), 600)
}

// ParseEntraError parses the error reply of Microsoft Entra ID's token
// endpoint: {"error": "invalid_client", "error_description": "AADSTS...",
// ...}. ok is false unless the body is such a JSON object. The
// description is put on one line and cut to a readable length.
func ParseEntraError(body []byte) (code, description string, ok bool) {
	var r struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &r) != nil {
		return "", "", false
	}
	code = oneLine(r.Error, 100)
	return code, oneLine(r.Description, 600), code != ""
}

// oneLine collapses white space (Entra's descriptions carry "\r\n" before
// their trace IDs) and cuts s to at most max bytes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}
