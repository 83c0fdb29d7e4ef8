// Package benchkit is the plumbing the benchmark programs under test/bench
// (propagation, gateway, failover) share: running a program under a
// signal-cancelled context, child processes killed by PID, readings from
// /proc (RSS, CPU time), Prometheus samples, the machine facts and the
// command line a report states, percentiles, and replacing one "## "
// section of docs/benchmarks.md.
//
// It holds only what is the same in every program that uses it; what a
// report says, and how it formats its numbers, stays with the program.
// Everything here reads Linux's /proc and binds to 127.0.0.1.
//
// A program's main is
//
//	func main() { benchkit.Main("gateway bench", run) }
//
// and its run parses flags with ParseFlags, starts children with
// StartChild (stopping each with Stop, also after an error), and ends with
// WriteSection (or, for the program that owns the whole file,
// os.WriteFile).
package benchkit
