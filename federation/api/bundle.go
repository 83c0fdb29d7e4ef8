package api

import (
	"context"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Bundle sources recorded in Bundle.source.
const (
	SourceAdmin         = "admin"
	sourceGatewayPrefix = "gateway "
)

// storeBundle validates a bundle document and stores its canonical
// encoding (only what was validated reaches gateways), with the sequence
// number and refresh hint taken from the document and source recording
// who wrote it. A rollback is refused by the store.
func storeBundle(ctx context.Context, st *store.Store, in *meshfedv1.Bundle, source string) (*meshfedv1.Bundle, error) {
	b, err := schema.CanonicalBundle(in, source)
	if err != nil {
		return nil, toStatus(err)
	}
	stored, _, err := st.PutBundle(ctx, b)
	if err != nil {
		return nil, toStatus(err)
	}
	return stored, nil
}
