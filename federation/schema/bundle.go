package schema

import (
	"fmt"
	"strconv"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Limits on trust bundles.
const (
	MaxBundleBytes = 256 << 10
	MaxBundleKeys  = 64
)

// ParseBundle validates a bundle record and returns the parsed SPIFFE
// bundle. The JWKS document must parse for the record's trust domain, hold
// at least one key and no more than MaxBundleKeys, and every X.509
// authority must be a CA certificate. The record's sequence and refresh
// hint are taken from the document.
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
	for _, c := range authorities {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fieldErr(obj, "x509 authority", c.Subject.String(), "is not a CA certificate (basic constraints CA:TRUE required)")
		}
	}
	return sb, nil
}
