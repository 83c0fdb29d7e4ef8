//go:build !linux

package kubetest

import "os/exec"

// setParentDeathSignal is a no-op outside Linux.
func setParentDeathSignal(*exec.Cmd) {}
