//go:build unix && !linux

package up

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr makes a child a process group leader (foreground), or the
// leader of its own session that outlives this process (detached).
// Without Linux's parent-death signal, a foreground `meshfed up` that is
// killed with SIGKILL leaves its children running: `meshfed down` stops
// them.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

// procArgs returns the command line of a live process, from ps(1): its
// arguments split at spaces, so paths with spaces do not survive.
func procArgs(pid int) ([]string, bool) {
	out, err := exec.Command("ps", "-o", "stat=", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return nil, false
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || strings.HasPrefix(f[0], "Z") {
		return nil, false
	}
	return f[1:], true
}
