package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// Targets from the issue.
const (
	targetAddedP99 = 300 * time.Microsecond
	targetIdleRSS  = 30e6 // bytes (30 MB)
)

// sectionHeading starts the part of the report file this benchmark owns.
const sectionHeading = "## Gateway data plane"

// report is everything one run measured.
type report struct {
	started, finished time.Time
	source            string // sourceFacts, when this run built meshfed
	opts              options
	machine           []string
	fileLimit         uint64
	idleHeld          int // idle connections held (-idle-conns, or fewer when the file limit says so)
	backendPID        int
	meshfedTLS        string
	haproxy           *haproxyChain
	haproxySkipped    string
	paths             []path
	procs             []proc
	latency           map[string]*latencyResult
	tput              map[string][]closedLoopRun
	bulk              map[string][]bulkRun
	startRSS          map[string]int64 // before any traffic
	idleRSS           map[string]int64 // after the warm-up
	outside           map[string]outside
	goMem             map[string]map[string]goMem // by reading ("start", "warm", "loaded"), then process
	loadedRSS         map[string]int64
	loadedHWM         map[string]int64
	idle              map[string]idleRun
}

// machineFacts describes where the numbers come from.
func machineFacts() []string {
	return append(benchkit.MachineFacts(), fmt.Sprintf("load average at the start (1, 5, 15 min): %s", benchkit.LoadAvg()))
}

// sourceFacts names the commit the benchmark ran from and whether the
// working tree had changes, as git reports them ("" outside a checkout).
func sourceFacts() string {
	rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	out := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		out += fmt.Sprintf(" with uncommitted changes to %d files", len(strings.Split(strings.TrimSpace(string(st)), "\n")))
	}
	return out
}

// medianRate is the median req/s over the rounds of a path, with the
// slowest and fastest round.
func (r *report) medianRate(name string) (med, lo, hi float64) {
	var v []float64
	for _, run := range r.tput[name] {
		v = append(v, run.rate())
	}
	return median(v), minOf(v), maxOf(v)
}

func (r *report) medianMBps(name string) (med, lo, hi float64) {
	var v []float64
	for _, run := range r.bulk[name] {
		v = append(v, run.mbps())
	}
	return median(v), minOf(v), maxOf(v)
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
