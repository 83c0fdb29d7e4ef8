package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// BenchmarkForwardProxyHTTP measures the HTTP proxy path (east's forward
// proxy -> mTLS -> west -> backend) in one process, for profiling:
//
//	go test -run '^$' -bench ForwardProxy -cpuprofile cpu.out ./test/gateway/
func BenchmarkForwardProxyHTTP(b *testing.B) {
	body := make([]byte, 1024)
	l := gatewaytest.Listen(b)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })}
	go srv.Serve(l)
	defer srv.Close()
	fed := gatewaytest.New(b, gatewaytest.ClusterSpec{Name: "east"}, gatewaytest.ClusterSpec{Name: "west"})
	wcfg := fed.Config("west")
	wcfg.Services = []gateway.LocalService{{Namespace: "demo", Name: "echo", Ports: []gateway.LocalPort{{Port: 8080}},
		Endpoints: []gateway.LocalEndpoint{{Address: l.Addr().String()}}}}
	gatewaytest.Start(b, wcfg)
	east := gatewaytest.Start(b, fed.Config("east"))
	gatewaytest.WaitRoutable(b, east, "echo.demo", "west")
	u, _ := url.Parse("http://" + east.OutboundAddr())
	tr := &http.Transport{Proxy: http.ProxyURL(u), MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get("http://echo.demo.svc.clusterset.local:8080/")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
