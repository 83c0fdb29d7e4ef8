package identity

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/internal/backoff"
)

// BundleUpdates is an X.509 bundle source that says when it changed;
// go-spiffe's workloadapi.X509Source is one.
type BundleUpdates interface {
	x509bundle.Source
	Updated() <-chan struct{}
}

// PushOwnBundle sends td's bundle from src to push (GatewayService.
// PushBundle, usually) now and every time src changes, until ctx is done;
// it returns ctx.Err(). The document carries no spiffe_sequence, as the
// Workload API gives none: the control plane continues the stored
// sequence. A document already pushed is not sent again; a failed push
// is retried with back-off between minRetry and maxRetry (zero: 1 s and
// 30 s). onError, if set, sees each failure.
func PushOwnBundle(ctx context.Context, src BundleUpdates, td spiffeid.TrustDomain, push func(ctx context.Context, jwks []byte) error,
	minRetry, maxRetry time.Duration, onError func(error)) error {
	if minRetry <= 0 {
		minRetry = time.Second
	}
	if maxRetry <= 0 {
		maxRetry = 30 * time.Second
	}
	retry := &backoff.Exponential{Min: minRetry, Max: maxRetry}
	var last []byte
	for {
		doc, err := ownBundleDoc(src, td)
		if err == nil && !bytes.Equal(doc, last) {
			if err = push(ctx, doc); err == nil {
				last = doc
				retry.Reset()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if onError != nil {
				onError(err)
			}
			if !retry.Wait(ctx) {
				return ctx.Err()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-src.Updated():
		}
	}
}

func ownBundleDoc(src x509bundle.Source, td spiffeid.TrustDomain) ([]byte, error) {
	b, err := src.GetX509BundleForTrustDomain(td)
	if err != nil {
		return nil, fmt.Errorf("identity: own bundle of %q: %w", td, err)
	}
	return spiffebundle.FromX509Bundle(b).Marshal()
}
