package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meshfed/meshfed/federation/auth"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/federation/view"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Limits of the gateway API.
const (
	DefaultLeaseTTL = 10
	MinLeaseTTL     = 2
	MaxLeaseTTL     = 300
	MaxPublishItems = 1000
)

// Gateway implements meshfedv1.GatewayServiceServer.
type Gateway struct {
	meshfedv1.UnimplementedGatewayServiceServer
	store *store.Store
	view  *view.View
	// OnWatch, if set, is called with +1 when a watch stream opens and -1
	// when it closes (for metrics).
	onWatch func(delta int)
	// stopping is cancelled by Stop to end every watch stream.
	stopping context.Context
	stop     context.CancelFunc
}

// NewGateway returns the gateway service.
func NewGateway(st *store.Store, v *view.View, onWatch func(delta int)) *Gateway {
	if onWatch == nil {
		onWatch = func(int) {}
	}
	stopping, stop := context.WithCancel(context.Background())
	return &Gateway{store: st, view: v, onWatch: onWatch, stopping: stopping, stop: stop}
}

// Stop ends every open watch stream with codes.Unavailable, so that a
// graceful server stop does not wait for streams that never end; gateways
// resume on another replica.
func (g *Gateway) Stop() { g.stop() }

// mayActFor checks that the caller may act for cluster.
func mayActFor(ctx context.Context, cluster string) (auth.Identity, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return id, status.Error(codes.Unauthenticated, "no identity")
	}
	if err := schema.ValidateName("request", "cluster", cluster); err != nil {
		return id, toStatus(err)
	}
	if !id.MayActFor(cluster) {
		return id, status.Errorf(codes.PermissionDenied, "%s may not act for cluster %q", id, cluster)
	}
	return id, nil
}

// Register records a gateway's presence under a lease.
func (g *Gateway) Register(ctx context.Context, req *meshfedv1.RegisterRequest) (*meshfedv1.RegisterResponse, error) {
	id, err := mayActFor(ctx, req.GetCluster())
	if err != nil {
		return nil, err
	}
	if err := schema.ValidateName("request", "gateway", req.GetGateway()); err != nil {
		return nil, toStatus(err)
	}
	if !id.Admin && id.Gateway != req.GetGateway() {
		return nil, status.Errorf(codes.PermissionDenied, "%s may not register as gateway %q", id, req.GetGateway())
	}
	if in := req.GetInstance(); in != "" {
		if err := schema.ValidateName("gateway "+req.GetGateway(), "instance", in); err != nil {
			return nil, toStatus(err)
		}
	}
	if len(req.GetAddresses()) > schema.MaxGatewayAddrs {
		return nil, invalid("gateway %q: %d addresses is more than the %d allowed", req.GetGateway(), len(req.GetAddresses()), schema.MaxGatewayAddrs)
	}
	for _, a := range req.GetAddresses() {
		if err := schema.ValidateAddress("gateway "+req.GetGateway(), "addresses", a); err != nil {
			return nil, toStatus(err)
		}
	}
	ttl := req.GetTtlSeconds()
	switch {
	case ttl == 0:
		ttl = DefaultLeaseTTL
	case ttl < MinLeaseTTL || ttl > MaxLeaseTTL:
		return nil, invalid("ttl_seconds %d is outside %d-%d", ttl, MinLeaseTTL, MaxLeaseTTL)
	}
	p := &meshfedv1.Presence{Cluster: req.GetCluster(), Gateway: req.GetGateway(), Instance: req.GetInstance(), Addresses: req.GetAddresses()}
	if !id.ID.IsZero() {
		p.SpiffeId = id.ID.String()
	}
	lease, err := g.store.Register(ctx, p, ttl)
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.RegisterResponse{LeaseId: int64(lease), TtlSeconds: ttl}, nil
}

// Heartbeat renews a gateway's lease.
func (g *Gateway) Heartbeat(ctx context.Context, req *meshfedv1.HeartbeatRequest) (*meshfedv1.HeartbeatResponse, error) {
	id, err := mayActFor(ctx, req.GetCluster())
	if err != nil {
		return nil, err
	}
	if err := schema.ValidateName("request", "gateway", req.GetGateway()); err != nil {
		return nil, toStatus(err)
	}
	if !id.Admin && id.Gateway != req.GetGateway() {
		return nil, status.Errorf(codes.PermissionDenied, "%s may not heartbeat for gateway %q", id, req.GetGateway())
	}
	if in := req.GetInstance(); in != "" {
		if err := schema.ValidateName("gateway "+req.GetGateway(), "instance", in); err != nil {
			return nil, toStatus(err)
		}
	}
	ttl, err := g.store.Heartbeat(ctx, req.GetCluster(), schema.PresenceName(req.GetGateway(), req.GetInstance()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.HeartbeatResponse{TtlSeconds: ttl}, nil
}

// PublishExports validates each upsert and withdrawal on its own (a bad
// one is reported in its result and does not stop the others), then
// writes the valid ones in as few etcd transactions as possible, so that a
// burst of exports reaches gateways as one version.
func (g *Gateway) PublishExports(ctx context.Context, req *meshfedv1.PublishExportsRequest) (*meshfedv1.PublishExportsResponse, error) {
	if _, err := mayActFor(ctx, req.GetCluster()); err != nil {
		return nil, err
	}
	if n := len(req.GetUpserts()) + len(req.GetWithdrawals()); n > MaxPublishItems {
		return nil, invalid("%d exports in one request is more than the %d allowed; send several requests", n, MaxPublishItems)
	}
	resp := &meshfedv1.PublishExportsResponse{}
	seen := map[string]bool{}
	var valid []*meshfedv1.Export
	var validResults []*meshfedv1.PublishResult
	for _, e := range req.GetUpserts() {
		r := &meshfedv1.PublishResult{Namespace: e.GetNamespace(), Name: e.GetName()}
		resp.Results = append(resp.Results, r)
		if e.GetCluster() != "" && e.GetCluster() != req.GetCluster() {
			r.Error = fmt.Sprintf("export %s/%s names cluster %q but the request is for cluster %q", e.GetNamespace(), e.GetName(), e.GetCluster(), req.GetCluster())
			continue
		}
		e = proto.Clone(e).(*meshfedv1.Export)
		e.Cluster = req.GetCluster()
		if err := schema.ValidateExport(e); err != nil {
			r.Error = err.Error()
			continue
		}
		if key := e.GetNamespace() + "/" + e.GetName(); seen[key] {
			r.Error = fmt.Sprintf("export %s is listed twice in one request", key)
			continue
		} else {
			seen[key] = true
		}
		valid, validResults = append(valid, e), append(validResults, r)
	}
	if len(valid) > 0 {
		revs, err := g.store.PutExports(ctx, valid)
		if err := g.fill(ctx, validResults, revs, err); err != nil {
			return nil, err
		}
	}

	var refs [][2]string
	var refResults []*meshfedv1.PublishResult
	withdrawn := map[string]bool{}
	for _, w := range req.GetWithdrawals() {
		ns, name, _ := strings.Cut(w, "/")
		r := &meshfedv1.PublishResult{Namespace: ns, Name: name}
		resp.Results = append(resp.Results, r)
		if err := schema.ValidateName("withdrawal "+w, "namespace", ns); err != nil {
			r.Error = err.Error()
			continue
		}
		if err := schema.ValidateName("withdrawal "+w, "name", name); err != nil {
			r.Error = err.Error()
			continue
		}
		if withdrawn[w] {
			r.Ok = true // the first one does it
			continue
		}
		withdrawn[w] = true
		refs, refResults = append(refs, [2]string{ns, name}), append(refResults, r)
	}
	if len(refs) > 0 {
		revs, err := g.store.DeleteExports(ctx, req.GetCluster(), refs)
		if err := g.fill(ctx, refResults, revs, err); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// fill sets the results of one batched write: the first len(revs) items
// succeeded (a zero revision means there was nothing to withdraw); the
// rest carry err. A cancelled request fails as a whole.
func (g *Gateway) fill(ctx context.Context, results []*meshfedv1.PublishResult, revs []int64, err error) error {
	if err != nil && ctx.Err() != nil {
		return toStatus(ctx.Err())
	}
	for i, r := range results {
		if i < len(revs) {
			r.Ok, r.Version = true, revs[i]
		} else {
			r.Error = err.Error()
		}
	}
	return nil
}

// PushBundle stores the bundle of the caller's own trust domain. The TLS
// handshake verified the caller's SVID against that trust domain's
// currently stored bundle, so a gateway can only roll its own domain's
// bundle forward from one it already holds (continuity); the store refuses
// a lower sequence.
func (g *Gateway) PushBundle(ctx context.Context, req *meshfedv1.PushBundleRequest) (*meshfedv1.PushBundleResponse, error) {
	id, err := mayActFor(ctx, req.GetCluster())
	if err != nil {
		return nil, err
	}
	td := req.GetBundle().GetTrustDomain()
	if !id.Admin && id.ID.TrustDomain().Name() != td {
		return nil, status.Errorf(codes.PermissionDenied, "%s may push the bundle of its own trust domain %q only, not %q", id, id.ID.TrustDomain().Name(), td)
	}
	if c, ok := g.view.Cluster(req.GetCluster()); ok && c.GetTrustDomain() != td {
		return nil, status.Errorf(codes.PermissionDenied, "cluster %q is in trust domain %q, not %q", req.GetCluster(), c.GetTrustDomain(), td)
	}
	source := sourceGatewayPrefix + id.ID.String()
	if id.Admin {
		source = SourceAdmin
	}
	sb, err := schema.ParseBundle(req.GetBundle())
	if err != nil {
		return nil, toStatus(err)
	}
	var stored *meshfedv1.Bundle
	if _, ok := sb.SequenceNumber(); ok {
		stored, err = storeBundle(ctx, g.store, req.GetBundle(), source)
	} else {
		stored, err = g.storeUnsequenced(ctx, sb, source)
	}
	if err != nil {
		return nil, err
	}
	return &meshfedv1.PushBundleResponse{Bundle: stored}, nil
}

// storeUnsequenced stores a pushed bundle that has no spiffe_sequence
// (Workload API bundles carry none) at the stored sequence + 1, so that a
// gateway's push after a root rotation is not mistaken for a rollback; a
// push whose authorities equal the stored ones changes nothing.
func (g *Gateway) storeUnsequenced(ctx context.Context, sb *spiffebundle.Bundle, source string) (*meshfedv1.Bundle, error) {
	td := sb.TrustDomain()
	same := func(cur *meshfedv1.Bundle) bool {
		old, err := spiffebundle.Parse(td, cur.GetJwks())
		return err == nil && old.X509Bundle().Equal(sb.X509Bundle()) && old.JWTBundle().Equal(sb.JWTBundle())
	}
	encode := func(seq uint64) (*meshfedv1.Bundle, error) {
		next := sb.Clone()
		next.SetSequenceNumber(seq)
		jwks, err := next.Marshal()
		if err != nil {
			return nil, err
		}
		return schema.CanonicalBundle(&meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}, source)
	}
	stored, _, err := g.store.PutBundleNext(ctx, td.Name(), same, encode)
	if err != nil {
		return nil, toStatus(err)
	}
	return stored, nil
}

// Watch streams a snapshot and then changes, from the view.
func (g *Gateway) Watch(req *meshfedv1.WatchRequest, stream meshfedv1.GatewayService_WatchServer) error {
	ctx := stream.Context()
	if _, err := mayActFor(ctx, req.GetCluster()); err != nil {
		return err
	}
	if req.GetResumeVersion() < 0 {
		return invalid("resume_version %d is negative", req.GetResumeVersion())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.stopping, cancel)()
	g.onWatch(1)
	defer g.onWatch(-1)
	sub := g.view.Subscribe(req.GetResumeVersion())
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			if g.stopping.Err() != nil {
				return status.Error(codes.Unavailable, "control plane replica is shutting down; resume on another")
			}
			return toStatus(err)
		}
		// Sent as encoded by the view (see Codec), not marshalled per stream.
		if err := stream.SendMsg(Encoded(msg.Parts)); err != nil {
			return err
		}
	}
}
