package schema

import (
	"fmt"
	"net/url"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Bundle endpoint profiles of the SPIFFE Trust Domain and Bundle
// specification.
const (
	ProfileHTTPSWeb    = "https_web"
	ProfileHTTPSSPIFFE = "https_spiffe"
)

// MaxEndpointURLLen caps a bundle endpoint URL.
const MaxEndpointURLLen = 2048

// ValidateBundleEndpoint checks the configuration fields of a bundle
// endpoint: a valid trust domain, an https URL with a host, a known
// profile, and for https_spiffe a valid endpoint SPIFFE ID (empty
// otherwise).
func ValidateBundleEndpoint(e *meshfedv1.BundleEndpoint) error {
	if e == nil {
		return fieldErr("", "bundle endpoint", "", "is missing")
	}
	if err := ValidateTrustDomain("bundle endpoint", "trust_domain", e.GetTrustDomain()); err != nil {
		return err
	}
	obj := fmt.Sprintf("bundle endpoint %q", e.GetTrustDomain())
	if len(e.GetUrl()) > MaxEndpointURLLen {
		return fieldErr(obj, "url", e.GetUrl(), fmt.Sprintf("is longer than %d characters", MaxEndpointURLLen))
	}
	u, err := url.Parse(e.GetUrl())
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return fieldErr(obj, "url", e.GetUrl(), "is not an https URL with a host (for example https://spire.example.org:8443)")
	}
	switch e.GetProfile() {
	case ProfileHTTPSWeb:
		if e.GetEndpointSpiffeId() != "" {
			return fieldErr(obj, "endpoint_spiffe_id", e.GetEndpointSpiffeId(), "is only used with profile "+ProfileHTTPSSPIFFE)
		}
	case ProfileHTTPSSPIFFE:
		if _, err := spiffeid.FromString(e.GetEndpointSpiffeId()); err != nil {
			return fieldErr(obj, "endpoint_spiffe_id", e.GetEndpointSpiffeId(), "is not a valid SPIFFE ID (profile https_spiffe needs the endpoint's ID, for example spiffe://example.org/spire/server)")
		}
	default:
		return fieldErr(obj, "profile", e.GetProfile(), "is not one of "+ProfileHTTPSWeb+", "+ProfileHTTPSSPIFFE)
	}
	return nil
}

// CanonicalBundle validates a bundle record (ParseBundle) and returns the
// record to store: the canonical encoding of the document, with the
// sequence number and refresh hint taken from it and the given source.
func CanonicalBundle(in *meshfedv1.Bundle, source string) (*meshfedv1.Bundle, error) {
	sb, err := ParseBundle(in)
	if err != nil {
		return nil, err
	}
	jwks, err := sb.Marshal()
	if err != nil {
		return nil, fieldErr(fmt.Sprintf("bundle %q", in.GetTrustDomain()), "jwks", "", "could not be re-encoded: "+err.Error())
	}
	b := &meshfedv1.Bundle{TrustDomain: in.GetTrustDomain(), Jwks: jwks, Source: source}
	if seq, ok := sb.SequenceNumber(); ok {
		b.Sequence = seq
	}
	if hint, ok := sb.RefreshHint(); ok {
		b.RefreshHintSeconds = int64(hint.Seconds())
	}
	return b, nil
}
