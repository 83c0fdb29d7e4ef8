package drill

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/meshfed/meshfed/gateway"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// forwardProxy stands in for a gateway's forward proxy: plain HTTP
// requests are answered by answer; CONNECT is tunnelled to grpcAddr.
func forwardProxy(t *testing.T, answer http.HandlerFunc, grpcAddr string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			answer(w, r)
			return
		}
		up, err := net.Dial("tcp", grpcAddr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(up, brw); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

type clusterTestService struct {
	testpb.UnimplementedTestServiceServer
	cluster string
}

func (s *clusterTestService) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{ServerId: s.cluster}, nil
}

func TestGenerator(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, &clusterTestService{cluster: "b"})
	go gs.Serve(l)
	defer gs.Stop()

	var n atomic.Int64
	proxy := forwardProxy(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.String() != "http://echo.demo.svc.clusterset.local:8080/" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		if n.Add(1)%10 == 0 {
			http.Error(w, "meshfed gateway: no healthy cluster exports the service", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"cluster": "west", "service": "echo.demo"})
	}, l.Addr().String())

	g, err := newGenerator(generatorConfig{
		From: []*Gateway{{Cluster: "c", ForwardProxy: proxy}}, Service: gateway.ServiceName{Namespace: "demo", Name: "echo"},
		Protocols: []string{ProtocolHTTP, ProtocolGRPC}, Rate: 100, Timeout: 2 * time.Second, HTTPPort: 8080, GRPCPort: 9090,
		Clusters: []string{"b", "west"},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g.Start(start)
	time.Sleep(time.Second)
	g.Stop()
	recs := g.log().all()
	counts := map[string]int{}
	for _, r := range recs {
		if !r.Done {
			t.Fatalf("request not done after Stop: %+v", r)
		}
		key := r.Protocol + " " + r.Cluster
		if r.Err != "" {
			key = r.Protocol + " " + strings.SplitN(r.Err, ":", 2)[0]
		}
		counts[key]++
	}
	// About 100 per protocol; the schedule is open loop.
	if h := counts["http west"] + counts["http HTTP 503"]; h < 90 || h > 102 {
		t.Errorf("%d HTTP requests in 1 s at 100/s: %v", h, counts)
	}
	if counts["http HTTP 503"] < 5 {
		t.Errorf("503s not recorded as failures: %v", counts)
	}
	if c := counts["grpc b"]; c < 90 || c > 102 {
		t.Errorf("%d gRPC requests served by b: %v", c, counts)
	}
	done, failed := g.log().counts()
	if done != len(recs) || failed != counts["http HTTP 503"] {
		t.Errorf("counts() = %d, %d; log has %d, %v", done, failed, len(recs), counts)
	}
	// recent keeps exactly the requests sent in [0.5 s, 1 s) (how many
	// there are depends on how loaded the machine is).
	recent := g.log().recent(500*time.Millisecond, time.Second)
	want := 0
	for _, r := range recs {
		if r.Sent >= 500*time.Millisecond && r.Sent < time.Second {
			want++
		}
	}
	if len(recent) != want || want == 0 {
		t.Errorf("recent(0.5s, 1s) has %d requests, the log %d in that window", len(recent), want)
	}
}

func TestServingCluster(t *testing.T) {
	clusters := []string{"east", "east-b", "west"}
	for _, c := range []struct {
		body, hint, want string
	}{
		{`{"cluster":"east-b","service":"echo.demo"}`, "", "east-b"},
		{`{"cluster":"mars"}`, "west", "west"},
		{"", "east", "east"},
		{"served by east-b\n", "", "east-b"},
		{"hello from east", "", "east"},
		{"east and west", "", ""},
		{"northeast", "", ""},
		{"", "", ""},
	} {
		if got := servingCluster(clusters, []byte(c.body), c.hint); got != c.want {
			t.Errorf("servingCluster(%q, %q) = %q, want %q", c.body, c.hint, got, c.want)
		}
	}
}
