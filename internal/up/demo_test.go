package up_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/meshfed/meshfed/internal/up"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestDemoBackendsNameTheirCluster(t *testing.T) {
	t.Parallel()
	// 1. Start an HTTP and a gRPC backend of two clusters.
	backends := []up.Backend{
		{Cluster: "east", Service: "echo.demo", Protocol: "http", Addr: freeAddr(t)},
		{Cluster: "west", Service: "catalog.demo", Protocol: "http", Addr: freeAddr(t)},
		{Cluster: "east", Service: "echo.demo", Protocol: "grpc", Addr: freeAddr(t)},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.RunDemo(ctx, backends, nil) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunDemo: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("RunDemo did not return 10s after cancel")
		}
	}()

	// 2. HTTP answers JSON naming cluster and service.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for _, b := range backends[:2] {
		var resp *http.Response
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			if resp, err = client.Get("http://" + b.Addr + "/some/path"); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var r up.DemoReply
		if err := json.Unmarshal(body, &r); err != nil || r.Cluster != b.Cluster || r.Service != b.Service || r.Path != "/some/path" || r.Method != "GET" {
			t.Fatalf("%s answered %d %s (%v)", b, resp.StatusCode, body, err)
		}
	}

	// 3. gRPC: UnaryCall names the cluster; health says SERVING.
	cc, err := grpc.NewClient("passthrough:///"+backends[2].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	res, err := testpb.NewTestServiceClient(cc).UnaryCall(cctx, &testpb.SimpleRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	var r up.DemoReply
	if res.GetServerId() != "east" || json.Unmarshal(res.GetPayload().GetBody(), &r) != nil || r.Cluster != "east" || r.Service != "echo.demo" {
		t.Fatalf("UnaryCall: server_id %q payload %s", res.GetServerId(), res.GetPayload().GetBody())
	}
	h, err := healthpb.NewHealthClient(cc).Check(cctx, &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}

	// 4. Reflection lists the test service, for grpcurl.
	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	lr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	var names []string
	for _, s := range lr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "grpc.testing.TestService") {
		t.Fatalf("reflection lists %v", names)
	}
}

func TestDemoBackendNamesTheAddressItCannotListenOn(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = up.RunDemo(context.Background(), []up.Backend{{Cluster: "east", Service: "echo.demo", Protocol: "http", Addr: l.Addr().String()}}, nil)
	if err == nil || !strings.Contains(err.Error(), "east/echo.demo="+l.Addr().String()) {
		t.Fatalf("got %v, want an error naming the backend and its address", err)
	}
}

// TestStartRefusesATakenPortBeforeStartingAnything needs no meshfed
// binary: the port check comes first.
func TestStartRefusesATakenPortBeforeStartingAnything(t *testing.T) {
	t.Parallel()
	base := freeRange(t, 3)
	port := base + 21 // cluster east-b's forward proxy
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	_, err = up.Start(context.Background(), up.Options{Dir: dir, BasePort: base, Executable: "/nonexistent/meshfed"})
	if !errors.Is(err, up.ErrPortInUse) {
		t.Fatalf("got %v, want ErrPortInUse", err)
	}
	for _, want := range []string{"port " + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port), "cluster east-b gateway forward proxy", "--base-port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, up.StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("up.json written although nothing started: %v", err)
	}
}

// freeRange finds a base port below the usual ephemeral range (which
// other tests' listeners on port 0 draw from) whose whole layout for n
// clusters is free now.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	start := 20000 + (os.Getpid()*7919+int(time.Now().UnixNano()/1000))%10000
	for try := 0; try < 200; try++ {
		base := 20000 + (start-20000+try*97)%12000
		if free(base, up.LastPort(base, n)) {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

func free(from, to int) bool {
	for p := from; p <= to; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

func TestDownWithoutStateSaysSo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := up.Down(dir, nil)
	if !errors.Is(err, up.ErrNoState) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v, want ErrNoState naming %s", err, dir)
	}
}

func TestOwnedRefusesOtherProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, pid := range []int{0, -1, os.Getpid(), 1 << 30} {
		if up.Owned(pid, dir) {
			t.Errorf("Owned(%d) = true for a process that is not a meshfed of %s", pid, dir)
		}
	}
}
