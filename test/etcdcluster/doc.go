// Package etcdcluster runs real multi-member etcd clusters for tests.
//
// The etcd server is a standalone binary built from the pinned tools module in
// test/tools/etcd (go.etcd.io/etcd/server/v3 at [Version]) and cached under
// $MESHFED_CACHE_DIR (or os.UserCacheDir()/meshfed) in etcd-<version>/etcd, so
// only the first run pays the build cost (about two minutes on a 2-core
// machine). Setting MESHFED_ETCD_BIN to an etcd binary skips the build.
//
// [Start] launches each member as a separate child process listening only on
// 127.0.0.1, so tests can exercise leader failure and recovery with [Cluster.Kill]
// and [Cluster.Restart]. Every process is killed by PID in t.Cleanup; on test
// failure the tail of each member's log is printed.
//
// Methods of [Cluster] that take no testing.TB report failures through the
// testing.TB given to Start and must be called from the test's goroutine.
package etcdcluster
