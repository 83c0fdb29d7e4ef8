//go:build !linux

package kubetest

import "os/exec"

// lockFile is a no-op outside Linux: concurrent builds may duplicate work but
// the atomic rename still keeps the cached binary intact.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }

// setParentDeathSignal is a no-op outside Linux.
func setParentDeathSignal(*exec.Cmd) {}
