package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodConfig = `
cluster: east
data_dir: data
controlplane:
  address: 127.0.0.1:15012
  ca: cp-ca.pem
  server_id: spiffe://meshfed.local/meshfed/controlplane
identity:
  cert: gw.pem
  key: gw-key.pem
  bundle: ca.pem
services:
- namespace: demo
  name: echo
  ports:
  - {name: http, port: 8080, app_protocol: http}
  - {name: grpc, port: 9090, target_port: 19090}
  endpoints:
  - {address: 10.0.0.1, zone: a}
  - {address: 10.0.0.2, zone: b, ports: {"8080": 18080}}
  - {address: 10.0.0.3, zone: b, ready: false}
tcp_listeners:
- {service: echo.demo, port: 8080, listen: 127.0.0.1:18080}
limits:
  idle_timeout: 90s
`

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(goodConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "data") || cfg.Identity.Cert != filepath.Join(dir, "gw.pem") {
		t.Errorf("relative paths not resolved against the file's directory: %q %q", cfg.DataDir, cfg.Identity.Cert)
	}
	if cfg.Limits.IdleTimeout.D() != 90*time.Second || cfg.Limits.ConnectTimeout != DefaultLimits.ConnectTimeout {
		t.Errorf("limits %+v", cfg.Limits)
	}
	if cfg.Listen.Inbound != DefaultInbound || cfg.Name != DefaultName || cfg.LocalBalancing != "round_robin" {
		t.Errorf("defaults not applied: %+v", cfg.Listen)
	}
	ls := newLocalServices(cfg)
	lp, ok := ls.lookup(Target{Service: ServiceName{"demo", "echo"}, Port: 8080})
	if !ok || strings.Join(lp.addrs, ",") != "10.0.0.1:8080,10.0.0.2:18080" {
		t.Errorf("port 8080 endpoints %v", lp)
	}
	lp, _ = ls.lookup(Target{Service: ServiceName{"demo", "echo"}, Port: 9090})
	if strings.Join(lp.addrs, ",") != "10.0.0.1:19090,10.0.0.2:19090" {
		t.Errorf("port 9090 endpoints %v", lp.addrs)
	}
	exp := ls.exports("east")
	if len(exp) != 1 || len(exp[0].GetEndpoints()) != 2 || exp[0].GetEndpoints()[1].GetReady() != 1 {
		t.Errorf("exports %v", exp)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"cluster: East":             `cluster "East" is not a DNS-1123 label`,
		"unknown_field: 1":          `unknown field "unknown_field"`,
		"limits: {idle_timeout: 5}": `duration must be a string`,
		"limits: {idle_timeout: x}": `duration "x"`,
		"services: [{namespace: demo, name: e, ports: [{port: 70000}]}]":                                                           "services[0].ports[0].port 70000",
		"services: [{namespace: demo, name: e, ports: [{port: 80}, {port: 80}]}]":                                                  "listed twice",
		"services: [{namespace: demo, name: e, ports: [{name: a, port: 80}, {name: b, port: 81}], endpoints: [{address: 'h:1'}]}]": "has a port but the service has 2 ports",
		"services: [{namespace: demo, name: e, ports: [{port: 80}], endpoints: [{address: h, ports: {'81': 1}}]}]":                 `ports key "81"`,
		"tcp_listeners: [{service: a.b.c, port: 80, listen: ':1'}]":                                                                "tcp_listeners[0].service",
		"local_balancing: random":                      `local_balancing "random"`,
		"listen: {inbound: nope}":                      `listen.inbound "nope" is not host:port`,
		"identity: {workload_api: unix:///x, cert: c}": "not both",
		"procs: -1": `procs "-1" is outside 0-1024`,
	}
	base := "data_dir: d\ncontrolplane: {address: '127.0.0.1:1', ca: c, server_id: 'spiffe://x/y'}\n"
	for extra, want := range cases {
		doc := base + extra
		if !strings.HasPrefix(extra, "cluster:") {
			doc += "\ncluster: east"
		}
		if !strings.HasPrefix(extra, "identity:") {
			doc += "\nidentity: {cert: c, key: k, bundle: b}"
		}
		cfg, err := ParseConfig([]byte(doc))
		if err == nil {
			cfg.SetDefaults()
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", extra, err, want)
		}
	}
	var empty Config
	empty.SetDefaults()
	err := empty.Validate()
	for _, want := range []string{"cluster is required", "data_dir is required", "controlplane.address is required", "identity: set workload_api"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config: %v, want %q", err, want)
		}
	}
}
