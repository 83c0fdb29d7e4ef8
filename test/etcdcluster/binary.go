package etcdcluster

import (
	"fmt"
	"testing"

	"github.com/meshfed/meshfed/internal/toolbin"
)

// Version is the etcd server version built from test/tools/etcd. It must match
// the go.etcd.io/etcd/server/v3 requirement in that module's go.mod.
const Version = "v3.7.3"

// Binary returns the path of the etcd server binary, building and caching it on
// first use. It fails the test if the binary cannot be provided.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// tool is the etcd server built from test/tools/etcd.
var tool = toolbin.Tool{
	Name:        "etcd",
	Version:     Version,
	Module:      "test/tools/etcd",
	Require:     "go.etcd.io/etcd/server/v3 " + Version,
	EnvOverride: "MESHFED_ETCD_BIN",
}

// BinaryPath returns the path of the etcd server binary: $MESHFED_ETCD_BIN if
// set, otherwise etcd-<Version>/etcd in the cache directory, which is built from
// the tools module when missing. Concurrent callers in different processes are
// serialised by a lock file and the binary is renamed into place atomically.
func BinaryPath() (string, error) {
	p, err := tool.Path()
	if err != nil {
		return "", fmt.Errorf("etcdcluster: %w", err)
	}
	return p, nil
}
