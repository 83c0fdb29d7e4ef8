package tfmodules_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/internal/etcdtest"
)

// TestMain removes the provider built for the tests and checks that no
// goroutine (of the in-process control plane) outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	if providerBuild.dir != "" {
		_ = os.RemoveAll(providerBuild.dir)
	}
	if code == 0 {
		if err := goleak.Find(etcdtest.IgnoreGoroutines()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
