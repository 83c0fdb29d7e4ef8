package main

import (
	"errors"
	"sync"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
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
	machine0      benchkit.MachineCPU
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
	if m.machine0, err = benchkit.ReadMachineCPU(); err != nil {
		return nil, err
	}
	m.wall0, m.bench0 = time.Now(), benchkit.SelfCPU()
	go m.sample()
	return m, nil
}

func (m *cpuMeter) serverCPU() (time.Duration, error) {
	if m.pid == 0 {
		return 0, nil
	}
	return benchkit.ProcCPU(m.pid)
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
		p := point{at: time.Now(), cpu: s + benchkit.SelfCPU()}
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
	u := cpuUse{wall: time.Since(m.wall0), server: server - m.server0, bench: benchkit.SelfCPU() - m.bench0}
	machine, err2 := benchkit.ReadMachineCPU()
	u.steal, u.iowait = machine.Steal-m.machine0.Steal, machine.IOWait-m.machine0.IOWait
	m.close()
	u.peak = m.peak
	return u, errors.Join(err, err2, m.samplerFailed)
}
