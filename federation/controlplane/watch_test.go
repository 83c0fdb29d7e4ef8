package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// TestWatchAcrossRestartAndCompaction checks that what a watcher sees is
// ordered, gap-free and duplicate-free while the control plane restarts
// and etcd compacts its history:
//
//  1. a watcher follows a replica that compacts etcd aggressively;
//  2. exports are written and the watcher converges;
//  3. the replica restarts on the same data, exports are written and
//     withdrawn while the watcher is reconnecting;
//  4. the watcher resumes (a full snapshot is allowed) and converges to
//     exactly the exports in etcd, never applying anything out of order.
func TestWatchAcrossRestartAndCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := controlplane.Config{DataDir: dir, Listen: addr, Retain: 3, CompactEvery: 50 * time.Millisecond}
	r := startReplica(t, cfg)
	admin := dial(t, r.cfg) // reconnects to the same address after the restart
	if _, err := admin.Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("eu-1")}); err != nil {
		t.Fatal(err)
	}

	state := client.NewState()
	var mu sync.Mutex
	watchCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- client.Follow(watchCtx, client.FollowConfig{Cluster: "eu-1", Clients: []meshfedv1.GatewayServiceClient{admin.Gateway},
			State: state, Lock: &mu, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	}()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow: %v", err)
		}
	}()

	publish := func(c *client.Conn, from, to int, withdraw bool) {
		t.Helper()
		req := &meshfedv1.PublishExportsRequest{Cluster: "eu-1"}
		for i := from; i < to; i++ {
			if withdraw {
				req.Withdrawals = append(req.Withdrawals, fmt.Sprintf("demo/svc-%d", i))
			} else {
				e := echoExport()
				e.Name = fmt.Sprintf("svc-%d", i)
				req.Upserts = append(req.Upserts, e)
			}
		}
		resp, err := c.Gateway.PublishExports(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range resp.GetResults() {
			if !res.GetOk() {
				t.Fatalf("publish: %v", res)
			}
		}
	}
	converge := func(want map[string]bool) {
		t.Helper()
		waitFor(t, fmt.Sprintf("watcher to hold exactly %d imports", len(want)), func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(state.Imports) != len(want) {
				return false
			}
			for k := range want {
				if state.Imports[k] == nil {
					return false
				}
			}
			return true
		})
	}
	want := func(from, to int) map[string]bool {
		m := map[string]bool{}
		for i := from; i < to; i++ {
			m[fmt.Sprintf("demo/svc-%d", i)] = true
		}
		return m
	}

	// 2.
	publish(admin, 0, 20, false)
	converge(want(0, 20))
	// 3. Restart the replica, then change things while the compactor
	// keeps only 3 revisions of history.
	r.stop()
	r2 := startReplica(t, cfg)
	admin2 := dial(t, r2.cfg)
	publish(admin2, 20, 30, false)
	publish(admin2, 0, 10, true)
	// 4.
	converge(want(10, 30))
	mu.Lock()
	t.Logf("watcher at version %d after %d snapshot(s)", state.Version, state.Snapshots)
	mu.Unlock()
}
