package gateway_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// lbHealth is a health service that names its cluster in a response
// header, and answers UNAVAILABLE while down is set, NOT_FOUND for the
// service "missing".
type lbHealth struct {
	healthpb.UnimplementedHealthServer
	cluster string
	down    atomic.Bool
	calls   atomic.Int64
}

func (h *lbHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.calls.Add(1)
	// Header metadata makes grpc-go send headers, then the status in
	// trailers, rather than one trailers-only response.
	grpc.SetHeader(ctx, metadata.Pairs("cluster", h.cluster))
	grpc.SetTrailer(ctx, metadata.Pairs("served-by", h.cluster))
	if h.down.Load() {
		return nil, status.Error(codes.Unavailable, h.cluster+" is down")
	}
	if req.GetService() == "missing" {
		return nil, status.Error(codes.NotFound, "no such service")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestGRPCListenerBalancesAndRetriesPerCall: through a gRPC listener
// (tcp_listeners protocol grpc), every call picks its cluster, so calls
// on one client connection reach both exporting clusters; a cluster
// answering UNAVAILABLE is retried elsewhere, so no call fails; other
// status codes and trailers pass through untouched.
func TestGRPCListenerBalancesAndRetriesPerCall(t *testing.T) {
	fed := gatewaytest.New(t,
		gatewaytest.ClusterSpec{Name: "east", Provider: "aws", Region: "us-east-1", Zone: "a"},
		gatewaytest.ClusterSpec{Name: "west", Provider: "gcp", Region: "europe-west1", Zone: "b"},
		gatewaytest.ClusterSpec{Name: "north", Provider: "gcp", Region: "europe-west1", Zone: "c"})
	backends := map[string]*lbHealth{}
	for _, name := range []string{"west", "north"} {
		h := &lbHealth{cluster: name}
		backends[name] = h
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, h)
		l := gatewaytest.Listen(t)
		go srv.Serve(l)
		t.Cleanup(srv.Stop)
		cfg := fed.Config(name)
		cfg.Services = []gateway.LocalService{{Namespace: "demo", Name: "hc",
			Ports: []gateway.LocalPort{{Name: "grpc", Port: 9090, AppProtocol: "grpc"}}, Endpoints: []gateway.LocalEndpoint{{Address: l.Addr().String()}}}}
		gatewaytest.Start(t, cfg)
	}
	ecfg := fed.Config("east")
	ecfg.TCPListeners = []gateway.TCPListener{{Service: "hc.demo", Port: 9090, Listen: "127.0.0.1:0", Protocol: "grpc"}}
	east := gatewaytest.Start(t, ecfg)
	gatewaytest.WaitRoutable(t, east, "hc.demo", "west")
	gatewaytest.WaitRoutable(t, east, "hc.demo", "north")

	conn, err := grpc.NewClient(east.TCPAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	call := func(service string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var header, trailer metadata.MD
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.Header(&header), grpc.Trailer(&trailer))
		return first(header["cluster"]), first(trailer["served-by"]), err
	}

	// 1. One client connection, calls spread over both clusters.
	served := map[string]int{}
	for range 40 {
		cluster, trailer, err := call("")
		if err != nil {
			t.Fatal(err)
		}
		if trailer != cluster {
			t.Fatalf("trailer served-by %q, header cluster %q", trailer, cluster)
		}
		served[cluster]++
	}
	if served["west"] < 5 || served["north"] < 5 {
		t.Fatalf("calls per cluster %v: want both clusters to serve (per-call balancing)", served)
	}

	// 2. Status codes pass through; NOT_FOUND is not retried.
	before := backends["west"].calls.Load() + backends["north"].calls.Load()
	if _, _, err := call("missing"); status.Code(err) != codes.NotFound || status.Convert(err).Message() != "no such service" {
		t.Fatalf("missing: %v, want NotFound with its message", err)
	}
	if n := backends["west"].calls.Load() + backends["north"].calls.Load() - before; n != 1 {
		t.Fatalf("a NOT_FOUND call reached the backends %d times, want 1", n)
	}

	// 3. north answers UNAVAILABLE: every call still succeeds, on west.
	backends["north"].down.Store(true)
	for i := range 30 {
		cluster, _, err := call("")
		if err != nil {
			t.Fatalf("call %d with north down: %v", i, err)
		}
		if cluster != "west" {
			t.Fatalf("call %d served by %q", i, cluster)
		}
	}
	if n := metricValue(t, east, `meshfed_gateway_retries_total{destination_cluster="west",service="hc.demo",source_cluster="east"}`); n < 1 {
		t.Fatalf("retries on west: %v, want at least 1", n)
	}

	// 4. Both down: the caller sees UNAVAILABLE, not a hang.
	backends["west"].down.Store(true)
	if _, _, err := call(""); status.Code(err) != codes.Unavailable {
		t.Fatalf("all down: %v, want Unavailable", err)
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
