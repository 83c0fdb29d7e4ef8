package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ts(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }

func clusters() *meshfedv1.ListClustersResponse {
	return &meshfedv1.ListClustersResponse{Clusters: []*meshfedv1.ClusterStatus{
		{
			Cluster: &meshfedv1.Cluster{Name: "eu-1", TrustDomain: "eu-1.example.org",
				Locality:         &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"},
				GatewayAddresses: []string{"10.0.0.1:15443"}, Labels: map[string]string{"env": "prod"}, CreatedAt: ts(3 * 24 * time.Hour)},
			Gateways: []*meshfedv1.Presence{{Cluster: "eu-1", Gateway: "gw-0"}, {Cluster: "eu-1", Gateway: "gw-1"}},
			Live:     true,
		},
		{
			Cluster: &meshfedv1.Cluster{Name: "lab", TrustDomain: "lab.example.org",
				Locality: &meshfedv1.Locality{Provider: "onprem", Region: "basement"}, CreatedAt: ts(90 * time.Second)},
		},
	}}
}

func table(f func(w io.Writer)) string {
	var b bytes.Buffer
	tw := newTable(&b)
	f(tw)
	tw.Flush()
	return b.String()
}

func TestTables(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"clusters", table(func(w io.Writer) { clusterTable(w, clusters(), now) }), `
NAME   TRUST DOMAIN       PROVIDER   REGION      ZONE         GATEWAYS   LIVE   AGE
eu-1   eu-1.example.org   aws        eu-west-1   eu-west-1a   2          yes    3d
lab    lab.example.org    onprem     basement    <none>       0          no     90s
`},
		{"cluster", table(func(w io.Writer) {
			cs := clusters().GetClusters()[0]
			clusterDetail(w, &meshfedv1.GetClusterResponse{Cluster: cs.GetCluster(), Gateways: []*meshfedv1.Presence{{
				Gateway: "gw-0", SpiffeId: "spiffe://eu-1.example.org/meshfed/gateway/eu-1/gw-0", Addresses: []string{"10.0.0.1:15443"}, RegisteredAt: ts(5 * time.Minute)}}}, now)
		}), `
Name:                eu-1
Trust domain:        eu-1.example.org
Locality:            aws/eu-west-1/eu-west-1a
Labels:              env=prod
Gateway addresses:   10.0.0.1:15443
Created:             2026-11-19T12:00:00Z (3d ago)
Live gateways:
  GATEWAY   SPIFFE ID                                             ADDRESSES        REGISTERED
  gw-0      spiffe://eu-1.example.org/meshfed/gateway/eu-1/gw-0   10.0.0.1:15443   5m
`},
		{"exports", table(func(w io.Writer) {
			exportTable(w, &meshfedv1.ListExportsResponse{Exports: []*meshfedv1.Export{
				{Cluster: "eu-1", Namespace: "demo", Name: "api",
					Ports:     []*meshfedv1.ServicePort{{Name: "http", Port: 80}, {Name: "dns", Port: 53, Protocol: "UDP"}},
					Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "a", Ready: 2}, {Zone: "b", Ready: 3}}, CreatedAt: ts(time.Hour)},
				{Cluster: "us-1", Namespace: "demo", Name: "db", Ports: []*meshfedv1.ServicePort{{Port: 5432}}},
			}})
		}), `
CLUSTER   NAMESPACE   NAME   PORTS                    READY   CREATED
eu-1      demo        api    http:80/TCP,dns:53/UDP   5       2026-11-22T11:00:00Z
us-1      demo        db     5432/TCP                 0       <unknown>
`},
		{"imports", table(func(w io.Writer) {
			importTable(w, &meshfedv1.ListImportsResponse{Imports: []*meshfedv1.Import{
				{Namespace: "demo", Name: "api", Ports: []*meshfedv1.ServicePort{{Name: "http", Port: 80}},
					Clusters:   []*meshfedv1.ImportCluster{{Cluster: "eu-1", Ready: 3}, {Cluster: "us-1"}},
					Conditions: []*meshfedv1.Condition{{Type: "Conflict", Status: "True", Reason: "PortConflict", Message: "us-1: port http is 8080/TCP,\nnot 80/TCP"}}},
				{Namespace: "demo", Name: "db", Ports: []*meshfedv1.ServicePort{{Port: 5432}},
					Clusters:   []*meshfedv1.ImportCluster{{Cluster: "eu-1", Ready: 1, Conditions: []*meshfedv1.Condition{{Type: "Conflict", Status: "True", Reason: "PortConflict"}}}},
					Conditions: []*meshfedv1.Condition{{Type: "Conflict", Status: "False", Reason: "NoConflicts"}}},
				{Namespace: "demo", Name: "web", Ports: []*meshfedv1.ServicePort{{Port: 80}}},
			}})
		}), `
NAMESPACE   NAME   PORTS         CLUSTERS          CONFLICT
demo        api    http:80/TCP   eu-1(3),us-1(0)   yes: us-1: port http is 8080/TCP, not 80/TCP
demo        db     5432/TCP      eu-1(1)           yes: PortConflict
demo        web    80/TCP        <none>            no
`},
		{"policies", table(func(w io.Writer) {
			policyTable(w, &meshfedv1.ListPoliciesResponse{Policies: []*meshfedv1.Policy{
				{Namespace: "demo", Name: "api", Kind: "failover", UpdatedAt: ts(0)},
			}})
		}), `
NAMESPACE   NAME   KIND       UPDATED
demo        api    failover   2026-11-22T12:00:00Z
`},
		{"policy", table(func(w io.Writer) {
			policyDetail(w, &meshfedv1.Policy{Namespace: "demo", Name: "api", Kind: "failover",
				Document: []byte(`{"targets":[{"region":"eu-west-1"}]}`), UpdatedAt: ts(0)})
		}), `
Policy:    demo/api
Kind:      failover
Updated:   2026-11-22T12:00:00Z
Document:
  {
    "targets": [
      {
        "region": "eu-west-1"
      }
    ]
  }
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if want := strings.TrimPrefix(tt.want, "\n"); tt.got != want {
				t.Errorf("got:\n%s\nwant:\n%s", tt.got, want)
			}
		})
	}
}

func TestBundleTable(t *testing.T) {
	b := testBundle(t, 4, 5*time.Minute)
	b.UpdatedAt, b.Source = ts(0), "admin"
	now := ts(0).AsTime().Add(90 * time.Second)
	fetched := &meshfedv1.BundleEndpoint{TrustDomain: "eu-1.example.org", Url: "https://spire:8443", Profile: "https_web",
		LastAttempt: ts(0), NextRefresh: timestamppb.New(now.Add(210 * time.Second)), LastError: strings.Repeat("x", 100)}
	pending := &meshfedv1.BundleEndpoint{TrustDomain: "us-1.example.org", Url: "https://spire:8443", Profile: "https_web"}
	got := table(func(w io.Writer) {
		bundleTable(w, &meshfedv1.ListBundlesResponse{Bundles: []*meshfedv1.Bundle{b, {TrustDomain: "broken.example.org", Jwks: []byte("{")}},
			Endpoints: []*meshfedv1.BundleEndpoint{fetched, pending}}, now)
	})
	want := `TRUST DOMAIN         SOURCE   SEQUENCE   KEYS   AGE         NEXT REFRESH   LAST ERROR
broken.example.org   <none>   0          ?      <unknown>   -              -
eu-1.example.org     admin    4          1      90s         in 3m30s       ` + strings.Repeat("x", 80) + `...
us-1.example.org     <none>   <none>     0      <none>      now            <none>
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	detail := table(func(w io.Writer) { bundleDetail(w, b) })
	for _, s := range []string{"Sequence:            4", "X.509 authorities:   1", "O=meshfed dev CA", "JWT authorities:     0"} {
		if !strings.Contains(detail, s) {
			t.Errorf("detail lacks %q:\n%s", s, detail)
		}
	}
}

func TestProtoOutput(t *testing.T) {
	for _, m := range []proto.Message{
		clusters(),
		&meshfedv1.ListClustersResponse{},
		&meshfedv1.GetPolicyResponse{Policy: &meshfedv1.Policy{Namespace: "demo", Name: "api", Kind: "failover", Document: []byte(`{}`)}},
	} {
		name := string(m.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			var js, ys bytes.Buffer
			if err := printOutput(&js, formatJSON, m, nil); err != nil {
				t.Fatal(err)
			}
			if err := printOutput(&ys, formatYAML, m, nil); err != nil {
				t.Fatal(err)
			}
			again, _ := marshalJSON(m)
			if !bytes.Equal(js.Bytes(), again) {
				t.Errorf("JSON output is not stable:\n%s\n%s", js.Bytes(), again)
			}
			fromYAML, err := yaml.YAMLToJSON(ys.Bytes())
			if err != nil {
				t.Fatalf("YAML output does not parse: %v\n%s", err, ys.Bytes())
			}
			for format, data := range map[string][]byte{"json": js.Bytes(), "yaml": fromYAML} {
				got := m.ProtoReflect().New().Interface()
				if err := protojson.Unmarshal(data, got); err != nil {
					t.Fatalf("%s output does not parse back: %v\n%s", format, err, data)
				}
				if !proto.Equal(got, m) {
					t.Errorf("%s output does not round-trip:\n%s", format, data)
				}
			}
		})
	}

	var js, ys bytes.Buffer
	printOutput(&js, formatJSON, clusters(), nil)
	printOutput(&ys, formatYAML, clusters(), nil)
	for _, want := range []string{"{\n  \"clusters\": [\n    {\n", `"trust_domain": "eu-1.example.org"`, `"gateway_addresses": [`, `"live": true`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %q:\n%s", want, js.String())
		}
	}
	// Every field is present, empty or not, so scripts see a stable shape
	// (jq '.clusters[]' works on an empty list).
	if !strings.Contains(js.String(), `"zone": ""`) || !strings.Contains(js.String(), `"live": false`) {
		t.Errorf("JSON omits unpopulated fields:\n%s", js.String())
	}
	var empty bytes.Buffer
	printOutput(&empty, formatJSON, &meshfedv1.ListClustersResponse{}, nil)
	if !strings.Contains(empty.String(), `"clusters": []`) {
		t.Errorf("empty list is not an empty array: %s", empty.String())
	}
	for _, want := range []string{"clusters:\n- cluster:\n", "    trust_domain: eu-1.example.org\n"} {
		if !strings.Contains(ys.String(), want) {
			t.Errorf("YAML lacks %q:\n%s", want, ys.String())
		}
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "0s"},
		{0, "0s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{119 * time.Minute, "119m"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{800 * 24 * time.Hour, "2y"},
	}
	for _, tt := range tests {
		if got := age(ts(tt.d), now); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := age(nil, now); got != "<unknown>" {
		t.Errorf("age(nil) = %q", got)
	}
}
