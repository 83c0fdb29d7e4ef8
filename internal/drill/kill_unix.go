//go:build unix

package drill

import "syscall"

// killSupported: a drill can kill and restart gateways on this system.
const killSupported = true

func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// detachedAttr puts a restarted gateway in its own session, so a Ctrl-C
// at the drill's terminal does not reach it.
func detachedAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
