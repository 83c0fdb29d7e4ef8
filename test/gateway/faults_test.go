package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// admin sends a request to a gateway's admin port.
func admin(t *testing.T, gw *gatewaytest.Gateway, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+gw.AdminAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFaultInjection: the admin API's faults do what drills rely on, and
// removing them restores traffic.
func TestFaultInjection(t *testing.T) {
	backend := serveHTTP(t, clusterHandler("west"))
	p := startPair(t, backend, func(c *gateway.Config) {
		c.AdminFaults = c.Cluster == "west"
		c.Retry.PerTryTimeout = gateway.Duration(500 * time.Millisecond)
	})
	c := proxyClient(t, p.east)
	const url = "http://echo.demo.svc.clusterset.local:8080/"
	if code, _ := get(t, c, url); code != 200 {
		t.Fatalf("before faults: %d", code)
	}
	// Off by default.
	if code, _ := admin(t, p.east, "GET", "/faults", ""); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Fatalf("east serves /faults without admin_faults: %d", code)
	}
	// Bad input names the field.
	for body, want := range map[string]string{
		`{"kind":"meteor"}`:                       `kind "meteor"`,
		`{"kind":"latency"}`:                      "latency",
		`{"kind":"latency","latency":"2h"}`:       "latency",
		`{"kind":"blackhole","service":"x"}`:      "not a service name",
		`{"kind":"trust-expiry","service":"a.b"}`: "whole gateway",
		`{"kind":"blackhole","duration":"3h"}`:    "duration",
		`{"kind":"blackhole","bogus":1}`:          "bogus",
	} {
		if code, msg := admin(t, p.west, "POST", "/faults", body); code != 400 || !strings.Contains(msg, want) {
			t.Errorf("POST %s: %d %q, want 400 naming %q", body, code, msg, want)
		}
	}

	// Latency: every request takes at least the added delay.
	code, body := admin(t, p.west, "POST", "/faults", `{"kind":"latency","latency":"300ms","service":"echo.demo"}`)
	if code != 201 {
		t.Fatalf("latency fault: %d %s", code, body)
	}
	var ft gateway.Fault
	json.Unmarshal([]byte(body), &ft)
	start := time.Now()
	if code, _ := get(t, c, url); code != 200 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("with latency: %d after %v", code, time.Since(start))
	}
	if code, _ := admin(t, p.west, "DELETE", "/faults/"+ft.ID, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	start = time.Now()
	if code, _ := get(t, c, url); code != 200 || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("after removing latency: %d after %v", code, time.Since(start))
	}

	// Trust expiry: west rejects east's SVID; nothing crosses, and a
	// tunnel already open is closed.
	open := dialConnect(t, p.east, "echo.demo.svc.clusterset.local:8080")
	defer open.Close()
	if code, body := admin(t, p.west, "POST", "/faults", `{"kind":"trust-expiry","duration":"1m"}`); code != 201 {
		t.Fatalf("trust-expiry: %d %s", code, body)
	}
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("open tunnel after trust-expiry: %v, want it closed", err)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	p.east.Gateway.CloseIdleTunnels()
	if code, _ := get(t, c, url); code < 500 {
		t.Fatalf("trust-expiry: request got %d", code)
	}
	// West counts the refusal when its side of the handshake ends, which
	// in TLS 1.3 may be after east already has its 502.
	waitMetricAtLeast(t, p.west, "meshfed_gateway_handshake_failures_total", map[string]string{"direction": "inbound", "reason": "expired"}, 1)
	admin(t, p.west, "DELETE", "/faults", "")
	if code, _ := get(t, c, url); code != 200 {
		t.Fatalf("after trust-expiry removed: %d", code)
	}

	// Blackhole: east's probes of west fail, and its routes say so.
	if code, body := admin(t, p.west, "POST", "/faults", `{"kind":"blackhole","duration":"1m"}`); code != 201 {
		t.Fatalf("blackhole: %d %s", code, body)
	}
	gatewaytest.WaitFor(t, "east's probes of west to fail", func() bool {
		return p.east.DebugRoutes().Health["west"].ProbeFailing
	})
	admin(t, p.west, "DELETE", "/faults", "")
	gatewaytest.WaitFor(t, "east's probes of west to pass again", func() bool {
		return !p.east.DebugRoutes().Health["west"].ProbeFailing
	})
	if code, _ := get(t, c, url); code != 200 {
		t.Fatalf("after blackhole removed: %d", code)
	}
}

// metricValue reads one sample from a gateway's /metrics; 0 if absent.
func metricValue(t *testing.T, gw *gatewaytest.Gateway, series string) float64 {
	t.Helper()
	_, body := admin(t, gw, "GET", "/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && name == series {
			var v float64
			json.NewDecoder(bytes.NewReader([]byte(val))).Decode(&v)
			return v
		}
	}
	return 0
}
