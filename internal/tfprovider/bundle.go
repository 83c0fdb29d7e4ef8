package tfprovider

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// desiredBundle is a trust bundle as configured: what `meshfed trust set`
// accepts, a SPIFFE bundle document (JWKS) or PEM CA certificates.
type desiredBundle struct {
	bundle *spiffebundle.Bundle
	// sequenced is true when the document carries its own
	// spiffe_sequence; otherwise the provider picks the sequence.
	sequenced bool
	// hinted is true when the document carries spiffe_refresh_hint.
	hinted bool
}

// parseBundle parses and validates a bundle document for trust domain td
// with the control plane's checks (schema.ParseBundle): public keys only,
// CA certificates, at most schema.MaxBundleKeys keys.
func parseBundle(td string, data []byte) (*desiredBundle, error) {
	if err := schema.ValidateTrustDomain("", "trust_domain", td); err != nil {
		return nil, err
	}
	if len(data) > schema.MaxBundleBytes {
		return nil, fmt.Errorf("is %d bytes, more than the %d allowed", len(data), schema.MaxBundleBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("is empty (want a SPIFFE bundle document or PEM CA certificates)")
	}
	id := spiffeid.RequireTrustDomainFromString(td)
	jwks := data
	d := &desiredBundle{}
	parsed, fromPEM, err := schema.ParseBundleDocument(id, data)
	if err != nil {
		return nil, err
	}
	if fromPEM {
		if jwks, err = parsed.Marshal(); err != nil {
			return nil, fmt.Errorf("cannot be encoded as a SPIFFE bundle: %w", err)
		}
	}
	sb, err := schema.ParseBundle(&meshfedv1.Bundle{TrustDomain: td, Jwks: jwks})
	if err != nil {
		var fe *schema.FieldError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s %q %s", fe.Field, fe.Value, fe.Reason)
		}
		return nil, err
	}
	d.bundle = sb
	_, d.sequenced = sb.SequenceNumber()
	_, d.hinted = sb.RefreshHint()
	return d, nil
}

// readBundleFile reads a bundle file, refusing more than the control plane
// accepts.
func readBundleFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, schema.MaxBundleBytes+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// matches reports whether the stored bundle document holds what d asks
// for: the same X.509 and JWT authorities, and the same sequence and
// refresh hint where d gives them. Key order and encoding do not matter.
func (d *desiredBundle) matches(td string, stored []byte) bool {
	id, err := spiffeid.TrustDomainFromString(td)
	if err != nil {
		return false
	}
	sb, err := spiffebundle.Parse(id, stored)
	if err != nil {
		return false
	}
	if d.sequenced {
		want, _ := d.bundle.SequenceNumber()
		if got, ok := sb.SequenceNumber(); !ok || got != want {
			return false
		}
	}
	if d.hinted {
		want, _ := d.bundle.RefreshHint()
		if got, ok := sb.RefreshHint(); !ok || got != want {
			return false
		}
	}
	a, b := d.bundle.X509Authorities(), sb.X509Authorities()
	if len(a) != len(b) {
		return false
	}
	raw := make(map[string]bool, len(a))
	for _, c := range a {
		raw[string(c.Raw)] = true
	}
	for _, c := range b {
		if !raw[string(c.Raw)] {
			return false
		}
	}
	ja, jb := d.bundle.JWTAuthorities(), sb.JWTAuthorities()
	if len(ja) != len(jb) {
		return false
	}
	for kid, k := range ja {
		other, ok := jb[kid]
		if !ok {
			return false
		}
		eq, ok := k.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(other) {
			return false
		}
	}
	return true
}

// document returns the JWKS to send. A document without its own sequence
// gets the stored sequence + 1 (1 when nothing is stored), as a gateway's
// unsequenced push does, so it is never refused as a rollback.
func (d *desiredBundle) document(stored *meshfedv1.Bundle) ([]byte, error) {
	sb := d.bundle.Clone()
	if !d.sequenced {
		sb.SetSequenceNumber(stored.GetSequence() + 1)
	}
	return sb.Marshal()
}
