// Package failover runs the end-to-end failover scenarios of global load
// balancing on loopback: a control plane in this process, and three
// clusters in two regions and two providers whose gateways are real
// `meshfed gateway` processes, so a test can SIGKILL, SIGSTOP and SIGCONT
// them by PID.
//
//	c0   aws/us-east-1/us-east-1a        the caller: clients use its forward proxy
//	near aws/us-east-1/us-east-1b        exports echo.demo:8080 (same region as c0)
//	far  gcp/europe-west1/europe-west1-b exports echo.demo:8080 (other provider)
//
// Each exporter's backend runs in this process and answers with its
// cluster's name, so every response says who served it. While a scenario
// runs, an open-loop generator sends GETs through c0 at a fixed rate and
// records each one (send time, completion time, serving cluster or
// error), and c0's /debug/routes is polled for the routing table.
//
// Start builds the environment and Close tears it down; the scenario
// methods (Kill, StopCont, Drain, Policy) each inject one fault, return
// what was measured as a Result and leave the environment steady again.
// Nothing here depends on package testing: failover_test.go asserts the
// issue's targets, and test/bench/failover reports the same measurements
// in docs/benchmarks.md.
package failover
