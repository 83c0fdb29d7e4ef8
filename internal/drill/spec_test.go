package drill_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/drill"
)

const fullSpec = `name: kill-east-b
fault: {kind: kill}
scope: {cluster: east-b}
traffic:
  from: [east]
  service: echo.demo
  protocols: [http, grpc]
  rate: 100
  timeout: 2s
  ports: {http: 8080, grpc: 9090}
duration: 20s
warmup: 3s
restore: 0s
gates: {max_error_rate: 0.001, max_p99: 500ms}
`

func TestParseSpec(t *testing.T) {
	s, err := drill.ParseSpec("kill.yaml", []byte(fullSpec))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	if s.Fault.Kind != "kill" || s.Scope.Cluster != "east-b" || s.Traffic.Rate != 100 || s.Duration.D() != 20*time.Second ||
		s.Warmup.D() != 3*time.Second || s.Restore != 0 || s.Traffic.Timeout.D() != 2*time.Second ||
		*s.Gates.MaxErrorRate != 0.001 || s.Gates.MaxP99.D() != 500*time.Millisecond ||
		strings.Join(s.Traffic.Protocols, ",") != "http,grpc" || strings.Join(s.Traffic.From, ",") != "east" {
		t.Errorf("parsed %+v", s)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	s, err := drill.ParseSpec("d.yaml", []byte("fault: {kind: blackhole}\nscope: {cluster: east-b, service: Echo.Demo}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"name", s.Name, "blackhole-east-b-echo-demo"},
		{"scope.service", s.Scope.Service, "echo.demo"},
		{"traffic.service", s.Traffic.Service, "echo.demo"},
		{"traffic.protocols", strings.Join(s.Traffic.Protocols, ","), "http"},
		{"traffic.rate", s.Traffic.Rate, drill.DefaultRate},
		{"duration", s.Duration.D(), drill.DefaultDuration},
		{"warmup", s.Warmup.D(), drill.DefaultWarmup},
		{"restore", s.Restore.D(), drill.DefaultRestore},
		{"gates.max_error_rate", *s.Gates.MaxErrorRate, drill.DefaultMaxErrorRate},
		{"scope string", s.Scope.String(), "cluster=east-b,service=echo.demo"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestSpecErrors: every mistake is an error naming the file, the line
// and the field.
func TestSpecErrors(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		// want are substrings of the error.
		want []string
	}{
		{"unknown top-level field", "fault: {kind: kill}\nscope: {cluster: a}\nduraton: 3s\n", []string{"d.yaml:3: duraton: unknown field", "duration"}},
		{"unknown nested field", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic:\n  rat: 10\n", []string{"d.yaml:4: traffic.rat: unknown field", "traffic has", "rate"}},
		{"wrong type", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic:\n  rate: fast\n", []string{"d.yaml:4: traffic.rate:", `"fast" is not a whole number`}},
		{"bad duration", "fault: {kind: kill}\nscope: {cluster: a}\nduration: 20\n", []string{"d.yaml:3: duration:", "not a duration"}},
		{"list of mappings", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic: {from: [{a: b}]}\n", []string{"d.yaml:3: traffic.from:", "entry 1"}},
		{"scalar for mapping", "fault: kill\nscope: {cluster: a}\n", []string{"d.yaml:1: fault:", "want a mapping"}},
		{"duplicate key", "fault: {kind: kill}\nfault: {kind: drain}\nscope: {cluster: a}\n", []string{"d.yaml:2: fault:", "twice"}},
		{"not yaml", "fault: {kind: kill\n", []string{"d.yaml", "not YAML"}},
		{"empty", "", []string{"d.yaml", "empty"}},
		{"missing kind", "scope: {cluster: a}\n", []string{"fault.kind: is required"}},
		{"unknown kind", "fault: {kind: meteor}\nscope: {cluster: a}\n", []string{"d.yaml:1: fault.kind:", `"meteor" is not a fault`}},
		{"latency needs latency", "fault: {kind: latency}\nscope: {cluster: a}\n", []string{"fault.latency: is required"}},
		{"latency too large", "fault: {kind: latency, latency: 2m}\nscope: {cluster: a}\n", []string{"d.yaml:1: fault.latency:", "between 1ms and 1m"}},
		{"period only for drain", "fault: {kind: kill, period: 10s}\nscope: {cluster: a}\n", []string{"fault.period: is only for a drain"}},
		{"period whole seconds", "fault: {kind: drain, period: 1500ms}\nscope: {cluster: a}\n", []string{"fault.period:", "whole seconds"}},
		{"no scope", "fault: {kind: kill}\n", []string{"scope: needs a cluster"}},
		{"cluster and zone", "fault: {kind: drain}\nscope: {cluster: a, zone: z}\n", []string{"d.yaml:2: scope.zone:", "exclude each other"}},
		{"bad cluster", "fault: {kind: drain}\nscope: {cluster: East_1}\n", []string{"d.yaml:2: scope.cluster:", "not a cluster name"}},
		{"kill one service", "fault: {kind: kill}\nscope: {cluster: a, service: echo.demo}\n", []string{"scope.service:", "whole gateway"}},
		{"trust expiry one service", "fault: {kind: trust-expiry}\nscope: {cluster: a, service: echo.demo}\n", []string{"scope.service:", "whole gateway"}},
		{"bad service", "fault: {kind: blackhole}\nscope: {cluster: a, service: echo}\n", []string{"scope.service:", "NAME.NAMESPACE"}},
		{"bad protocol", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic: {protocols: [http, quic]}\n", []string{"d.yaml:3: traffic.protocols:", `"quic"`}},
		{"rate too high", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic: {rate: 1000000}\n", []string{"traffic.rate:", "between 1 and"}},
		{"rate with observe", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic: {observe: true, rate: 5}\n", []string{"traffic.rate:", "observe"}},
		{"twice in from", "fault: {kind: kill}\nscope: {cluster: a}\ntraffic: {from: [b, b]}\n", []string{"traffic.from:", "twice"}},
		{"error rate range", "fault: {kind: kill}\nscope: {cluster: a}\ngates: {max_error_rate: 5}\n", []string{"d.yaml:3: gates.max_error_rate:", "between 0 and 1"}},
		{"bad admin", "fault: {kind: kill}\nscope: {cluster: a}\nenvironment:\n  gateways:\n    a: {admin: 'ftp://x'}\n", []string{"d.yaml:5: environment.gateways.a.admin:", "not an admin address"}},
		{"missing admin", "fault: {kind: kill}\nscope: {cluster: a}\nenvironment:\n  gateways:\n    a: {forward_proxy: 'http://x:1'}\n", []string{"environment.gateways.a.admin: is required"}},
		{"bad name", "name: Kill East\nfault: {kind: kill}\nscope: {cluster: a}\n", []string{"d.yaml:1: name:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := drill.ParseSpec("d.yaml", []byte(c.doc))
			if err == nil {
				err = s.Normalize()
			}
			var se *drill.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SpecError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestFlagOverrides: a value set by a flag is blamed on the flag.
func TestFlagOverrides(t *testing.T) {
	s, err := drill.ParseSpec("d.yaml", []byte("fault: {kind: kill}\nscope: {cluster: a}\ntraffic: {rate: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.Traffic.Rate = -3
	s.SetFlag("traffic.rate", "--rate")
	err = s.Normalize()
	if err == nil || !strings.Contains(err.Error(), "--rate (traffic.rate): -3") {
		t.Fatalf("got %v, want an error naming --rate", err)
	}
	// An explicit --restore 0 keeps 0.
	s.Traffic.Rate = 10
	s.Restore = 0
	s.SetFlag("restore", "--restore")
	if err := s.Normalize(); err != nil || s.Restore != 0 {
		t.Fatalf("restore %v, err %v", s.Restore, err)
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]string{
		"cluster=east":                   "cluster=east",
		"cluster=east,service=echo.demo": "cluster=east,service=echo.demo",
		"zone=us-east-1b":                "zone=us-east-1b",
		" service=echo.demo , cluster=e": "cluster=e,service=echo.demo",
	} {
		sc, err := drill.ParseScope(in)
		if err != nil || sc.String() != want {
			t.Errorf("ParseScope(%q) = %q, %v; want %q", in, sc.String(), err, want)
		}
	}
	for _, in := range []string{"", "east", "cluster=", "planet=mars", "cluster=a,cluster=b"} {
		if _, err := drill.ParseScope(in); err == nil {
			t.Errorf("ParseScope(%q) succeeded", in)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(fullSpec))
	f.Add([]byte("fault: {kind: drain, period: 10s}\nscope: {zone: us-east-1b}\n"))
	f.Add([]byte("fault: {kind: latency, latency: 300ms}\nscope: {cluster: a}\nenvironment: {gateways: {a: {admin: 'http://127.0.0.1:1'}}}\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := drill.ParseSpec("f.yaml", data)
		if err != nil {
			var se *drill.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SpecError", err)
			}
			return
		}
		if err := s.Normalize(); err != nil {
			var se *drill.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SpecError", err)
			}
			return
		}
		if s.Fault.Kind == "" || s.Scope.String() == "" || s.Traffic.Service == "" || s.Name == "" {
			t.Fatalf("normalized spec without essentials: %+v", s)
		}
	})
}

func ExampleParseSpec() {
	s, err := drill.ParseSpec("kill.yaml", []byte("fault: {kind: kill}\nscope: {cluster: east-b}\ntraffic: {from: [east], rate: 100}\nduration: 20s\n"))
	if err == nil {
		err = s.Normalize()
	}
	fmt.Println(s.Name, s.Scope, s.Traffic.Service, s.Duration, err)
	// Output: kill-east-b cluster=east-b echo.demo 20s <nil>
}
