package schema

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Limits on trust bundles.
const (
	MaxBundleBytes = 256 << 10
	MaxBundleKeys  = 64
	// MaxRefreshHint caps spiffe_refresh_hint (30 days).
	MaxRefreshHint = 30 * 24 * time.Hour
)

// privateJWKMembers are JWK members that carry private or symmetric key
// material (RFC 7518 section 6): a trust bundle holds public keys only.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseBundle validates a bundle record and returns the parsed SPIFFE
// bundle. The JWKS document must parse for the record's trust domain, hold
// at least one key and no more than MaxBundleKeys, carry public keys only
// (no private or symmetric key members, every JWT authority an EC, RSA or
// Ed25519 public key), every X.509 authority must be a CA certificate, and
// the refresh hint, if any, must be within 0..MaxRefreshHint. Callers
// should store the canonical re-encoding (Marshal of the result), not the
// document as given.
func ParseBundle(b *meshfedv1.Bundle) (*spiffebundle.Bundle, error) {
	if b == nil {
		return nil, fieldErr("", "bundle", "", "is missing")
	}
	if err := ValidateTrustDomain("bundle", "trust_domain", b.GetTrustDomain()); err != nil {
		return nil, err
	}
	obj := fmt.Sprintf("bundle %q", b.GetTrustDomain())
	if n := len(b.GetJwks()); n > MaxBundleBytes {
		return nil, fieldErr(obj, "jwks size", strconv.Itoa(n), fmt.Sprintf("bytes is more than the %d allowed", MaxBundleBytes))
	}
	if member, ok := privateMember(b.GetJwks()); ok {
		return nil, fieldErr(obj, "jwks", member, "member holds private or symmetric key material; a trust bundle may hold public keys only")
	}
	if hint, ok := rawRefreshHint(b.GetJwks()); ok && (hint < 0 || hint > MaxRefreshHint.Seconds()) {
		return nil, fieldErr(obj, "spiffe_refresh_hint", strconv.FormatFloat(hint, 'f', -1, 64), fmt.Sprintf("is outside 0-%d seconds", int64(MaxRefreshHint.Seconds())))
	}
	td := spiffeid.RequireTrustDomainFromString(b.GetTrustDomain())
	sb, err := spiffebundle.Parse(td, b.GetJwks())
	if err != nil {
		return nil, fieldErr(obj, "jwks", string(b.GetJwks()), "is not a SPIFFE bundle document: "+err.Error())
	}
	authorities := sb.X509Authorities()
	keys := len(authorities) + len(sb.JWTAuthorities())
	if keys == 0 {
		return nil, fieldErr(obj, "jwks", "", "holds no keys (a bundle needs at least one x509-svid or jwt-svid key)")
	}
	if keys > MaxBundleKeys {
		return nil, fieldErr(obj, "jwks keys", strconv.Itoa(keys), fmt.Sprintf("is more than the %d allowed", MaxBundleKeys))
	}
	for kid, k := range sb.JWTAuthorities() {
		switch k.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fieldErr(obj, "jwt authority", kid, fmt.Sprintf("is a %T, not an EC, RSA or Ed25519 public key", k))
		}
	}
	for _, c := range authorities {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fieldErr(obj, "x509 authority", c.Subject.String(), "is not a CA certificate (basic constraints CA:TRUE required)")
		}
	}
	return sb, nil
}

// privateMember returns the first private-key member of any key in a JWKS
// document.
func privateMember(jwks []byte) (string, bool) {
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(jwks, &doc) != nil {
		return "", false // spiffebundle.Parse reports the syntax error
	}
	for _, k := range doc.Keys {
		for name := range k {
			for _, m := range privateJWKMembers {
				if strings.EqualFold(name, m) {
					return name, true
				}
			}
		}
	}
	return "", false
}

// rawRefreshHint reads spiffe_refresh_hint before go-spiffe converts it to
// a time.Duration (which overflows on huge values).
func rawRefreshHint(jwks []byte) (float64, bool) {
	var doc struct {
		Hint *float64 `json:"spiffe_refresh_hint"`
	}
	if json.Unmarshal(jwks, &doc) != nil || doc.Hint == nil {
		return 0, false
	}
	return *doc.Hint, true
}

// ParseBundleDocument parses what users hand in as a trust domain's bundle:
// a SPIFFE bundle document (JWKS), or PEM CA certificates (fromPEM), which
// become a bundle of X.509 authorities without a sequence number. It does
// not apply ParseBundle's checks; callers validate the result with it (or
// CanonicalBundle) once they have set a sequence.
func ParseBundleDocument(td spiffeid.TrustDomain, data []byte) (b *spiffebundle.Bundle, fromPEM bool, err error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		xb, err := x509bundle.Parse(td, data)
		if err != nil {
			return nil, true, fmt.Errorf("is not PEM CA certificates: %w", err)
		}
		if len(xb.X509Authorities()) == 0 {
			return nil, true, errors.New("holds PEM blocks but no CERTIFICATE (want the trust domain's CA certificates)")
		}
		return spiffebundle.FromX509Authorities(td, xb.X509Authorities()), true, nil
	}
	b, err = spiffebundle.Parse(td, data)
	if err != nil {
		return nil, false, fmt.Errorf("is neither a SPIFFE bundle document (JWKS) nor PEM certificates: %w", err)
	}
	return b, false, nil
}
