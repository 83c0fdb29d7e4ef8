package meshfedv1_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// apiRequests are the requests the control plane decodes from clients
// and gateways.
var apiRequests = []func() proto.Message{
	func() proto.Message { return &meshfedv1.PutClusterRequest{} },
	func() proto.Message { return &meshfedv1.PublishExportsRequest{} },
	func() proto.Message { return &meshfedv1.PutPolicyRequest{} },
	func() proto.Message { return &meshfedv1.PutBundleRequest{} },
	func() proto.Message { return &meshfedv1.WatchRequest{} },
	func() proto.Message { return &meshfedv1.PutDrainRequest{} },
	func() proto.Message { return &meshfedv1.DeleteDrainRequest{} },
	func() proto.Message { return &meshfedv1.PutDrillReportRequest{} },
	func() proto.Message { return &meshfedv1.GetDrillReportRequest{} },
	func() proto.Message { return &meshfedv1.ListDrillReportsRequest{} },
}

func FuzzDecodeAPI(f *testing.F) {
	ts := &timestamppb.Timestamp{Seconds: 1767225600, Nanos: 5}
	for _, m := range []proto.Message{
		&meshfedv1.PutClusterRequest{CreateOnly: true, Cluster: &meshfedv1.Cluster{
			Name: "eu-1", TrustDomain: "eu-1.example.org",
			Locality:         &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"},
			GatewayAddresses: []string{"10.0.0.1:15443", "gw.eu-1.example.org:15443"},
			Labels:           map[string]string{"env": "prod", "tier": ""},
			CreatedAt:        ts,
		}},
		&meshfedv1.PublishExportsRequest{Cluster: "eu-1", Withdrawals: []string{"demo/old"}, Upserts: []*meshfedv1.Export{{
			Cluster: "eu-1", Namespace: "demo", Name: "echo",
			Ports:     []*meshfedv1.ServicePort{{Name: "http", Port: 80, AppProtocol: "http"}, {Name: "dns", Port: 53, Protocol: "UDP"}},
			Endpoints: []*meshfedv1.ZoneEndpoints{{Zone: "eu-west-1a", Ready: 3}, {Ready: 1}},
			CreatedAt: ts, UpdatedAt: ts,
		}}},
		&meshfedv1.PutPolicyRequest{Policy: &meshfedv1.Policy{
			Namespace: "demo", Name: "echo", Kind: "failover",
			Document: []byte(`{"targets":[{"region":"eu-west-1"}]}`), UpdatedAt: ts,
		}},
		&meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{
			TrustDomain: "example.org", Jwks: []byte(`{"keys":[]}`), Sequence: 9, RefreshHintSeconds: -1, UpdatedAt: ts,
		}},
		&meshfedv1.WatchRequest{Cluster: "eu-1", ResumeVersion: 42},
		&meshfedv1.WatchRequest{ResumeVersion: -1},
		&meshfedv1.PutDrainRequest{Drain: &meshfedv1.Drain{Cluster: "east", Namespace: "demo", Name: "echo", PeriodSeconds: 600, StartedAt: ts}},
		&meshfedv1.PutDrainRequest{Drain: &meshfedv1.Drain{Cluster: "east", PeriodSeconds: -1}},
		&meshfedv1.DeleteDrainRequest{Cluster: "east", Namespace: "demo", Name: "echo"},
		&meshfedv1.PutDrillReportRequest{Report: &meshfedv1.DrillReport{Id: "20261122-211500-kill-east", Fault: "kill",
			Scope: "cluster=east", Verdict: "pass", StartedAt: ts, DurationMs: 93000, Report: []byte(`{"gates":[]}`)}},
		&meshfedv1.GetDrillReportRequest{Id: "20261122-211500-kill-east"},
		&meshfedv1.ListDrillReportsRequest{Limit: -1},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2]) // truncated
	}
	var raw []byte
	raw = protowire.AppendTag(raw, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, []byte("\xff\xfe")) // invalid UTF-8 in a string field
	f.Add(raw)
	raw = protowire.AppendTag(nil, 99, protowire.VarintType) // unknown field
	raw = protowire.AppendVarint(raw, 1)
	raw = protowire.AppendTag(raw, 2, protowire.Fixed64Type) // known field, wrong wire type
	raw = protowire.AppendFixed64(raw, 7)
	f.Add(raw)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}) // length past the end
	f.Add([]byte{0x00})                               // field number 0

	det := proto.MarshalOptions{Deterministic: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newMsg := range apiRequests {
			m := newMsg()
			if err := proto.Unmarshal(data, m); err != nil {
				continue
			}
			b, err := det.Marshal(m)
			if err != nil {
				t.Fatalf("%T decoded from %x does not marshal: %v", m, data, err)
			}
			if n := proto.Size(m); n != len(b) {
				t.Fatalf("%T: Size %d, marshaled %d bytes", m, n, len(b))
			}
			m2 := newMsg()
			if err := proto.Unmarshal(b, m2); err != nil {
				t.Fatalf("%T re-encoded as %x does not decode: %v", m, b, err)
			}
			if !proto.Equal(m, m2) {
				t.Fatalf("%T from %x:\n%v\nre-decodes as\n%v", m, data, m, m2)
			}
			if b2, err := det.Marshal(m2); err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("%T: deterministic encoding is not stable: %x, then %x (%v)", m, b, b2, err)
			}
		}
	})
}
