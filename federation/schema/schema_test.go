package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func goodCluster() *meshfedv1.Cluster {
	return &meshfedv1.Cluster{Name: "eu-1", TrustDomain: "eu-1.example.org",
		Locality:         &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"},
		GatewayAddresses: []string{"10.0.0.1:15443", "gw.example.com:443"},
		Labels:           map[string]string{"tier": "gold", "example.com/team": "payments"}}
}

func TestValidateCluster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *meshfedv1.Cluster)
		want   string // substring of the error; empty means valid
	}{
		{"valid", func(*meshfedv1.Cluster) {}, ""},
		{"no zone is fine", func(c *meshfedv1.Cluster) { c.Locality.Zone = "" }, ""},
		{"upper-case name", func(c *meshfedv1.Cluster) { c.Name = "EU-1" }, `cluster name "EU-1" is not a valid DNS-1123 label`},
		{"name too long", func(c *meshfedv1.Cluster) { c.Name = strings.Repeat("a", 64) }, "DNS-1123"},
		{"trailing dash", func(c *meshfedv1.Cluster) { c.Name = "eu-" }, `"eu-"`},
		{"trust domain with space", func(c *meshfedv1.Cluster) { c.TrustDomain = "x y" }, `cluster "eu-1": trust_domain "x y"`},
		{"trust domain with scheme", func(c *meshfedv1.Cluster) { c.TrustDomain = "spiffe://eu-1" }, `trust_domain "spiffe://eu-1"`},
		{"no locality", func(c *meshfedv1.Cluster) { c.Locality = nil }, "locality"},
		{"bad provider", func(c *meshfedv1.Cluster) { c.Locality.Provider = "AWS!" }, `provider "AWS!"`},
		{"empty region", func(c *meshfedv1.Cluster) { c.Locality.Region = "" }, `region ""`},
		{"bad zone", func(c *meshfedv1.Cluster) { c.Locality.Zone = "a b" }, `zone "a b"`},
		{"address without port", func(c *meshfedv1.Cluster) { c.GatewayAddresses = []string{"10.0.0.1"} }, `gateway_addresses "10.0.0.1" is not a host:port`},
		{"address port 0", func(c *meshfedv1.Cluster) { c.GatewayAddresses = []string{"10.0.0.1:0"} }, "outside 1-65535"},
		{"bad label value", func(c *meshfedv1.Cluster) { c.Labels = map[string]string{"tier": "gold!"} }, `label tier "gold!"`},
		{"bad label prefix", func(c *meshfedv1.Cluster) { c.Labels = map[string]string{"Ex ample/x": "y"} }, "invalid prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := goodCluster()
			tt.mutate(c)
			err := schema.ValidateCluster(c)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, schema.ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateExport(t *testing.T) {
	t.Parallel()
	good := func() *meshfedv1.Export {
		return &meshfedv1.Export{Cluster: "eu-1", Namespace: "demo", Name: "echo",
			Ports:     []*meshfedv1.ServicePort{{Name: "http", Port: 80, AppProtocol: "http"}, {Name: "grpc", Port: 9090, Protocol: "TCP", AppProtocol: "kubernetes.io/h2c"}},
			Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "eu-west-1a", Ready: 3}, {Zone: "", Ready: 1}}}
	}
	tests := []struct {
		name   string
		mutate func(e *meshfedv1.Export)
		want   string
	}{
		{"valid", func(*meshfedv1.Export) {}, ""},
		{"no ports", func(e *meshfedv1.Export) { e.Ports = nil }, "needs at least one port"},
		{"port 0", func(e *meshfedv1.Export) { e.Ports[0].Port = 0 }, `port "0" is outside 1-65535`},
		{"bad protocol", func(e *meshfedv1.Export) { e.Ports[0].Protocol = "tcp" }, `protocol "tcp" is not one of TCP, UDP, SCTP`},
		{"unnamed port among several", func(e *meshfedv1.Export) { e.Ports[1].Name = "" }, "every port needs a name"},
		{"duplicate port name", func(e *meshfedv1.Export) { e.Ports[1].Name = "http" }, `port name "http" is used twice`},
		{"duplicate zone", func(e *meshfedv1.Export) { e.Endpoints[1].Zone = "eu-west-1a" }, "listed twice"},
		{"bad namespace", func(e *meshfedv1.Export) { e.Namespace = "Demo" }, `namespace "Demo"`},
		{"too many ready", func(e *meshfedv1.Export) { e.Endpoints[0].Ready = schema.MaxReadyPerZone + 1 }, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := good()
			tt.mutate(e)
			err := schema.ValidateExport(e)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidatePolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, doc string
		want      string
	}{
		{"failover", `{"targets":[{"region":"eu-west-1"},{"cluster":"us-1"},{"labels":{"tier":"gold"}}],"never":["cn-1"],"weights":{"eu-1":2},"max_shift_per_second":0.1}`, ""},
		{"failover", `{"targets":[{"region":"eu-west-1","cluster":"us-1"}]}`, "exactly one of region, cluster, labels"},
		{"failover", `{"max_shift_per_second":2}`, "outside 0-1"},
		{"failover", `{"targets":[]} {}`, "trailing data"},
		{"failover", `[1]`, "want a JSON object"},
		{"failover", `{"target":[]}`, `unknown field "target"`},
		{"failover", `{"TARGETS":[{"region":"eu-west-1"}]}`, `unknown field "TARGETS"`},
		{"failover", `{"targets":[{"Region":"eu-west-1"}]}`, `unknown field "Region"`},
		{"failover", `{"targets":[{"labels":{"Tier":"gold","tier":"x"}}],"weights":{"EU":1}}`, `weights key "EU"`},
		{"authorization", `{"allow":[],"Allow":[{"trust_domain":"evil.example"}]}`, `unknown field "Allow"`},
		{"authorization", `{"allow":[],"allow":[{"trust_domain":"evil.example"}]}`, `"allow" appears twice`},
		{"authorization", `{"allow":[{"trust_domain":"eu-1.example.org"},{"spiffe_id":"spiffe://us-1.example.org/ns/*"}]}`, ""},
		{"authorization", `{"allow":[{}]}`, "matches everybody"},
		{"authorization", `{"allow":[{"spiffe_id":"http://x"}]}`, `spiffe_id "http://x"`},
		{"routing", `{}`, `kind "routing" is not one of failover, authorization`},
		{"failover", `{"never":["` + strings.Repeat("a", schema.MaxPolicyBytes) + `"]}`, "document size"},
	}
	for _, tt := range tests {
		err := schema.ValidatePolicy(&meshfedv1.Policy{Namespace: "demo", Name: "echo", Kind: tt.kind, Document: []byte(tt.doc)})
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s %.60s: unexpected error %v", tt.kind, tt.doc, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %.60s: got %v, want an error containing %q", tt.kind, tt.doc, err, tt.want)
		}
	}
}
