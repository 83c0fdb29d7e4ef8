// Command etcd is a standalone etcd server binary built from a pinned
// go.etcd.io/etcd/server/v3 version. It is used by test/etcdcluster to run
// real multi-member etcd clusters in tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
