package up

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
)

// Backend is one demo backend: a cluster's copy of a service, serving
// one protocol on a loopback address.
type Backend struct {
	Cluster string
	// Service is NAME.NAMESPACE.
	Service string
	// Protocol is "http" or "grpc".
	Protocol string
	Addr     string
}

// String is the flag form, CLUSTER/NAME.NAMESPACE=HOST:PORT.
func (b Backend) String() string { return b.Cluster + "/" + b.Service + "=" + b.Addr }

// ParseBackend parses the flag form CLUSTER/NAME.NAMESPACE=HOST:PORT of a
// backend speaking protocol ("http" or "grpc").
func ParseBackend(protocol, s string) (Backend, error) {
	if protocol != "http" && protocol != "grpc" {
		return Backend{}, fmt.Errorf("up: demo backend protocol %q is not http or grpc", protocol)
	}
	bad := func(why string) (Backend, error) {
		return Backend{}, fmt.Errorf("up: demo backend %q: %s (want CLUSTER/NAME.NAMESPACE=HOST:PORT, e.g. east/echo.demo=127.0.0.1:16013)", s, why)
	}
	who, addr, ok := strings.Cut(s, "=")
	if !ok {
		return bad("no '='")
	}
	cluster, svc, ok := strings.Cut(who, "/")
	if !ok {
		return bad("no '/' between cluster and service")
	}
	if !schema.IsDNSLabel(cluster) {
		return bad(fmt.Sprintf("cluster %q is not a DNS-1123 label", cluster))
	}
	name, err := gateway.ParseServiceName(svc)
	if err != nil || name.String() != svc {
		return bad(fmt.Sprintf("service %q is not NAME.NAMESPACE", svc))
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return bad(fmt.Sprintf("address %q is not HOST:PORT", addr))
	}
	return Backend{Cluster: cluster, Service: svc, Protocol: protocol, Addr: addr}, nil
}

// DemoReply is what a demo HTTP backend answers to any request, as JSON.
type DemoReply struct {
	// Cluster is the cluster whose backend served the request.
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	Method  string `json:"method"`
	Host    string `json:"host,omitempty"`
	Path    string `json:"path,omitempty"`
}

// RunDemo serves backends until ctx is done, then stops them (in-flight
// requests get 2 s). HTTP backends answer every request with a DemoReply;
// gRPC backends serve grpc.testing.TestService, whose UnaryCall answers
// with the cluster's name (SimpleResponse.server_id and hostname, and a
// DemoReply as the payload), grpc.health.v1.Health and server reflection.
// It fails at once, naming the address, if any listener cannot be opened.
func RunDemo(ctx context.Context, backends []Backend, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(backends) == 0 {
		return errors.New("up: no demo backends to serve (give --http or --grpc)")
	}
	var lis []net.Listener
	defer func() {
		for _, l := range lis {
			l.Close()
		}
	}()
	for _, b := range backends {
		l, err := net.Listen("tcp", b.Addr)
		if err != nil {
			return fmt.Errorf("up: demo backend %s (%s): %w", b, b.Protocol, err)
		}
		lis = append(lis, l)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range backends {
		l := lis[i]
		log.Info("demo backend serving", "cluster", b.Cluster, "service", b.Service, "protocol", b.Protocol, "addr", l.Addr().String())
		switch b.Protocol {
		case "http":
			srv := &http.Server{Handler: demoHandler(b), ReadHeaderTimeout: 10 * time.Second}
			g.Go(func() error {
				if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
					return fmt.Errorf("up: demo backend %s: %w", b, err)
				}
				return nil
			})
			g.Go(func() error {
				<-gctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if err := srv.Shutdown(sctx); err != nil {
					srv.Close()
				}
				return nil
			})
		case "grpc":
			srv := grpc.NewServer()
			testpb.RegisterTestServiceServer(srv, &demoTestService{b: b})
			hs := health.NewServer()
			hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			hs.SetServingStatus(testpb.TestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
			healthpb.RegisterHealthServer(srv, hs)
			reflection.Register(srv) // grpcurl needs no .proto files
			g.Go(func() error {
				if err := srv.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
					return fmt.Errorf("up: demo backend %s: %w", b, err)
				}
				return nil
			})
			g.Go(func() error {
				<-gctx.Done()
				hs.Shutdown()
				stopped := make(chan struct{})
				go func() { srv.GracefulStop(); close(stopped) }()
				select {
				case <-stopped:
				case <-time.After(2 * time.Second):
					srv.Stop()
					<-stopped
				}
				return nil
			})
		}
	}
	lis = nil // the servers own (and close) them now
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func demoHandler(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Meshfed-Cluster", b.Cluster)
		json.NewEncoder(w).Encode(DemoReply{Cluster: b.Cluster, Service: b.Service, Method: r.Method, Host: r.Host, Path: r.URL.Path})
	})
}

// demoTestService answers grpc.testing.TestService calls with the name
// of its cluster.
type demoTestService struct {
	testpb.UnimplementedTestServiceServer
	b Backend
}

func (s *demoTestService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func (s *demoTestService) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	body, err := json.Marshal(DemoReply{Cluster: s.b.Cluster, Service: s.b.Service, Method: "/grpc.testing.TestService/UnaryCall"})
	if err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{
		Payload:  &testpb.Payload{Body: body},
		ServerId: s.b.Cluster,
		Hostname: s.b.Cluster,
	}, nil
}
