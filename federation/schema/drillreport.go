package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Limits of a drill report.
const (
	// MaxDrillReportBytes caps the JSON document of a report (1 MiB), so
	// a report fits in one etcd request (1.5 MiB by default).
	MaxDrillReportBytes = 1 << 20
	// MaxDrillScopeLen caps a report's scope.
	MaxDrillScopeLen = 256
)

// Drill faults: what a drill breaks.
const (
	DrillFaultDrain       = "drain"
	DrillFaultKill        = "kill"
	DrillFaultBlackhole   = "blackhole"
	DrillFaultLatency     = "latency"
	DrillFaultTrustExpiry = "trust-expiry"
)

// DrillFaults lists every fault a report may name, in the order messages
// show them.
var DrillFaults = []string{DrillFaultDrain, DrillFaultKill, DrillFaultBlackhole, DrillFaultLatency, DrillFaultTrustExpiry}

// Drill verdicts.
const (
	DrillPass = "pass"
	DrillFail = "fail"
)

// ValidateDrillReportID checks a report's id: a DNS-1123 label (1-63
// lowercase letters, digits or '-', starting and ending with a letter or
// digit), so it is one etcd key segment and never looks like a flag.
func ValidateDrillReportID(id string) error {
	return ValidateName("drill report", "id", id)
}

// ValidateDrillReport checks a report as the runner sends it: id (see
// ValidateDrillReportID); fault one of DrillFaults; scope at most
// MaxDrillScopeLen bytes of printable ASCII (may be empty); verdict
// DrillPass or DrillFail; started_at set and valid; duration_ms not
// negative; report a JSON object of at most MaxDrillReportBytes.
func ValidateDrillReport(r *meshfedv1.DrillReport) error {
	if r == nil {
		return fieldErr("", "drill report", "", "is missing")
	}
	if err := ValidateDrillReportID(r.GetId()); err != nil {
		return err
	}
	obj := DescribeDrillReport(r.GetId())
	if !slices.Contains(DrillFaults, r.GetFault()) {
		return fieldErr(obj, "fault", r.GetFault(), "is not a drill fault (one of "+strings.Join(DrillFaults, ", ")+")")
	}
	if s := r.GetScope(); len(s) > MaxDrillScopeLen {
		return fieldErr(obj, "scope", s, fmt.Sprintf("is longer than %d bytes", MaxDrillScopeLen))
	} else if !printableASCII(s) {
		return fieldErr(obj, "scope", s, `has a byte that is not printable ASCII (use letters, digits and punctuation, e.g. "cluster=east,service=echo.demo")`)
	}
	if v := r.GetVerdict(); v != DrillPass && v != DrillFail {
		return fieldErr(obj, "verdict", v, fmt.Sprintf("is neither %q nor %q", DrillPass, DrillFail))
	}
	if r.GetStartedAt() == nil {
		return fieldErr(obj, "started_at", "", "is missing (when the drill started)")
	}
	if err := r.GetStartedAt().CheckValid(); err != nil {
		return fieldErr(obj, "started_at", r.GetStartedAt().String(), "is not a valid time (years 1-9999)")
	}
	if d := r.GetDurationMs(); d < 0 {
		return fieldErr(obj, "duration_ms", strconv.FormatInt(d, 10), "is negative")
	}
	doc := r.GetReport()
	if len(doc) > MaxDrillReportBytes {
		return fieldErr(obj, "report", strconv.Itoa(len(doc))+" bytes", fmt.Sprintf("is larger than %d bytes (1 MiB)", MaxDrillReportBytes))
	}
	if trimmed := bytes.TrimLeft(doc, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(doc) {
		return fieldErr(obj, "report", string(doc), "is not a JSON object (the full report document, {...})")
	}
	return nil
}

// DescribeDrillReport names a report for messages: `drill report "ID"`.
func DescribeDrillReport(id string) string {
	return fmt.Sprintf("drill report %q", id)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
