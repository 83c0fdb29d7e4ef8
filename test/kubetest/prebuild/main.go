// Command prebuild builds and caches the test binaries that take long to
// build (kube-apiserver, etcd, helm), so that `make test` never spends a test
// timeout on a cold build. It prints where each binary is.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/meshfed/meshfed/test/etcdcluster"
	"github.com/meshfed/meshfed/test/helmtest"
	"github.com/meshfed/meshfed/test/kubetest"
)

func main() {
	for _, b := range []struct {
		name string
		path func() (string, error)
	}{
		{"etcd", etcdcluster.BinaryPath},
		{"kube-apiserver " + kubetest.Version, kubetest.BinaryPath},
		{"helm " + helmtest.Version, helmtest.BinaryPath},
	} {
		start := time.Now()
		fmt.Fprintf(os.Stderr, "prebuild: %s (cached after the first build; a cold kube-apiserver build takes 10-25 min)\n", b.name)
		p, err := b.path()
		if err != nil {
			fmt.Fprintf(os.Stderr, "prebuild: %s: %v\n", b.name, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "prebuild: %s ready at %s (%s)\n", b.name, p, time.Since(start).Round(time.Second))
	}
}
