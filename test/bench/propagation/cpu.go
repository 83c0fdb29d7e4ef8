package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuUse is CPU spent during the write-and-converge phase.
type cpuUse struct {
	wall   time.Duration
	server time.Duration // the control-plane process (meshfed only)
	bench  time.Duration // this process: watchers, writer (and etcd, in the baseline)
	// peak is the most CPUs both processes used together in any one-second
	// window (sampled every 250 ms; shorter windows when the phase is).
	peak float64
	// steal and iowait are machine-wide (all CPUs) from /proc/stat: time
	// the hypervisor gave to others, and idle time with disk I/O pending.
	steal, iowait time.Duration
}

// cpuMeter measures the CPU use of a control-plane process (pid; 0 for
// none) and of this process between start and stop. Call stop exactly
// when the phase ends; close (safe to defer) only ends the sampler.
type cpuMeter struct {
	pid           int
	wall0         time.Time
	server0       time.Duration
	bench0        time.Duration
	machine0      machineCPU
	quit, done    chan struct{}
	closeOnce     sync.Once
	peak          float64 // written by the sampler; read after done
	samplerFailed error   // likewise
}

const (
	cpuSampleEvery = 250 * time.Millisecond
	cpuWindow      = 4 // intervals: one second
)

func startCPUMeter(pid int) (*cpuMeter, error) {
	m := &cpuMeter{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	var err error
	if m.server0, err = m.serverCPU(); err != nil {
		return nil, err
	}
	if m.machine0, err = readMachineCPU(); err != nil {
		return nil, err
	}
	m.wall0, m.bench0 = time.Now(), selfCPU()
	go m.sample()
	return m, nil
}

func (m *cpuMeter) serverCPU() (time.Duration, error) {
	if m.pid == 0 {
		return 0, nil
	}
	return procCPU(m.pid)
}

func (m *cpuMeter) sample() {
	defer close(m.done)
	type point struct {
		at  time.Time
		cpu time.Duration
	}
	var ring []point
	tick := time.NewTicker(cpuSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-tick.C:
		}
		s, err := m.serverCPU()
		if err != nil {
			m.samplerFailed = err
			return
		}
		p := point{at: time.Now(), cpu: s + selfCPU()}
		ring = append(ring, p)
		if len(ring) > cpuWindow+1 {
			ring = ring[1:]
		}
		if old := ring[0]; len(ring) > 1 {
			m.peak = max(m.peak, (p.cpu-old.cpu).Seconds()/p.at.Sub(old.at).Seconds())
		}
	}
}

func (m *cpuMeter) close() {
	m.closeOnce.Do(func() { close(m.quit) })
	<-m.done
}

// stop ends the measurement and returns what was used.
func (m *cpuMeter) stop() (cpuUse, error) {
	server, err := m.serverCPU()
	u := cpuUse{wall: time.Since(m.wall0), server: server - m.server0, bench: selfCPU() - m.bench0}
	machine, err2 := readMachineCPU()
	u.steal, u.iowait = machine.steal-m.machine0.steal, machine.iowait-m.machine0.iowait
	m.close()
	u.peak = m.peak
	return u, errors.Join(err, err2, m.samplerFailed)
}

// machineCPU is the aggregate "cpu" line of /proc/stat.
type machineCPU struct{ iowait, steal time.Duration }

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// cpu user nice system idle iowait irq softirq steal ...
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	iowait, err1 := strconv.ParseInt(f[5], 10, 64)
	steal, err2 := strconv.ParseInt(f[8], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return machineCPU{}, fmt.Errorf("/proc/stat: %w", err)
	}
	return machineCPU{iowait: time.Duration(iowait) * time.Second / userHZ, steal: time.Duration(steal) * time.Second / userHZ}, nil
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
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// selfCPU returns the user+system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
