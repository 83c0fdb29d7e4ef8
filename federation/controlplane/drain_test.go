package controlplane_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestDrainsReachAGatewaysState walks a drain through the real control
// plane:
//
//  1. a gateway of cluster a follows the watch into a client.State;
//  2. it may not drain anything itself (admin only);
//  3. bad drains are refused naming the bad value; a drain of a cluster
//     that does not exist is a failed precondition;
//  4. the admin drains cluster b and service demo/echo of a: both reach
//     the gateway's state with the server's started_at;
//  5. the admin lists and undrains; removing cluster b removes its drain.
func TestDrainsReachAGatewaysState(t *testing.T) {
	t.Parallel()
	r := startReplica(t, controlplane.Config{DataDir: t.TempDir()})
	admin := dial(t, r.cfg)
	caA := federate(t, admin, "a")
	federate(t, admin, "b")
	gw := gatewayConn(t, r, caA, gwID(t, "a.test", "a", "gw"))
	waitFor(t, "gateway a authenticates", func() bool {
		_, err := gw.Gateway.Heartbeat(ctx(t), &meshfedv1.HeartbeatRequest{Cluster: "a", Gateway: "gw"})
		return status.Code(err) == codes.NotFound // authenticated, not registered
	})

	// 1.
	state := client.NewState()
	var mu sync.Mutex
	watchCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- client.Follow(watchCtx, client.FollowConfig{Cluster: "a", Clients: []meshfedv1.GatewayServiceClient{gw.Gateway},
			State: state, Lock: &mu, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	}()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow: %v", err)
		}
	}()
	drains := func() map[string]*meshfedv1.Drain {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]*meshfedv1.Drain, len(state.Drains))
		for k, d := range state.Drains {
			out[k] = d
		}
		return out
	}

	// 2.
	_, err := gw.Admin.PutDrain(ctx(t), &meshfedv1.PutDrainRequest{Drain: &meshfedv1.Drain{Cluster: "a"}})
	wantCode(t, err, codes.PermissionDenied, "admin only")

	// 3.
	for _, tt := range []struct {
		d    *meshfedv1.Drain
		code codes.Code
		want string
	}{
		{&meshfedv1.Drain{Cluster: "A"}, codes.InvalidArgument, `cluster "A" is not a valid DNS-1123 label`},
		{&meshfedv1.Drain{Cluster: "a", Name: "echo"}, codes.InvalidArgument, `namespace "" is empty but name is set`},
		{&meshfedv1.Drain{Cluster: "a", PeriodSeconds: 604801}, codes.InvalidArgument, `period_seconds "604801" is outside 0-604800`},
		{&meshfedv1.Drain{Cluster: "ghost"}, codes.FailedPrecondition, `drain of cluster "ghost": store: cluster is not registered`},
	} {
		_, err := admin.Admin.PutDrain(ctx(t), &meshfedv1.PutDrainRequest{Drain: tt.d})
		wantCode(t, err, tt.code, tt.want)
	}
	_, err = admin.Admin.DeleteDrain(ctx(t), &meshfedv1.DeleteDrainRequest{Cluster: "a"})
	wantCode(t, err, codes.NotFound, `drain of cluster "a"`)

	// 4.
	before := time.Now()
	whole, err := admin.Admin.PutDrain(ctx(t), &meshfedv1.PutDrainRequest{Drain: &meshfedv1.Drain{Cluster: "b", PeriodSeconds: 30}})
	if err != nil {
		t.Fatal(err)
	}
	if at := whole.GetDrain().GetStartedAt().AsTime(); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("started_at %v is not the server's now", at)
	}
	if _, err := admin.Admin.PutDrain(ctx(t), &meshfedv1.PutDrainRequest{Drain: &meshfedv1.Drain{Cluster: "a", Namespace: "demo", Name: "echo"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both drains in the gateway's state", func() bool {
		d := drains()
		return len(d) == 2 && d["b//"].GetPeriodSeconds() == 30 && d["b//"].GetStartedAt().AsTime().Equal(whole.GetDrain().GetStartedAt().AsTime()) &&
			d["a/demo/echo"].GetName() == "echo"
	})

	// 5.
	list, err := admin.Admin.ListDrains(ctx(t), &meshfedv1.ListDrainsRequest{})
	if err != nil || len(list.GetDrains()) != 2 || list.GetDrains()[0].GetCluster() != "a" {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := admin.Admin.DeleteDrain(ctx(t), &meshfedv1.DeleteDrainRequest{Cluster: "a", Namespace: "demo", Name: "echo"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the undrained service to leave the gateway's state", func() bool {
		d := drains()
		return len(d) == 1 && d["a/demo/echo"] == nil
	})
	if _, err := admin.Admin.DeleteCluster(ctx(t), &meshfedv1.DeleteClusterRequest{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cluster b's drain to go with it", func() bool { return len(drains()) == 0 })
}
