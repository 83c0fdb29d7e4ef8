package main

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
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
	return []string{
		fmt.Sprintf("CPUs (nproc): %d (%s)", runtime.NumCPU(), cpuModel()),
		fmt.Sprintf("memory: %s", memTotal()),
		fmt.Sprintf("OS: %s/%s, kernel %s", runtime.GOOS, runtime.GOARCH, readTrim("/proc/sys/kernel/osrelease")),
		fmt.Sprintf("Go: %s (benchmark process), GOMAXPROCS %d; GOGC=%q GOMEMLIMIT=%q in the environment (empty: Go defaults)",
			runtime.Version(), runtime.GOMAXPROCS(0), os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT")),
		fmt.Sprintf("load average at the start (1, 5, 15 min): %s", loadAvg()),
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
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

func binaryFacts(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "build info unavailable"
	}
	vcs := ""
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
			vcs += " " + s.Key + "=" + s.Value
		}
	}
	if vcs == "" {
		vcs = " (no VCS stamp)"
	}
	return "built with " + info.GoVersion + vcs
}

// command is how this run was invoked, and whether that is `make bench`.
func (r *report) command() (string, bool) {
	args := strings.Join(os.Args[1:], " ")
	return strings.TrimSpace("go run ./test/bench/gateway " + args), args == "-out docs/benchmarks.md"
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

// writeSection replaces the "## Gateway data plane" section of the file
// at path (from its heading to the next "## " heading or the end) with
// section, keeping everything else; it appends the section when there is
// none, and creates the file when it does not exist.
func writeSection(path, section string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	doc := string(b)
	if doc == "" {
		doc = "# Benchmarks\n"
	}
	return os.WriteFile(path, []byte(replaceSection(doc, section)), 0o644)
}

// replaceSection is writeSection's text operation.
func replaceSection(doc, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	start := -1
	if strings.HasPrefix(doc, sectionHeading+"\n") {
		start = 0
	} else if i := strings.Index(doc, "\n"+sectionHeading+"\n"); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	rest := doc[start+len(sectionHeading):]
	end := len(doc)
	if i := strings.Index(rest, "\n## "); i >= 0 {
		end = start + len(sectionHeading) + i + 1
		section += "\n"
	}
	return doc[:start] + section + doc[end:]
}
