//go:build !linux

package etcdcluster

import "os/exec"

// setParentDeathSignal is a no-op outside Linux.
func setParentDeathSignal(*exec.Cmd) {}
