package api_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/api"
	"github.com/meshfed/meshfed/federation/auth"
	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("got %v, want code %v with a message containing %q", err, code, contains)
	}
}

var drillEpoch = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)

func drill(id string, minute int) *meshfedv1.DrillReport {
	return &meshfedv1.DrillReport{Id: id, Fault: "blackhole", Scope: "cluster=east,service=echo.demo", Verdict: "fail",
		StartedAt: timestamppb.New(drillEpoch.Add(time.Duration(minute) * time.Minute)), DurationMs: 61_000,
		Report: []byte(`{"gates":[{"name":"errors","passed":false}]}`)}
}

// gatewayOf registers cluster east with its own CA and returns a
// connection authenticated as east's gateway gw.
func gatewayOf(t *testing.T, srv *controlplanetest.Server, admin *client.Conn) *client.Conn {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("east.test")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{Name: "east", TrustDomain: td.Name(),
		Locality: &meshfedv1.Locality{Provider: "aws", Region: "us-east-1"}}}); err != nil {
		t.Fatal(err)
	}
	jwks, err := ca.SPIFFEBundle(1, 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Admin.PutBundle(ctx(t), &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}}); err != nil {
		t.Fatal(err)
	}
	id, err := auth.GatewayID(td, "east", "gw")
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueSVID(id, time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serverID := spiffeid.RequireFromString(srv.Config.ServerID)
	cpBundle, err := x509bundle.Load(serverID.TrustDomain(), srv.Config.CA)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := client.DialTLS(srv.CP.Addr(), tlsconfig.MTLSClientConfig(svid, cpBundle, tlsconfig.AuthorizeID(serverID)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	// The control plane learns the cluster and bundle through its view.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := gw.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "east", Gateway: "gw"})
		if status.Code(err) == codes.NotFound { // authenticated, not registered
			return gw
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway east/gw not authenticated: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDrillReports walks the drill report RPCs through a real control
// plane:
//
//  1. an admin stores a report (with a 1 MiB document) and reads it back;
//  2. the same id again is AlreadyExists; bad reports and ids are
//     InvalidArgument naming the value; a missing id is NotFound;
//  3. lists are newest first, without documents; limit 0 means 100,
//     above 1000 means 1000, negative is refused;
//  4. a gateway may not call any of them.
func TestDrillReports(t *testing.T) {
	t.Parallel()
	srv := controlplanetest.Start(t, controlplane.Config{})
	admin := srv.Dial(t)

	// 1.
	first := drill("20261122-210000-blackhole-east", 0)
	pad := bytes.Repeat([]byte("x"), 1<<20-len(`{"pad":""}`))
	first.Report = append(append([]byte(`{"pad":"`), pad...), `"}`...)
	put, err := admin.Admin.PutDrillReport(ctx(t), &meshfedv1.PutDrillReportRequest{Report: first})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(put.GetReport(), first) {
		t.Fatal("put returned another report than it was given")
	}
	got, err := admin.Admin.GetDrillReport(ctx(t), &meshfedv1.GetDrillReportRequest{Id: first.GetId()})
	if err != nil || !proto.Equal(got.GetReport(), first) {
		t.Fatalf("get: %v; want the report put", err)
	}

	// 2.
	_, err = admin.Admin.PutDrillReport(ctx(t), &meshfedv1.PutDrillReportRequest{Report: drill(first.GetId(), 5)})
	wantCode(t, err, codes.AlreadyExists, `drill report "20261122-210000-blackhole-east"`)
	for _, tt := range []struct {
		r    *meshfedv1.DrillReport
		want string
	}{
		{nil, `drill report "" is missing`},
		{&meshfedv1.DrillReport{Id: "Bad_ID"}, `id "Bad_ID" is not a valid DNS-1123 label`},
		{func() *meshfedv1.DrillReport { r := drill("x", 0); r.Fault = "flood"; return r }(), `fault "flood" is not a drill fault`},
		{func() *meshfedv1.DrillReport { r := drill("x", 0); r.Verdict = "ok"; return r }(), `verdict "ok"`},
		{func() *meshfedv1.DrillReport { r := drill("x", 0); r.Report = []byte("[]"); return r }(), `report "[]" is not a JSON object`},
		{func() *meshfedv1.DrillReport { r := drill("x", 0); r.Report = append(first.Report, ' '); return r }(), `report "1048577 bytes" is larger than`},
	} {
		_, err := admin.Admin.PutDrillReport(ctx(t), &meshfedv1.PutDrillReportRequest{Report: tt.r})
		wantCode(t, err, codes.InvalidArgument, tt.want)
	}
	_, err = admin.Admin.GetDrillReport(ctx(t), &meshfedv1.GetDrillReportRequest{Id: "a/b"})
	wantCode(t, err, codes.InvalidArgument, `id "a/b"`)
	_, err = admin.Admin.GetDrillReport(ctx(t), &meshfedv1.GetDrillReportRequest{Id: "nope"})
	wantCode(t, err, codes.NotFound, `drill report "nope"`)

	// 3.
	for i := 1; i <= api.DefaultDrillReportLimit; i++ {
		if _, err := admin.Admin.PutDrillReport(ctx(t), &meshfedv1.PutDrillReportRequest{Report: drill(fmt.Sprintf("r-%03d", i), i)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(limit int32) []*meshfedv1.DrillReport {
		t.Helper()
		resp, err := admin.Admin.ListDrillReports(ctx(t), &meshfedv1.ListDrillReportsRequest{Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetReports()
	}
	if rs := list(0); len(rs) != api.DefaultDrillReportLimit || rs[0].GetId() != "r-100" || rs[99].GetId() != "r-001" {
		t.Fatalf("list limit 0: %d reports from %q to %q; want the newest 100", len(rs), rs[0].GetId(), rs[len(rs)-1].GetId())
	}
	rs := list(5000)
	if len(rs) != 101 || rs[100].GetId() != first.GetId() {
		t.Fatalf("list limit 5000: %d reports ending %q; want all 101", len(rs), rs[len(rs)-1].GetId())
	}
	for _, r := range rs {
		if r.GetReport() != nil || r.GetVerdict() == "" || r.GetStartedAt() == nil {
			t.Fatalf("summary %v: want every field but report", r)
		}
	}
	if rs := list(1); len(rs) != 1 || rs[0].GetId() != "r-100" {
		t.Fatalf("list limit 1: %v", rs)
	}
	_, err = admin.Admin.ListDrillReports(ctx(t), &meshfedv1.ListDrillReportsRequest{Limit: -1})
	wantCode(t, err, codes.InvalidArgument, "limit -1 is negative")

	// 4.
	gw := gatewayOf(t, srv, admin)
	_, err = gw.Admin.PutDrillReport(ctx(t), &meshfedv1.PutDrillReportRequest{Report: drill("from-gateway", 0)})
	wantCode(t, err, codes.PermissionDenied, "admin only")
	_, err = gw.Admin.GetDrillReport(ctx(t), &meshfedv1.GetDrillReportRequest{Id: first.GetId()})
	wantCode(t, err, codes.PermissionDenied, "admin only")
	_, err = gw.Admin.ListDrillReports(ctx(t), &meshfedv1.ListDrillReportsRequest{})
	wantCode(t, err, codes.PermissionDenied, "admin only")
}
