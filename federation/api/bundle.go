package api

import (
	"context"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// storeBundle validates a bundle document and stores its canonical
// encoding (only what was validated reaches gateways), with the sequence
// number and refresh hint taken from the document. A rollback is refused
// by the store.
func storeBundle(ctx context.Context, st *store.Store, in *meshfedv1.Bundle) (*meshfedv1.Bundle, error) {
	sb, err := schema.ParseBundle(in)
	if err != nil {
		return nil, toStatus(err)
	}
	jwks, err := sb.Marshal()
	if err != nil {
		return nil, invalid("bundle %q: re-encoding the document: %v", in.GetTrustDomain(), err)
	}
	b := &meshfedv1.Bundle{TrustDomain: in.GetTrustDomain(), Jwks: jwks}
	if seq, ok := sb.SequenceNumber(); ok {
		b.Sequence = seq
	}
	if hint, ok := sb.RefreshHint(); ok {
		b.RefreshHintSeconds = int64(hint.Seconds())
	}
	stored, _, err := st.PutBundle(ctx, b)
	if err != nil {
		return nil, toStatus(err)
	}
	return stored, nil
}
