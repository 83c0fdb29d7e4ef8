package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
	"github.com/meshfed/meshfed/internal/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// pair is two clusters: west serves echo.demo (port 8080) from a
// backend, east has a client-side gateway.
type pair struct {
	fed        *gatewaytest.Federation
	east, west *gatewaytest.Gateway
}

// startPair starts the federation and both gateways; backend is the
// address of west's local endpoint for echo.demo:8080. mutate, if set,
// changes each gateway's config before start.
func startPair(t *testing.T, backend string, mutate func(*gateway.Config)) *pair {
	t.Helper()
	fed := gatewaytest.New(t,
		gatewaytest.ClusterSpec{Name: "east", Provider: "aws", Region: "us-east-1", Zone: "us-east-1a"},
		gatewaytest.ClusterSpec{Name: "west", Provider: "gcp", Region: "us-west1", Zone: "us-west1-a"})
	wcfg := fed.Config("west")
	wcfg.Services = []gateway.LocalService{{
		Namespace: "demo", Name: "echo",
		Ports:     []gateway.LocalPort{{Name: "http", Port: 8080, AppProtocol: "http"}},
		Endpoints: []gateway.LocalEndpoint{{Address: backend, Zone: "us-west1-a"}},
	}}
	ecfg := fed.Config("east")
	if mutate != nil {
		mutate(wcfg)
		mutate(ecfg)
	}
	p := &pair{fed: fed}
	p.west = gatewaytest.Start(t, wcfg)
	p.east = gatewaytest.Start(t, ecfg)
	gatewaytest.WaitRoutable(t, p.east, "echo.demo", "west")
	return p
}

// proxyClient is an HTTP client using gw's forward proxy, as
// HTTP_PROXY=http://OUTBOUND would configure it.
func proxyClient(t *testing.T, gw *gatewaytest.Gateway) *http.Client {
	t.Helper()
	u, _ := url.Parse("http://" + gw.OutboundAddr())
	tr := &http.Transport{Proxy: http.ProxyURL(u), ExpectContinueTimeout: time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// serveHTTP serves h on a loopback listener until the test ends.
func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	l := gatewaytest.Listen(t)
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

func clusterHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", name, r.Method, r.URL.Path)
	})
}

// dialConnect opens a CONNECT tunnel through gw's forward proxy to target.
func dialConnect(t *testing.T, gw *gatewaytest.Gateway, target string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", gw.OutboundAddr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	buf := make([]byte, 0, 256)
	one := make([]byte, 1)
	for len(buf) < 4 || string(buf[len(buf)-4:]) != "\r\n\r\n" {
		if _, err := c.Read(one); err != nil {
			t.Fatalf("CONNECT %s: %v (read %q)", target, err, buf)
		}
		buf = append(buf, one[0])
	}
	if string(buf[:12]) != "HTTP/1.1 200" {
		t.Fatalf("CONNECT %s: %q", target, buf)
	}
	return c
}
