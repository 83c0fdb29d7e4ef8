// Command failover measures failover and failback times of global load
// balancing for the "Failover and failback" section of
// docs/benchmarks.md (`make bench`).
//
// It runs the end-to-end scenarios of package test/failover (three
// clusters on loopback, gateways as `meshfed gateway` processes, an
// open-loop generator sending GETs through the caller's forward proxy)
// for several rounds: SIGKILL the nearest exporting gateway and restart
// it; SIGSTOP it (a silent blackhole) and SIGCONT it. It reports, per
// scenario, how long traffic took to leave the failed cluster and to
// come back, and how many requests failed. It also runs the globallb
// Pick micro-benchmark (`go test -bench BenchmarkPick ./globallb/`).
//
// Usage:
//
//	go run ./test/bench/failover -out docs/benchmarks.md
//	go run ./test/bench/failover -rounds 1 -out /tmp/b.md
//
// Only the "## Failover and failback" section of -out is replaced (or
// appended). Child processes are killed by PID (and die with the
// benchmark through Pdeathsig) and temporary directories removed when the
// run ends, fails or gets SIGINT.
package main
