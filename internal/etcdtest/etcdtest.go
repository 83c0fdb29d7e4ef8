// Package etcdtest starts a real embedded etcd for tests, the way
// net/http/httptest starts a real HTTP server.
package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/meshfed/meshfed/federation/embedetcd"
)

// Etcd is an embedded etcd started for one test.
type Etcd struct {
	Server *embedetcd.Server
	Dir    string
}

// Start starts an embedded etcd in a temporary directory; it is closed
// when the test ends.
func Start(t testing.TB) *Etcd {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn starts an embedded etcd keeping its data in dir, so a test can
// stop it and start it again on the same data.
func StartIn(t testing.TB, dir string) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(s.Close)
	return &Etcd{Server: s, Dir: dir}
}

// Client returns a client of e, closed when the test ends.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return Client(t, e.Server.Endpoints())
}

// Client returns a client of the given endpoints, closed when the test ends.
func Client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// IgnoreGoroutines lists goroutines that etcd's client and embedded server
// leave running briefly after Close; pass them to goleak.
func IgnoreGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"),
	}
}
