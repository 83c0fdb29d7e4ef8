package up

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// caTTL is the lifetime of a new cluster CA.
const caTTL = 365 * 24 * time.Hour

// clusterPKI is a cluster's dev CA, kept under the cluster's directory,
// and what it issued for this run.
type clusterPKI struct {
	ca      *devca.CA
	created bool
	// sequence is the bundle sequence in the CA directory's bundle.json.
	sequence uint64
}

// preparePKI loads or creates the cluster's CA, writes its bundle files
// and issues the gateway's SVID (a new one on every run).
func (p *Plan) preparePKI(c Cluster) (*clusterPKI, error) {
	td, err := spiffeid.TrustDomainFromString(c.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	ca, created, err := devca.LoadOrCreate(p.CADir(c.Name), td, caTTL)
	if err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	if exp := ca.Certificate().NotAfter; time.Until(exp) < time.Hour {
		return nil, fmt.Errorf("up: cluster %q: the dev CA in %s expires at %s: remove that directory (or all of %s) to start afresh",
			c.Name, p.CADir(c.Name), exp.UTC().Format(time.RFC3339), p.Config.Dir)
	}
	seq, _, err := ca.WriteBundleJSON(filepath.Join(p.CADir(c.Name), devca.BundleFile), 0)
	if err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	dir := p.ClusterDir(c.Name)
	if err := ca.WriteBundlePEM(filepath.Join(dir, "bundle.pem")); err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	id, err := spiffeid.FromSegments(td, "meshfed", "gateway", c.Name, GatewayName)
	if err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	svid, err := ca.IssueSVID(id, SVIDTTL, devca.SVIDOptions{})
	if err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	if err := devca.WriteSVID(filepath.Join(dir, "gw.pem"), filepath.Join(dir, "gw-key.pem"), svid); err != nil {
		return nil, fmt.Errorf("up: cluster %q: %w", c.Name, err)
	}
	return &clusterPKI{ca: ca, created: created, sequence: seq}, nil
}

// register puts the cluster, with its locality, and its trust domain's
// bundle into the control plane. The bundle is put only when the stored
// one has other authorities, with a sequence above the stored one (the
// control plane refuses a rollback).
func register(ctx context.Context, admin meshfedv1.AdminServiceClient, c Cluster, pki *clusterPKI) error {
	if _, err := admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{
		Name:        c.Name,
		TrustDomain: c.TrustDomain,
		Locality:    &meshfedv1.Locality{Provider: c.Provider, Region: c.Region, Zone: c.Zone},
		Labels:      map[string]string{"meshfed.io/up": "true"},
	}}); err != nil {
		return fmt.Errorf("up: registering cluster %q: %w", c.Name, err)
	}
	seq := pki.sequence
	stored, err := admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: c.TrustDomain})
	switch {
	case err == nil:
		if sameAuthorities(stored.GetBundle().GetJwks(), pki.ca) {
			return nil
		}
		seq = max(seq, stored.GetBundle().GetSequence()+1)
	case status.Code(err) != codes.NotFound:
		return fmt.Errorf("up: reading the trust bundle of %q: %w", c.TrustDomain, err)
	}
	jwks, err := pki.ca.SPIFFEBundle(seq, 0).Marshal()
	if err != nil {
		return fmt.Errorf("up: encoding the bundle of %q: %w", c.TrustDomain, err)
	}
	if _, err := admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: c.TrustDomain, Jwks: jwks}}); err != nil {
		return fmt.Errorf("up: setting the trust bundle of %q: %w", c.TrustDomain, err)
	}
	return nil
}

// sameAuthorities reports whether a stored bundle document has exactly
// the CA's certificate as its X.509 authorities.
func sameAuthorities(jwks []byte, ca *devca.CA) bool {
	b, err := spiffebundle.Parse(ca.TrustDomain(), jwks)
	if err != nil {
		return false
	}
	a := b.X509Authorities()
	return len(a) == 1 && a[0].Equal(ca.Certificate())
}
