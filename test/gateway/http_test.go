package gateway_test

import (
	"strings"
	"testing"
)

func TestHTTPThroughForwardProxy(t *testing.T) {
	backend := serveHTTP(t, clusterHandler("west"))
	p := startPair(t, backend, nil)
	c := proxyClient(t, p.east)
	for range 5 {
		code, body := get(t, c, "http://echo.demo.svc.clusterset.local:8080/hello")
		if code != 200 || body != "west GET /hello" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	// Not a clusterset name: the gateway is not an open proxy.
	code, body := get(t, c, "http://example.com/")
	if code != 400 || !strings.Contains(body, "clusterset") {
		t.Fatalf("open proxy: %d %q", code, body)
	}
	// Unknown service.
	if code, body := get(t, c, "http://nope.demo.svc.clusterset.local:8080/"); code != 404 {
		t.Fatalf("unknown service: %d %q", code, body)
	}
}
