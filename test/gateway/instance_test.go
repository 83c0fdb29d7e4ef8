package gateway

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestReplicasRegisterAsInstances runs two replicas of east's gateway
// (one name, one SVID, two instances): both are present, and stopping one
// leaves the other's presence.
func TestReplicasRegisterAsInstances(t *testing.T) {
	t.Parallel()
	f := gatewaytest.New(t, gatewaytest.ClusterSpec{Name: "east"})
	var gws []*gatewaytest.Gateway
	for _, in := range []string{"pod-a", "pod-b"} {
		cfg := f.Config("east")
		cfg.Instance = in
		cfg.DataDir = filepath.Join(t.TempDir(), in)
		gws = append(gws, gatewaytest.Start(t, cfg))
	}
	present := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := f.Admin.Admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: "east"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range resp.GetGateways() {
			names = append(names, schema.PresenceName(p.GetGateway(), p.GetInstance()))
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	gatewaytest.WaitFor(t, "both replicas present", func() bool { return present() == "gw.pod-a,gw.pod-b" })
	gws[0].Stop()
	// A stopped replica's presence goes with its lease (10 s) or sooner;
	// the other's stays.
	gatewaytest.WaitFor(t, "only pod-b present", func() bool { return present() == "gw.pod-b" })
}
