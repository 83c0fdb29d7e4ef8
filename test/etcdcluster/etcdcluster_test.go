package etcdcluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/meshfed/meshfed/test/etcdcluster"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// eventually calls f until it succeeds or timeout elapses.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not satisfied after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLeaderFailover(t *testing.T) {
	start := time.Now()
	c := etcdcluster.Start(t, 3)
	t.Logf("3-member cluster healthy after %v", time.Since(start))
	cli := c.Client(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "before", "v1"); err != nil {
		t.Fatalf("put before failover: %v", err)
	}
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	c.Kill(old)
	var leader int
	eventually(t, 30*time.Second, "new leader", func(ctx context.Context) (err error) {
		leader, err = c.Leader(ctx)
		return err
	})
	if leader == old {
		t.Fatalf("killed member %d is still leader", old)
	}
	t.Logf("member %d took over from %d after %v", leader, old, time.Since(killed))

	eventually(t, 30*time.Second, "read after failover", func(ctx context.Context) error {
		resp, err := cli.Get(ctx, "before")
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
			return fmt.Errorf("got %v, want before=v1", resp.Kvs)
		}
		return nil
	})
	eventually(t, 30*time.Second, "write after failover", func(ctx context.Context) error {
		_, err := cli.Put(ctx, "after", "v2")
		return err
	})

	c.Restart(old)
	// The restarted member must catch up: a serializable read served locally by
	// it alone sees the write made while it was down.
	only, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints()[old : old+1], Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	eventually(t, 30*time.Second, "restarted member catches up", func(ctx context.Context) error {
		resp, err := only.Get(ctx, "after", clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v2" {
			return fmt.Errorf("got %v, want after=v2", resp.Kvs)
		}
		return nil
	})
}
