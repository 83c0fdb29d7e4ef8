package endpoint_test

import (
	"context"
	"log"
	"net"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/trustbundle/endpoint"
)

// A control plane serves the bundles of its view with the https_spiffe
// profile, authenticated by its own SVID; its own bundle is served too so
// clients can bootstrap.
func Example() {
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("meshfed.local"), time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	svid, err := ca.IssueSVID(spiffeid.RequireFromString("spiffe://meshfed.local/meshfed/controlplane"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		log.Fatal(err)
	}
	s, err := endpoint.New(endpoint.Config{
		Bundles: &fakeView{}, // the control plane passes its *view.View
		Own:     spiffebundle.FromX509Bundle(ca.Bundle()),
		SVID:    svid,
	})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// Clients fetch https://ADDR/bundles/TRUST_DOMAIN, e.g.:
	_ = endpoint.URL(lis.Addr().String(), spiffeid.RequireTrustDomainFromString("eu-1.test"))
	if err := s.Serve(ctx, lis); err != nil { // blocks until ctx is done
		log.Fatal(err)
	}
}
