package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process this benchmark started. It is killed by its PID
// only, and dies with the benchmark (Pdeathsig).
type child struct {
	name   string
	cmd    *exec.Cmd
	pid    int
	stderr *tailBuffer
	exited chan struct{}
}

// startChild starts bin with args; stdout goes to stdout (nil: discarded).
// The caller must call stop, also after a later error.
func startChild(name, bin string, args []string, stdout io.Writer) (*child, error) {
	c := &child{name: name, stderr: &tailBuffer{max: 32 << 10}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stderr = c.stderr
	c.cmd.Stdout = stdout
	if stdout == nil {
		c.cmd.Stdout = io.Discard
	}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	c.pid = c.cmd.Process.Pid
	go func() { c.cmd.Wait(); close(c.exited) }()
	return c, nil
}

// stop kills the child by PID and waits for it (bounded); safe on nil
// and to repeat.
func (c *child) stop() {
	if c == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Kill() // this child only
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		logf("%s (pid %d) did not exit 10s after SIGKILL", c.name, c.pid)
	}
}

// alive returns an error, with the child's last stderr, if it exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s (pid %d) exited: %s", c.name, c.pid, c.stderr)
	default:
		return nil
	}
}

// waitFor polls cond every 50 ms until it returns nil, a child exits,
// ctx ends or limit passes; the error says which.
func waitFor(ctx context.Context, what string, limit time.Duration, children []*child, cond func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		for _, c := range children {
			if aerr := c.alive(); aerr != nil {
				return fmt.Errorf("waiting for %s: %w", what, aerr)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v: %w", what, limit, err)
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// procStatus returns VmRSS and VmHWM of pid in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: unexpected %q", pid, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS/VmHWM", pid)
	}
	return rss, hwm, nil
}

// statusKB reads one "NAME: N kB" line of /proc/PID/status, in bytes (0
// when absent).
func statusKB(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// userHZ is the unit of utime/stime in /proc/PID/stat; fixed at 100 in
// the Linux ABI on every architecture Go supports.
const userHZ = 100

// procCPU returns the user+system CPU time pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after "(comm)": state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// cpuOf sums the CPU time of pids (0 for a process that is gone).
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, p := range pids {
		d, _ := procCPU(p)
		sum += d
	}
	return sum
}

// selfCPU returns the user+system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// raiseFileLimit sets RLIMIT_NOFILE's soft limit (and, when allowed, its
// hard limit) to at least want, before any child starts: children
// inherit it. It returns the limit now in force.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Max < want {
		try := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try); err == nil {
			return want, nil
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) == 0 {
		return "(no stderr output)"
	}
	return "stderr:\n" + string(t.b)
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// machineCPU is the aggregate "cpu" line of /proc/stat: time the CPUs
// ran processes (user, nice, system; interrupt time is left out, as it is
// from a process's own times) and time stolen by the hypervisor.
type machineCPU struct{ busy, steal time.Duration }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return machineCPU{busy: tick(v[0] + v[1] + v[2]), steal: tick(v[7])}
}

// outside is the CPU the rest of the machine used during a phase: what
// no process of this benchmark used.
type outside struct {
	wall, others, steal time.Duration
}

// cpus is the average number of CPUs other work kept busy.
func (o outside) cpus() float64 {
	if o.wall <= 0 {
		return 0
	}
	return max(o.others.Seconds(), 0) / o.wall.Seconds()
}

// watchOutside starts measuring; call the result at the end of the phase.
// pids are the benchmark's children.
func watchOutside(pids []int) func() outside {
	w0, m0, ours0 := time.Now(), readMachineCPU(), cpuOf(pids)+selfCPU()
	return func() outside {
		m1, ours1 := readMachineCPU(), cpuOf(pids)+selfCPU()
		return outside{wall: time.Since(w0), others: (m1.busy - m0.busy) - (ours1 - ours0), steal: m1.steal - m0.steal}
	}
}
