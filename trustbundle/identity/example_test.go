package identity_test

import (
	"context"
	"crypto/tls"
	"log"
	"net"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/trustbundle/identity"
)

// A gateway takes its SVID from the Workload API named by
// SPIFFE_ENDPOINT_SOCKET, verifies peers against the bundles the control
// plane federates, and dials another cluster's gateway.
func Example() {
	ctx := context.Background()
	svids, err := identity.NewWorkloadAPISource(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer svids.Close()
	own, err := svids.GetX509SVID()
	if err != nil {
		log.Fatal(err)
	}
	peers := identity.NewFederatedBundles(own.ID.TrustDomain(), svids)

	state := client.NewState() // kept current by client.Follow
	if err := peers.Update(state.Bundles); err != nil {
		log.Print(err) // the other trust domains are still updated
	}

	peer := spiffeid.RequireFromString("spiffe://us-1.example/meshfed/gateway/us-1/gw-0")
	raw, err := net.Dial("tcp", "gw-0.us-1.example:15443")
	if err != nil {
		log.Fatal(err)
	}
	conn := tls.Client(raw, identity.ClientConfig(svids, peers, tlsconfig.AuthorizeID(peer)))
	defer conn.Close()
}

// Gateways whose SVIDs are written to disk (cert-manager, `meshfed ca
// issue`) use a FileSource, which re-reads the files when they change.
func ExampleNewFileSource() {
	svids, err := identity.NewFileSource(identity.FileSourceConfig{
		CertFile:   "/etc/meshfed/svid.pem",
		KeyFile:    "/etc/meshfed/svid-key.pem",
		BundleFile: "/etc/meshfed/bundle.pem",
		OnError:    func(err error) { log.Print(err) }, // the last good SVID stays in use
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svids.Close()
	own, err := svids.GetX509SVID()
	if err != nil {
		log.Fatal(err)
	}
	peers := identity.NewFederatedBundles(own.ID.TrustDomain(), svids)
	// Accept other clusters' gateways; the authorizer narrows who may connect.
	lis, err := tls.Listen("tcp", ":15443", identity.ServerConfig(svids, peers, tlsconfig.AuthorizeAny()))
	if err != nil {
		log.Fatal(err)
	}
	defer lis.Close()
}
