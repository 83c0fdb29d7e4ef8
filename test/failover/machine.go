package failover

import (
	"os"
	"strings"
)

// LoadAvg is the machine's 1, 5 and 15 minute load averages: timing
// results only mean something next to how busy the machine was.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
