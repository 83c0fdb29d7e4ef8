package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TokenAPIVersion is the IMDS managed identity API version the plugin asks for.
const TokenAPIVersion = "2018-02-01"

// imdsCredential is an azcore.TokenCredential for the VM's
// system-assigned managed identity, from the documented IMDS endpoint
// GET /metadata/identity/oauth2/token?api-version=...&resource=... with
// "Metadata: true". The ARM client's bearer token policy caches and
// refreshes what it returns.
type imdsCredential struct {
	cfg Config
	hc  *http.Client
}

// tokenError marks a failure to get a token, so it is not mistaken for a
// failure of ARM.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func (c *imdsCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 {
		return azcore.AccessToken{}, &tokenError{fmt.Errorf("want one scope, got %q", opts.Scopes)}
	}
	resource := strings.TrimSuffix(opts.Scopes[0], "/.default")
	u := c.cfg.IMDSEndpoint + "/metadata/identity/oauth2/token?" + url.Values{"api-version": {TokenAPIVersion}, "resource": {resource}}.Encode()
	body, err := fetch(ctx, c.cfg, c.hc, "managed identity token", u)
	if err != nil {
		return azcore.AccessToken{}, &tokenError{err}
	}
	tok, err := ParseToken(body)
	if err != nil {
		return azcore.AccessToken{}, &tokenError{fmt.Errorf("azure: managed identity token %s: %w", u, err)}
	}
	return tok, nil
}

// ParseToken parses IMDS's managed identity token reply: access_token and
// expires_on (Unix seconds, documented as a string).
func ParseToken(b []byte) (azcore.AccessToken, error) {
	var r struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return azcore.AccessToken{}, fmt.Errorf("reply is not valid JSON: %w", err)
	}
	on, err := strconv.ParseInt(string(bytes.Trim(r.ExpiresOn, `"`)), 10, 64)
	if r.AccessToken == "" || err != nil || on <= 0 || on > 1<<40 {
		return azcore.AccessToken{}, errors.New("reply has no access_token or no expires_on in Unix seconds")
	}
	return azcore.AccessToken{Token: r.AccessToken, ExpiresOn: time.Unix(on, 0)}, nil
}
