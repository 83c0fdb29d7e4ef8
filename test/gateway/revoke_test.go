package gateway_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/meshfed/meshfed/gateway/gatewaytest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestRevokingAccessClosesOpenTunnels: authorization is not only checked
// when a tunnel opens. A warm tunnel (here a CONNECT tunnel held open)
// is closed as soon as a policy denies its peer.
func TestRevokingAccessClosesOpenTunnels(t *testing.T) {
	l := gatewaytest.Listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p := startPair(t, l.Addr().String(), nil)
	c := dialConnect(t, p.east, "echo.demo.svc.clusterset.local:8080")
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q %v", buf, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.fed.Admin.Admin.PutPolicy(ctx, &meshfedv1.PutPolicyRequest{Policy: &meshfedv1.Policy{
		Namespace: "demo", Name: "echo", Kind: "authorization", Document: []byte(`{"allow":[{"cluster":"nobody"}]}`)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.Read(buf)
	if err == nil {
		t.Fatal("tunnel still open after the policy denied its peer")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("tunnel not closed within 10 s of the policy change")
	}
	t.Logf("tunnel closed %v after the policy was written", time.Since(start))
	if n := metricValue(t, p.west, `meshfed_gateway_authz_denials_total{service="echo.demo",source_cluster="east"}`); n != 1 {
		t.Fatalf("west counted %v denials, want 1", n)
	}
}
