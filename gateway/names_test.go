package gateway

import (
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	good := map[string]Target{
		"echo.demo.svc.clusterset.local":        {Service: ServiceName{"demo", "echo"}},
		"echo.demo.svc.clusterset.local:8080":   {Service: ServiceName{"demo", "echo"}, Port: 8080},
		"ECHO.Demo.svc.ClusterSet.local.:65535": {Service: ServiceName{"demo", "echo"}, Port: 65535},
	}
	for in, want := range good {
		got, err := ParseHost(in)
		if err != nil || got != want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := []string{
		"", "example.com", "example.com:80", "echo.demo", "echo.demo:80", "a.b.c.svc.clusterset.local",
		".demo.svc.clusterset.local", "echo..svc.clusterset.local", "echo.demo.svc.clusterset.local:0",
		"echo.demo.svc.clusterset.local:65536", "echo.demo.svc.clusterset.local:+80", "echo.demo.svc.clusterset.local:080",
		"echo.demo.svc.clusterset.local:", "[::1]:80", "ech_o.demo.svc.clusterset.local", "svc.clusterset.local",
		strings.Repeat("a", 64) + ".demo.svc.clusterset.local", strings.Repeat("a.", 200) + "svc.clusterset.local",
	}
	for _, in := range bad {
		if got, err := ParseHost(in); err == nil {
			t.Errorf("ParseHost(%q) = %+v, want an error", in, got)
		}
	}
}

func TestSNIRoundTrip(t *testing.T) {
	tg := Target{Service: ServiceName{"demo", "echo"}, Port: 8080}
	if got := tg.SNI(); got != "8080.echo.demo.svc.clusterset.local" {
		t.Fatalf("SNI = %q", got)
	}
	got, err := ParseSNI(tg.SNI())
	if err != nil || got != tg {
		t.Fatalf("ParseSNI(%q) = %+v, %v", tg.SNI(), got, err)
	}
	for _, bad := range []string{"", "echo.demo.svc.clusterset.local", "0.echo.demo.svc.clusterset.local", "80.echo.demo",
		"80.example.com", "x80.echo.demo.svc.clusterset.local", "80..demo.svc.clusterset.local"} {
		if got, err := ParseSNI(bad); err == nil {
			t.Errorf("ParseSNI(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestParseServiceName(t *testing.T) {
	for _, in := range []string{"echo.demo", "echo.demo.svc.clusterset.local", "echo.demo.svc.clusterset.local."} {
		if s, err := ParseServiceName(in); err != nil || s != (ServiceName{"demo", "echo"}) {
			t.Errorf("ParseServiceName(%q) = %v, %v", in, s, err)
		}
	}
	for _, in := range []string{"echo", "echo.demo.x", "echo.demo.svc.cluster.local", ""} {
		if _, err := ParseServiceName(in); err == nil {
			t.Errorf("ParseServiceName(%q): no error", in)
		}
	}
}

// FuzzNames checks that the SNI, host and service-name parsers never
// panic, accept only what they can write back, and round-trip.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"8080.echo.demo.svc.clusterset.local", "echo.demo.svc.clusterset.local:80", "echo.demo", "x", "::", "1.a.b.svc.clusterset.local."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tg, err := ParseSNI(s); err == nil {
			if tg.Port == 0 || tg.Port > 65535 {
				t.Fatalf("ParseSNI(%q) port %d", s, tg.Port)
			}
			back, err := ParseSNI(tg.SNI())
			if err != nil || back != tg {
				t.Fatalf("ParseSNI(%q) = %+v; its SNI %q parses to %+v, %v", s, tg, tg.SNI(), back, err)
			}
		}
		if tg, err := ParseHost(s); err == nil {
			if !strings.Contains(strings.ToLower(s), ClustersetDomain) {
				t.Fatalf("ParseHost(%q) accepted a name outside the clusterset domain", s)
			}
			if tg.Port != 0 {
				back, err := ParseSNI(tg.SNI())
				if err != nil || back != tg {
					t.Fatalf("ParseHost(%q) = %+v does not round-trip through SNI: %+v, %v", s, tg, back, err)
				}
			}
		}
		if sn, err := ParseServiceName(s); err == nil {
			back, err := ParseServiceName(sn.Host())
			if err != nil || back != sn {
				t.Fatalf("ParseServiceName(%q) = %v; its host %q parses to %v, %v", s, sn, sn.Host(), back, err)
			}
		}
	})
}
