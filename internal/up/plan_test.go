package up_test

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/up"
)

func mustPlan(t *testing.T, cfg up.PlanConfig) *up.Plan {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = "/srv/fed"
	}
	if cfg.Executable == "" {
		cfg.Executable = "/usr/local/bin/meshfed"
	}
	p, err := up.NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultLayout(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, up.PlanConfig{})
	st := p.State
	if st.Controlplane != "127.0.0.1:16000" || st.ControlplaneHTTP != "127.0.0.1:16001" || st.BasePort != 16000 {
		t.Fatalf("control plane at %s / %s (base %d), want 127.0.0.1:16000 / 127.0.0.1:16001", st.Controlplane, st.ControlplaneHTTP, st.BasePort)
	}
	if st.Config != "/srv/fed/meshfed.yaml" || st.Dir != "/srv/fed" {
		t.Fatalf("config %s dir %s", st.Config, st.Dir)
	}
	want := []up.Cluster{
		{Name: "east", TrustDomain: "east.meshfed.test", Provider: "aws", Region: "us-east-1", Zone: "us-east-1a",
			Inbound: "127.0.0.1:16010", Outbound: "127.0.0.1:16011", Admin: "127.0.0.1:16012", ForwardProxy: "http://127.0.0.1:16011"},
		{Name: "east-b", TrustDomain: "east-b.meshfed.test", Provider: "aws", Region: "us-east-1", Zone: "us-east-1b",
			Inbound: "127.0.0.1:16020", Outbound: "127.0.0.1:16021", Admin: "127.0.0.1:16022", ForwardProxy: "http://127.0.0.1:16021"},
		{Name: "west", TrustDomain: "west.meshfed.test", Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b",
			Inbound: "127.0.0.1:16030", Outbound: "127.0.0.1:16031", Admin: "127.0.0.1:16032", ForwardProxy: "http://127.0.0.1:16031"},
	}
	if len(st.Clusters) != len(want) {
		t.Fatalf("%d clusters, want %d", len(st.Clusters), len(want))
	}
	for i, w := range want {
		c := st.Clusters[i]
		got := up.Cluster{Name: c.Name, TrustDomain: c.TrustDomain, Provider: c.Provider, Region: c.Region, Zone: c.Zone,
			Inbound: c.Inbound, Outbound: c.Outbound, Admin: c.Admin, ForwardProxy: c.ForwardProxy}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("cluster %d:\n got %+v\nwant %+v", i, got, w)
		}
		b := 16000 + 10*(i+1)
		echo := map[string]string{"http": fmt.Sprintf("127.0.0.1:%d", b+3), "grpc": fmt.Sprintf("127.0.0.1:%d", b+4)}
		if !reflect.DeepEqual(c.Services[up.Echo], echo) {
			t.Errorf("%s: echo.demo backends %v, want %v", c.Name, c.Services[up.Echo], echo)
		}
		if _, ok := c.Services[up.Catalog]; ok != (c.Name == "west") {
			t.Errorf("%s: exports catalog.demo = %v; only the last cluster should", c.Name, ok)
		}
		if got, want := c.TCPListeners["echo.demo:9090"], fmt.Sprintf("127.0.0.1:%d", b+6); got != want {
			t.Errorf("%s: gRPC port %q, want %q", c.Name, got, want)
		}
		wantArgs := []string{"/usr/local/bin/meshfed", "gateway", "--config", "/srv/fed/clusters/" + c.Name + "/gateway.yaml", "--enable-faults"}
		if !reflect.DeepEqual(c.GatewayArgs, wantArgs) {
			t.Errorf("%s: gateway args %q, want %q", c.Name, c.GatewayArgs, wantArgs)
		}
		if c.GatewayLog != "/srv/fed/logs/gateway-"+c.Name+".log" {
			t.Errorf("%s: gateway log %s", c.Name, c.GatewayLog)
		}
	}
	if got := st.Clusters[2].Services[up.Catalog]["http"]; got != "127.0.0.1:16035" {
		t.Errorf("catalog.demo backend %s, want 127.0.0.1:16035", got)
	}
	if up.LastPort(16000, 3) != 16039 {
		t.Errorf("last port %d, want 16039", up.LastPort(16000, 3))
	}
	wantCP := []string{"/usr/local/bin/meshfed", "controlplane", "--data-dir", "/srv/fed/controlplane",
		"--listen", "127.0.0.1:16000", "--http-listen", "127.0.0.1:16001", "--write-user-config=false"}
	if !reflect.DeepEqual(p.ControlplaneArgs(), wantCP) {
		t.Errorf("control plane args %q, want %q", p.ControlplaneArgs(), wantCP)
	}
}

// TestLayoutPortsAreDistinctAndInRange checks every size: ports never
// collide and stay within BASE..LastPort.
func TestLayoutPortsAreDistinctAndInRange(t *testing.T) {
	t.Parallel()
	for n := 1; n <= up.MaxClusters; n++ {
		p := mustPlan(t, up.PlanConfig{Clusters: n, BasePort: 20000})
		seen := map[int]string{}
		for _, u := range p.Ports {
			if prev, ok := seen[u.Port]; ok {
				t.Fatalf("%d clusters: port %d used by %q and %q", n, u.Port, prev, u.Use)
			}
			seen[u.Port] = u.Use
			if u.Port < 20000 || u.Port > up.LastPort(20000, n) || u.Addr != "127.0.0.1:"+strconv.Itoa(u.Port) {
				t.Fatalf("%d clusters: %s (%s) outside 20000-%d", n, u.Addr, u.Use, up.LastPort(20000, n))
			}
		}
		names := map[string]bool{}
		for _, c := range p.State.Clusters {
			if names[c.Name] || !schema.IsDNSLabel(c.Name) {
				t.Fatalf("%d clusters: name %q repeated or not a DNS label", n, c.Name)
			}
			names[c.Name] = true
			if err := schema.ValidateTrustDomain("", "trust_domain", c.TrustDomain); err != nil {
				t.Fatal(err)
			}
			if c.Provider == "" || c.Region == "" || c.Zone == "" {
				t.Fatalf("%s: incomplete locality %s/%s/%s", c.Name, c.Provider, c.Region, c.Zone)
			}
		}
		// Every backend is in the demo command line, in its flag form.
		args := strings.Join(p.DemoArgs(), " ")
		for _, b := range p.Backends {
			if !strings.Contains(args, "--"+b.Protocol+" "+b.String()) {
				t.Fatalf("demo args %q lack %s", args, b)
			}
		}
	}
}

func TestPlanRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  up.PlanConfig
		want string
	}{
		{"relative dir", up.PlanConfig{Dir: "fed", Executable: "/m"}, `--dir "fed" must be an absolute path`},
		{"no executable", up.PlanConfig{Dir: "/fed"}, "no meshfed executable"},
		{"too many clusters", up.PlanConfig{Dir: "/fed", Executable: "/m", Clusters: up.MaxClusters + 1}, "--clusters 21: want 1 to 20"},
		{"negative clusters", up.PlanConfig{Dir: "/fed", Executable: "/m", Clusters: -1}, "--clusters -1"},
		{"privileged port", up.PlanConfig{Dir: "/fed", Executable: "/m", BasePort: 80}, "--base-port 80"},
		{"past 65535", up.PlanConfig{Dir: "/fed", Executable: "/m", BasePort: 65500}, "need ports 65500-65539, past 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := up.NewPlan(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestGatewayConfigIsValid checks that each generated gateway config
// survives the YAML file and the gateway's own validation, and routes
// the demo services to the plan's backends.
func TestGatewayConfigIsValid(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, up.PlanConfig{Clusters: 3})
	cp := gateway.ControlPlaneConfig{Address: "127.0.0.1:16000", CA: "/srv/fed/controlplane/pki/ca.pem", ServerID: "spiffe://meshfed.local/meshfed/controlplane"}
	for i, c := range p.State.Clusters {
		cfg := p.GatewayConfig(i, cp)
		data, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := gateway.ParseConfig(data)
		if err != nil {
			t.Fatalf("%s: generated YAML does not parse: %v\n%s", c.Name, err, data)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("%s: YAML round trip changed the config:\n%s", c.Name, data)
		}
		back.SetDefaults()
		if err := back.Validate(); err != nil {
			t.Fatalf("%s: %v\n%s", c.Name, err, data)
		}
		if back.Cluster != c.Name || back.Listen.Inbound != c.Inbound || back.Listen.Outbound != c.Outbound || back.Listen.Admin != c.Admin {
			t.Errorf("%s: listeners %+v", c.Name, back.Listen)
		}
		if back.Identity.Cert != "/srv/fed/clusters/"+c.Name+"/gw.pem" || back.DataDir != "/srv/fed/clusters/"+c.Name+"/gateway" {
			t.Errorf("%s: identity %+v data dir %s", c.Name, back.Identity, back.DataDir)
		}
		got := map[string]map[string]string{}
		for _, s := range back.Services {
			name := s.Name + "." + s.Namespace
			got[name] = map[string]string{}
			for _, port := range s.Ports {
				got[name][port.AppProtocol] = net.JoinHostPort(s.Endpoints[0].Address, strconv.Itoa(int(s.Endpoints[0].Ports[strconv.Itoa(int(port.Port))])))
			}
			if s.Endpoints[0].Zone != c.Zone {
				t.Errorf("%s: %s endpoint zone %q, want %q", c.Name, name, s.Endpoints[0].Zone, c.Zone)
			}
		}
		if !reflect.DeepEqual(got, c.Services) {
			t.Errorf("%s: services route to %v, want %v", c.Name, got, c.Services)
		}
		if len(back.TCPListeners) != 1 || back.TCPListeners[0] != (gateway.TCPListener{Service: "echo.demo", Port: 9090, Listen: c.TCPListeners["echo.demo:9090"]}) {
			t.Errorf("%s: TCP listeners %+v", c.Name, back.TCPListeners)
		}
	}
}

func TestParseBackend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		proto, in string
		want      up.Backend
		err       string
	}{
		{"http", "east/echo.demo=127.0.0.1:16013", up.Backend{Cluster: "east", Service: "echo.demo", Protocol: "http", Addr: "127.0.0.1:16013"}, ""},
		{"grpc", "east-b/echo.demo=[::1]:9", up.Backend{Cluster: "east-b", Service: "echo.demo", Protocol: "grpc", Addr: "[::1]:9"}, ""},
		{"tcp", "east/echo.demo=127.0.0.1:1", up.Backend{}, `protocol "tcp"`},
		{"http", "east/echo.demo", up.Backend{}, "no '='"},
		{"http", "echo.demo=127.0.0.1:1", up.Backend{}, "no '/'"},
		{"http", "East/echo.demo=127.0.0.1:1", up.Backend{}, `cluster "East"`},
		{"http", "east/echo=127.0.0.1:1", up.Backend{}, `service "echo"`},
		{"http", "east/echo.demo=localhost", up.Backend{}, `address "localhost"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := up.ParseBackend(tc.proto, tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func FuzzParseBackend(f *testing.F) {
	f.Add("east/echo.demo=127.0.0.1:16013")
	f.Add("a/b.c=[::1]:0")
	f.Add("/=")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := up.ParseBackend("http", s)
		if err != nil {
			return
		}
		again, err := up.ParseBackend("http", b.String())
		if err != nil || again != b {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, b, b.String(), again, err)
		}
	})
}
