package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/kube/mcsapi"
)

func TestParsePortRange(t *testing.T) {
	t.Parallel()
	if r, err := ParsePortRange("17000-17999"); err != nil || r != (PortRange{17000, 17999}) {
		t.Fatalf("got %v, %v", r, err)
	}
	for _, bad := range []string{"", "17000", "a-b", "17999-17000", "80-90", "60000-70000"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", bad)
		}
	}
}

func TestGatewayPortsAnnotation(t *testing.T) {
	t.Parallel()
	g, err := mcsapi.ParseGatewayPorts("http=17000,9090/TCP=17001")
	if err != nil || g["http"] != 17000 || g["9090/TCP"] != 17001 {
		t.Fatalf("got %v, %v", g, err)
	}
	if s := g.String(); s != "9090/TCP=17001,http=17000" {
		t.Fatalf("String = %q", s)
	}
	for _, bad := range []string{"http", "http=", "=1", "http=0", "http=70000", "http=x"} {
		if _, err := mcsapi.ParseGatewayPorts(bad); err == nil {
			t.Errorf("mcsapi.ParseGatewayPorts(%q) accepted", bad)
		}
	}
}

func TestAllocator(t *testing.T) {
	t.Parallel()
	a := newAllocator(PortRange{First: 2000, Last: 2003})
	a.reserve("demo/old", mcsapi.GatewayPorts{"http": 2001, "out-of-range": 9})
	got, err := a.assign("demo/echo", nil, []string{"http", "grpc"})
	if err != nil || got["http"] != 2000 || got["grpc"] != 2002 {
		t.Fatalf("echo = %v, %v; want the lowest free ports around old's 2001", got, err)
	}
	// Keeping what it has: stable across calls, even in another order.
	again, err := a.assign("demo/echo", got, []string{"grpc", "http"})
	if err != nil || again.String() != got.String() {
		t.Fatalf("reassign = %v, want %v", again, got)
	}
	// A port claimed in an annotation but owned by another service is
	// not taken over.
	stolen, err := a.assign("demo/thief", mcsapi.GatewayPorts{"x": 2001}, []string{"x"})
	if err != nil || stolen["x"] != 2003 {
		t.Fatalf("thief = %v, %v; want 2003", stolen, err)
	}
	// Exhausted: an error naming the flag, nothing assigned.
	if _, err := a.assign("demo/more", nil, []string{"y"}); err == nil || !strings.Contains(err.Error(), "--import-ports 2000-2003") {
		t.Fatalf("exhausted: %v", err)
	}
	// Dropping a port releases it, after a quarantine: kube-proxy rules
	// of the old service may still point at it.
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	if _, err := a.assign("demo/echo", got, []string{"http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.assign("demo/more", nil, []string{"y"}); err == nil {
		t.Fatal("a port released a moment ago went to another service")
	}
	now = now.Add(portQuarantine)
	if p, err := a.assign("demo/more", nil, []string{"y"}); err != nil || p["y"] != 2002 {
		t.Fatalf("after the quarantine: %v, %v", p, err)
	}
	a.release("demo/old")
	now = now.Add(portQuarantine)
	if p, err := a.assign("demo/new", nil, []string{"z"}); err != nil || p["z"] != 2001 {
		t.Fatalf("after release of old: %v, %v", p, err)
	}
}

func TestShorten(t *testing.T) {
	t.Parallel()
	if DerivedName("echo") != "mcs-echo" {
		t.Fatal(DerivedName("echo"))
	}
	long := strings.Repeat("a", 63)
	n1, n2 := DerivedName(long), DerivedName(long[:62]+"b")
	if len(n1) != 63 || n1 == n2 {
		t.Fatalf("%q %q", n1, n2)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Cluster = "Bad_Name" }, "--cluster"},
		{func(c *Config) { c.GatewayAddresses = nil }, "--gateway-service NAMESPACE/NAME or --gateway-address"},
		{func(c *Config) { c.GatewayAddresses = []string{"127.0.0.1"} }, "loopback"},
		{func(c *Config) { c.GatewayAddresses = []string{"gw.local"} }, "not an IP"},
		{func(c *Config) { c.GatewayAddresses, c.GatewayService = nil, "gw" }, "NAMESPACE/NAME"},
		{func(c *Config) { c.MCSVersion = "v2" }, "--mcs-version"},
		{func(c *Config) { c.ImportPorts = PortRange{10, 5} }, "--import-ports"},
	} {
		c := Config{Cluster: "east", Kube: nil, GatewayAddresses: []string{"10.0.0.5"}}
		c.setDefaults()
		tc.mod(&c)
		c.Kube = &restConfigStub
		c.ControlPlane = make([]meshfedClient, 1)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, tc.want)
		}
	}
}
