// Command propagation is the propagation benchmark behind docs/benchmarks.md
// (`make bench`).
//
// For each scenario (clusters x total exports) it starts `meshfed
// controlplane` as a child process on loopback with an embedded etcd,
// registers the clusters, opens one watching gateway per cluster (each on
// its own connection; see skim.go for why they skim the wire format by
// default), writes the exports in
// paced bursts through GatewayService.PublishExports, and measures, per
// export, the time from the acknowledged write to the moment the last
// watcher holds the import, plus the control-plane process's RSS before
// and after. It then repeats the same write pattern against a plain
// embedded etcd with raw clientv3 prefix watchers, so that every number
// has a baseline measured in the same run on the same machine.
//
// Usage:
//
//	go run ./test/bench/propagation -out docs/benchmarks.md
//	go run ./test/bench/propagation -scenarios 10x1000 -burst 50 -out /tmp/b.md
//
// Everything binds to 127.0.0.1. Child processes are killed by PID and
// temporary directories removed when the run ends, fails or gets SIGINT.
package main
