package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newBundleEndpoint() *meshfedv1.BundleEndpoint { return new(meshfedv1.BundleEndpoint) }

// PutBundleEndpoint creates or replaces the configuration of a trust
// domain's bundle endpoint (trust domain, URL, profile, endpoint ID) and
// asks for a fetch now. The status fields of an existing record are kept;
// those of e are ignored.
func (s *Store) PutBundleEndpoint(ctx context.Context, e *meshfedv1.BundleEndpoint) (*meshfedv1.BundleEndpoint, int64, error) {
	return cas(ctx, s, endpointKey(e.GetTrustDomain()), newBundleEndpoint, func(cur *meshfedv1.BundleEndpoint, exists bool) (*meshfedv1.BundleEndpoint, []clientv3.Cmp, error) {
		next := new(meshfedv1.BundleEndpoint)
		if exists {
			next = proto.Clone(cur).(*meshfedv1.BundleEndpoint)
		}
		next.TrustDomain = e.GetTrustDomain()
		next.Url = e.GetUrl()
		next.Profile = e.GetProfile()
		next.EndpointSpiffeId = e.GetEndpointSpiffeId()
		next.RefreshRequestedAt = s.timestamp()
		return next, nil, nil
	})
}

// RequestRefresh sets refresh_requested_at of a trust domain's endpoint to
// now, so the fetcher fetches it on its next pass. ErrNotFound means no
// endpoint is configured.
func (s *Store) RequestRefresh(ctx context.Context, trustDomain string) (*meshfedv1.BundleEndpoint, error) {
	e, _, err := s.UpdateBundleEndpoint(ctx, trustDomain, func(e *meshfedv1.BundleEndpoint) {
		e.RefreshRequestedAt = s.timestamp()
	})
	return e, err
}

// UpdateBundleEndpoint applies update to the stored endpoint of a trust
// domain with a compare-and-swap, retrying on concurrent writes, so an
// admin edit made meanwhile is not lost. ErrNotFound means no endpoint is
// configured (it may have been deleted meanwhile).
func (s *Store) UpdateBundleEndpoint(ctx context.Context, trustDomain string, update func(*meshfedv1.BundleEndpoint)) (*meshfedv1.BundleEndpoint, int64, error) {
	return cas(ctx, s, endpointKey(trustDomain), newBundleEndpoint, func(cur *meshfedv1.BundleEndpoint, exists bool) (*meshfedv1.BundleEndpoint, []clientv3.Cmp, error) {
		if !exists {
			return nil, nil, fmt.Errorf("bundle endpoint %q: %w", trustDomain, ErrNotFound)
		}
		next := proto.Clone(cur).(*meshfedv1.BundleEndpoint)
		update(next)
		return next, nil, nil
	})
}

// GetBundleEndpoint returns the endpoint of a trust domain or ErrNotFound.
func (s *Store) GetBundleEndpoint(ctx context.Context, trustDomain string) (*meshfedv1.BundleEndpoint, error) {
	e, _, err := s.GetBundleEndpointRev(ctx, trustDomain)
	return e, err
}

// GetBundleEndpointRev is GetBundleEndpoint with the record's etcd mod
// revision, for PutBundleFromEndpoint.
func (s *Store) GetBundleEndpointRev(ctx context.Context, trustDomain string) (*meshfedv1.BundleEndpoint, int64, error) {
	e := newBundleEndpoint()
	rev, err := s.get(ctx, endpointKey(trustDomain), e)
	if err != nil {
		return nil, 0, fmt.Errorf("bundle endpoint %q: %w", trustDomain, err)
	}
	return e, rev, nil
}

// PutBundleFromEndpoint stores a bundle fetched from its trust domain's
// endpoint only while the endpoint record is still at endpointRev, in the
// same transaction: a fetch from a configuration an admin has since
// changed or removed is never stored (ErrConditionFailed). The rollback
// rule of PutBundle applies.
func (s *Store) PutBundleFromEndpoint(ctx context.Context, b *meshfedv1.Bundle, endpointRev int64) (*meshfedv1.Bundle, int64, error) {
	return s.putBundle(ctx, b, clientv3.Compare(clientv3.ModRevision(endpointKey(b.GetTrustDomain())), "=", endpointRev))
}

// ListBundleEndpoints returns every configured endpoint, sorted by trust
// domain.
func (s *Store) ListBundleEndpoints(ctx context.Context) ([]*meshfedv1.BundleEndpoint, error) {
	out, _, err := list(ctx, s, endpointsPrefix, newBundleEndpoint)
	return out, err
}

// DeleteBundleEndpoint removes the endpoint of a trust domain; its stored
// bundle stays.
func (s *Store) DeleteBundleEndpoint(ctx context.Context, trustDomain string) (int64, error) {
	rev, err := s.delete(ctx, endpointKey(trustDomain))
	if err != nil {
		return 0, fmt.Errorf("bundle endpoint %q: %w", trustDomain, err)
	}
	return rev, nil
}
