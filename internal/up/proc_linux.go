package up

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// sysProcAttr makes a child a process group leader that dies with this
// process (foreground), or the leader of its own session that outlives it
// (detached). Either way a Ctrl-C at the terminal reaches only `meshfed
// up`, which then stops the children in order.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// procArgs returns the command line of a live process; a process that
// does not exist, or a zombie, has none.
func procArgs(pid int) ([]string, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	// The state follows the command name, which is in parentheses and
	// may itself hold ") ".
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return nil, false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return nil, false
	}
	return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00"), true
}
