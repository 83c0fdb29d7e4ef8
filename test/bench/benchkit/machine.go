package benchkit

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// The facts below are the lines a report lists under its command: where
// its numbers come from. Each reads /proc and says "unknown" rather than
// fail.

// MachineFacts is CPUsFact, MemoryFact, OSFact and GoFact.
func MachineFacts() []string {
	return []string{CPUsFact(), MemoryFact(), OSFact(), GoFact()}
}

// CPUsFact is "CPUs (nproc): N (model)".
func CPUsFact() string {
	return fmt.Sprintf("CPUs (nproc): %d (%s)", runtime.NumCPU(), cpuModel())
}

// MemoryFact is "memory: N GiB" (MemTotal).
func MemoryFact() string { return fmt.Sprintf("memory: %s", memTotal()) }

// OSFact is "OS: GOOS/GOARCH, kernel RELEASE".
func OSFact() string {
	return fmt.Sprintf("OS: %s/%s, kernel %s", runtime.GOOS, runtime.GOARCH, readTrim("/proc/sys/kernel/osrelease"))
}

// GoFact names the Go release, GOMAXPROCS and the GOGC and GOMEMLIMIT
// settings of the benchmark process.
func GoFact() string {
	return fmt.Sprintf("Go: %s (benchmark process), GOMAXPROCS %d; GOGC=%q GOMEMLIMIT=%q in the environment (empty: Go defaults)",
		runtime.Version(), runtime.GOMAXPROCS(0), os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
}

// LoadAvg is the 1, 5 and 15 minute load average ("0.52, 0.40, 0.31").
func LoadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// NoBuildInfo is what BinaryFacts says of a binary without Go build info.
const NoBuildInfo = "build info unavailable"

// BinaryFacts says which Go release built bin and from which VCS
// revision ("built with go1.26.8 vcs.revision=... vcs.modified=false").
func BinaryFacts(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return NoBuildInfo
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

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
