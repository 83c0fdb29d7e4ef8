package api

import (
	"context"
	"errors"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/imports"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Admin implements meshfedv1.AdminServiceServer. Every method requires an
// admin identity, enforced by the auth interceptor.
type Admin struct {
	meshfedv1.UnimplementedAdminServiceServer
	store *store.Store
	// ownTD is the control plane's trust domain; clusters and bundles may
	// not claim it.
	ownTD spiffeid.TrustDomain
}

// NewAdmin returns the admin service over st.
func NewAdmin(st *store.Store, ownTD spiffeid.TrustDomain) *Admin {
	return &Admin{store: st, ownTD: ownTD}
}

func (a *Admin) notOwnTD(field, td string) error {
	if td == a.ownTD.Name() {
		return invalid("%s %q is the control plane's own trust domain; give the cluster its own", field, td)
	}
	return nil
}

// PutCluster creates or updates a cluster.
func (a *Admin) PutCluster(ctx context.Context, req *meshfedv1.PutClusterRequest) (*meshfedv1.PutClusterResponse, error) {
	if err := schema.ValidateCluster(req.GetCluster()); err != nil {
		return nil, toStatus(err)
	}
	if err := a.notOwnTD("trust_domain", req.GetCluster().GetTrustDomain()); err != nil {
		return nil, err
	}
	c, _, err := a.store.PutCluster(ctx, req.GetCluster(), req.GetCreateOnly())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.PutClusterResponse{Cluster: c}, nil
}

// GetCluster returns a cluster with its live gateways.
func (a *Admin) GetCluster(ctx context.Context, req *meshfedv1.GetClusterRequest) (*meshfedv1.GetClusterResponse, error) {
	if err := schema.ValidateName("", "cluster name", req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	c, err := a.store.GetCluster(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	presence, err := a.store.ListPresence(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &meshfedv1.GetClusterResponse{Cluster: c}
	for _, p := range presence {
		if p.GetCluster() == c.GetName() {
			resp.Gateways = append(resp.Gateways, p)
		}
	}
	return resp, nil
}

// ListClusters returns every cluster with its liveness.
func (a *Admin) ListClusters(ctx context.Context, _ *meshfedv1.ListClustersRequest) (*meshfedv1.ListClustersResponse, error) {
	clusters, err := a.store.ListClusters(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	presence, err := a.store.ListPresence(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	byCluster := map[string][]*meshfedv1.Presence{}
	for _, p := range presence {
		byCluster[p.GetCluster()] = append(byCluster[p.GetCluster()], p)
	}
	resp := &meshfedv1.ListClustersResponse{}
	for _, c := range clusters {
		gws := byCluster[c.GetName()]
		resp.Clusters = append(resp.Clusters, &meshfedv1.ClusterStatus{Cluster: c, Gateways: gws, Live: len(gws) > 0})
	}
	return resp, nil
}

// DeleteCluster removes a cluster, its exports, its presence and its drains.
func (a *Admin) DeleteCluster(ctx context.Context, req *meshfedv1.DeleteClusterRequest) (*meshfedv1.DeleteClusterResponse, error) {
	if err := schema.ValidateName("", "cluster name", req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	if _, err := a.store.DeleteCluster(ctx, req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.DeleteClusterResponse{}, nil
}

// ListExports returns exports, optionally of one cluster or namespace.
func (a *Admin) ListExports(ctx context.Context, req *meshfedv1.ListExportsRequest) (*meshfedv1.ListExportsResponse, error) {
	if err := validateFilters(req.GetCluster(), req.GetNamespace()); err != nil {
		return nil, err
	}
	exports, err := a.store.ListExports(ctx, req.GetCluster())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &meshfedv1.ListExportsResponse{}
	for _, e := range exports {
		if req.GetNamespace() == "" || e.GetNamespace() == req.GetNamespace() {
			resp.Exports = append(resp.Exports, e)
		}
	}
	return resp, nil
}

// ListImports derives the imports from the current exports.
func (a *Admin) ListImports(ctx context.Context, req *meshfedv1.ListImportsRequest) (*meshfedv1.ListImportsResponse, error) {
	if err := validateFilters("", req.GetNamespace()); err != nil {
		return nil, err
	}
	exports, err := a.store.ListExports(ctx, "")
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &meshfedv1.ListImportsResponse{}
	for _, imp := range imports.DeriveAll(exports) {
		if req.GetNamespace() == "" || imp.GetNamespace() == req.GetNamespace() {
			resp.Imports = append(resp.Imports, imp)
		}
	}
	return resp, nil
}

func validateFilters(cluster, namespace string) error {
	if cluster != "" {
		if err := schema.ValidateName("filter", "cluster", cluster); err != nil {
			return toStatus(err)
		}
	}
	if namespace != "" {
		if err := schema.ValidateName("filter", "namespace", namespace); err != nil {
			return toStatus(err)
		}
	}
	return nil
}

// PutBundle stores a trust bundle after checking its document. The
// sequence number and refresh hint are taken from the document.
func (a *Admin) PutBundle(ctx context.Context, req *meshfedv1.PutBundleRequest) (*meshfedv1.PutBundleResponse, error) {
	if err := a.notOwnTD("bundle trust_domain", req.GetBundle().GetTrustDomain()); err != nil {
		return nil, err
	}
	stored, err := storeBundle(ctx, a.store, req.GetBundle(), SourceAdmin)
	if err != nil {
		return nil, err
	}
	return &meshfedv1.PutBundleResponse{Bundle: stored}, nil
}

// GetBundle returns the bundle of one trust domain.
func (a *Admin) GetBundle(ctx context.Context, req *meshfedv1.GetBundleRequest) (*meshfedv1.GetBundleResponse, error) {
	if err := schema.ValidateTrustDomain("", "trust domain", req.GetTrustDomain()); err != nil {
		return nil, toStatus(err)
	}
	b, err := a.store.GetBundle(ctx, req.GetTrustDomain())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.GetBundleResponse{Bundle: b}, nil
}

// ListBundles returns every bundle and every bundle endpoint.
func (a *Admin) ListBundles(ctx context.Context, _ *meshfedv1.ListBundlesRequest) (*meshfedv1.ListBundlesResponse, error) {
	bs, err := a.store.ListBundles(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	es, err := a.store.ListBundleEndpoints(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.ListBundlesResponse{Bundles: bs, Endpoints: es}, nil
}

// DeleteBundle removes the bundle of one trust domain.
func (a *Admin) DeleteBundle(ctx context.Context, req *meshfedv1.DeleteBundleRequest) (*meshfedv1.DeleteBundleResponse, error) {
	if err := schema.ValidateTrustDomain("", "trust domain", req.GetTrustDomain()); err != nil {
		return nil, toStatus(err)
	}
	if _, err := a.store.DeleteBundle(ctx, req.GetTrustDomain()); err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.DeleteBundleResponse{}, nil
}

// PutBundleEndpoint configures where the elected fetcher gets a trust
// domain's bundle, keeping the status of an existing endpoint, and asks
// for a fetch now.
func (a *Admin) PutBundleEndpoint(ctx context.Context, req *meshfedv1.PutBundleEndpointRequest) (*meshfedv1.PutBundleEndpointResponse, error) {
	if err := schema.ValidateBundleEndpoint(req.GetEndpoint()); err != nil {
		return nil, toStatus(err)
	}
	if err := a.notOwnTD("bundle endpoint trust_domain", req.GetEndpoint().GetTrustDomain()); err != nil {
		return nil, err
	}
	e, _, err := a.store.PutBundleEndpoint(ctx, req.GetEndpoint())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.PutBundleEndpointResponse{Endpoint: e}, nil
}

// DeleteBundleEndpoint stops fetching a trust domain's bundle; the stored
// bundle stays.
func (a *Admin) DeleteBundleEndpoint(ctx context.Context, req *meshfedv1.DeleteBundleEndpointRequest) (*meshfedv1.DeleteBundleEndpointResponse, error) {
	if err := schema.ValidateTrustDomain("", "trust domain", req.GetTrustDomain()); err != nil {
		return nil, toStatus(err)
	}
	if _, err := a.store.DeleteBundleEndpoint(ctx, req.GetTrustDomain()); err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.DeleteBundleEndpointResponse{}, nil
}

// ListBundleEndpoints returns every endpoint with its fetch status.
func (a *Admin) ListBundleEndpoints(ctx context.Context, _ *meshfedv1.ListBundleEndpointsRequest) (*meshfedv1.ListBundleEndpointsResponse, error) {
	es, err := a.store.ListBundleEndpoints(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.ListBundleEndpointsResponse{Endpoints: es}, nil
}

// RefreshBundle asks the elected fetcher to fetch a trust domain's bundle
// now. It returns once the request is stored, not after the fetch.
func (a *Admin) RefreshBundle(ctx context.Context, req *meshfedv1.RefreshBundleRequest) (*meshfedv1.RefreshBundleResponse, error) {
	td := req.GetTrustDomain()
	if err := schema.ValidateTrustDomain("", "trust domain", td); err != nil {
		return nil, toStatus(err)
	}
	e, err := a.store.RequestRefresh(ctx, td)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, status.Errorf(codes.FailedPrecondition, "trust domain %q has no bundle endpoint; configure one with meshfed trust endpoint %s --url URL --profile https_web|https_spiffe", td, td)
		}
		return nil, toStatus(err)
	}
	return &meshfedv1.RefreshBundleResponse{Endpoint: e}, nil
}

// PutPolicy stores a validated policy document.
func (a *Admin) PutPolicy(ctx context.Context, req *meshfedv1.PutPolicyRequest) (*meshfedv1.PutPolicyResponse, error) {
	if err := schema.ValidatePolicy(req.GetPolicy()); err != nil {
		return nil, toStatus(err)
	}
	p, _, err := a.store.PutPolicy(ctx, req.GetPolicy())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.PutPolicyResponse{Policy: p}, nil
}

func validatePolicyRef(namespace, name, kind string) error {
	if err := schema.ValidateName("policy", "namespace", namespace); err != nil {
		return toStatus(err)
	}
	if err := schema.ValidateName("policy", "name", name); err != nil {
		return toStatus(err)
	}
	if kind != schema.PolicyFailover && kind != schema.PolicyAuthorization {
		return invalid("policy %s/%s: kind %q is not one of %s, %s", namespace, name, kind, schema.PolicyFailover, schema.PolicyAuthorization)
	}
	return nil
}

// GetPolicy returns one policy.
func (a *Admin) GetPolicy(ctx context.Context, req *meshfedv1.GetPolicyRequest) (*meshfedv1.GetPolicyResponse, error) {
	if err := validatePolicyRef(req.GetNamespace(), req.GetName(), req.GetKind()); err != nil {
		return nil, err
	}
	p, err := a.store.GetPolicy(ctx, req.GetNamespace(), req.GetName(), req.GetKind())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.GetPolicyResponse{Policy: p}, nil
}

// ListPolicies returns every policy.
func (a *Admin) ListPolicies(ctx context.Context, _ *meshfedv1.ListPoliciesRequest) (*meshfedv1.ListPoliciesResponse, error) {
	ps, err := a.store.ListPolicies(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.ListPoliciesResponse{Policies: ps}, nil
}

// DeletePolicy removes one policy.
func (a *Admin) DeletePolicy(ctx context.Context, req *meshfedv1.DeletePolicyRequest) (*meshfedv1.DeletePolicyResponse, error) {
	if err := validatePolicyRef(req.GetNamespace(), req.GetName(), req.GetKind()); err != nil {
		return nil, err
	}
	if _, err := a.store.DeletePolicy(ctx, req.GetNamespace(), req.GetName(), req.GetKind()); err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.DeletePolicyResponse{}, nil
}
