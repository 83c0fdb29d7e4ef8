package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// childStderr is how much of a child's stderr its errors quote.
const childStderr = 32 << 10

// waitFor polls cond every 50 ms until it returns nil, a child exits,
// ctx ends or limit passes; the error says which.
func waitFor(ctx context.Context, what string, limit time.Duration, children []*benchkit.Child, cond func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		for _, c := range children {
			if aerr := c.Alive(); aerr != nil {
				return fmt.Errorf("waiting for %s: %w", what, aerr)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v: %w", what, limit, err)
		}
		if err := benchkit.Pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
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
	// A /proc/stat that cannot be read counts as no CPU used.
	w0, ours0 := time.Now(), benchkit.CPUOf(pids)+benchkit.SelfCPU()
	m0, _ := benchkit.ReadMachineCPU()
	return func() outside {
		ours1 := benchkit.CPUOf(pids) + benchkit.SelfCPU()
		m1, _ := benchkit.ReadMachineCPU()
		return outside{wall: time.Since(w0), others: (m1.Busy - m0.Busy) - (ours1 - ours0), steal: m1.Steal - m0.Steal}
	}
}
