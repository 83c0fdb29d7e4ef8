package api

import (
	"context"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// PutDrain starts or updates a drain after validating it. The store sets
// started_at (see store.PutDrain for re-puts); the cluster must exist.
func (a *Admin) PutDrain(ctx context.Context, req *meshfedv1.PutDrainRequest) (*meshfedv1.PutDrainResponse, error) {
	if err := schema.ValidateDrain(req.GetDrain()); err != nil {
		return nil, toStatus(err)
	}
	d, _, err := a.store.PutDrain(ctx, req.GetDrain())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.PutDrainResponse{Drain: d}, nil
}

// DeleteDrain ends a drain; the cluster takes traffic again at once.
func (a *Admin) DeleteDrain(ctx context.Context, req *meshfedv1.DeleteDrainRequest) (*meshfedv1.DeleteDrainResponse, error) {
	ref := &meshfedv1.Drain{Cluster: req.GetCluster(), Namespace: req.GetNamespace(), Name: req.GetName()}
	if err := schema.ValidateDrain(ref); err != nil {
		return nil, toStatus(err)
	}
	if _, err := a.store.DeleteDrain(ctx, ref.GetCluster(), ref.GetNamespace(), ref.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.DeleteDrainResponse{}, nil
}

// ListDrains returns every drain, sorted by cluster, namespace and name.
func (a *Admin) ListDrains(ctx context.Context, _ *meshfedv1.ListDrainsRequest) (*meshfedv1.ListDrainsResponse, error) {
	ds, err := a.store.ListDrains(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.ListDrainsResponse{Drains: ds}, nil
}
