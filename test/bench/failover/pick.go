package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// pickCommand runs the globallb Pick micro-benchmark.
const pickCommand = "go test -run '^$' -bench BenchmarkPick -benchmem ./globallb/"

// pickResult is the Pick benchmark's output, per number of targets.
type pickResult struct {
	cpu  string
	rows []pickRow
}

type pickRow struct {
	targets     int
	nsPerOp     float64
	bytesPerOp  int
	allocsPerOp int
	iterations  int
}

// pickLine matches "BenchmarkPick/targets=20-2  59653635  33.93 ns/op  0 B/op  0 allocs/op".
var pickLine = regexp.MustCompile(`^BenchmarkPick/targets=(\d+)\S*\s+(\d+)\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// pickBenchmark runs pickCommand from inside the module and parses it.
func pickBenchmark(ctx context.Context) (*pickResult, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkPick", "-benchmem", "github.com/meshfed/meshfed/globallb")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", pickCommand, err, out)
	}
	res := &pickResult{}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			res.cpu = strings.TrimSpace(v)
		}
		m := pickLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var row pickRow
		row.targets, _ = strconv.Atoi(m[1])
		row.iterations, _ = strconv.Atoi(m[2])
		row.nsPerOp, _ = strconv.ParseFloat(m[3], 64)
		row.bytesPerOp, _ = strconv.Atoi(m[4])
		row.allocsPerOp, _ = strconv.Atoi(m[5])
		res.rows = append(res.rows, row)
	}
	if len(res.rows) == 0 {
		return nil, fmt.Errorf("%s: no BenchmarkPick results in its output:\n%s", pickCommand, out)
	}
	return res, nil
}

// pickTable renders the Pick benchmark.
func (r *report) pickTable(p func(string, ...any)) {
	p("### globallb Pick")
	p("")
	p("`%s` (run by this benchmark; CPU: %s). Pick is what the gateway calls once per", pickCommand, r.pick.cpu)
	p("request or connection: a binary search over the immutable picker of a table of that many targets.")
	p("")
	p("| targets | ns/op | B/op | allocs/op | iterations | target: < %d ns, 0 allocs |", targetPickNs)
	p("| ---: | ---: | ---: | ---: | ---: | --- |")
	for _, row := range r.pick.rows {
		p("| %d | %.1f | %d | %d | %d | %s |", row.targets, row.nsPerOp, row.bytesPerOp, row.allocsPerOp, row.iterations,
			met(row.nsPerOp < targetPickNs && row.allocsPerOp == 0))
	}
	p("")
}
