package workloadapitest_test

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/trustbundle/identity/workloadapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) (*workloadapitest.Server, *devca.CA) {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("a.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueSVID(spiffeid.RequireFromPath(td, "/meshfed/gateway/a/gw"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return workloadapitest.Start(t, t.TempDir(), svid, ca.Bundle()), ca
}

func TestRefusesCallsWithoutTheSecurityHeader(t *testing.T) {
	t.Parallel()
	srv, _ := start(t)
	target, err := workloadapi.TargetFromAddress(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := workload.NewSpiffeWorkloadAPIClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name   string
		header []string
		want   codes.Code
	}{
		{"no header", nil, codes.InvalidArgument},
		{"header not true", []string{"workload.spiffe.io", "false"}, codes.InvalidArgument},
		{"header true", []string{"workload.spiffe.io", "true"}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if tc.header != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tc.header...)
			}
			stream, err := client.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if got := status.Code(err); got != tc.want {
				t.Fatalf("FetchX509SVID: code %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == codes.OK && len(resp.GetSvids()) != 1 {
				t.Fatalf("got %d SVIDs, want 1", len(resp.GetSvids()))
			}
		})
	}
}

func TestStreamsEverySet(t *testing.T) {
	t.Parallel()
	srv, ca := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	first, err := client.FetchX509SVID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := ca.IssueSVID(first.ID, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(t, next, ca.Bundle())
	got, err := client.FetchX509SVID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Certificates[0].SerialNumber.Cmp(next.Certificates[0].SerialNumber) != 0 {
		t.Fatalf("after Set: serial %v, want %v", got.Certificates[0].SerialNumber, next.Certificates[0].SerialNumber)
	}
}
