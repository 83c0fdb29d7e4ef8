// Command gateway is the east-west gateway data-plane benchmark behind the
// "Gateway data plane" section of docs/benchmarks.md (`make bench`).
//
// It builds cmd/meshfed and cmd/meshfed-gateway, starts `meshfed
// controlplane`, registers clusters a and b (each with its own dev CA),
// and runs gateway A (serving the backend's services) and gateway B (where
// clients connect: its forward proxy and per-service TCP listeners) as
// `meshfed-gateway` processes (-gateway-bin picks another binary). The
// backend is this binary re-executed with -backend. Unless -skip-haproxy,
// it builds the same two-hop mTLS chain with HAProxy (installing it with
// apt-get when it is missing and the benchmark runs as root), with the
// same certificates and one thread per HAProxy process.
//
// Measured side by side, in interleaved rounds, over every path (direct,
// meshfed via B's TCP listener, meshfed via B's forward proxy, HAProxy in
// mode tcp, HAProxy in mode http):
//
//   - latency at a fixed request rate (open loop, from the scheduled send
//     time), 1 KiB responses over HTTP/1.1 keep-alive;
//   - max req/s with a fixed number of connections (closed loop);
//   - single-stream bulk TCP MB/s (L4 paths);
//   - RSS of each proxy process idle, and holding 10k idle connections.
//
// Usage:
//
//	go run ./test/bench/gateway -out docs/benchmarks.md
//	go run ./test/bench/gateway -rounds 1 -duration 2s -idle-conns 1000 -out /tmp/b.md
//
// Only the "## Gateway data plane" section of -out is replaced. Everything
// binds to 127.0.0.1. Child processes are killed by PID (and die with the
// benchmark through Pdeathsig) and temporary directories removed when the
// run ends, fails or gets SIGINT. `go test` runs only unit tests of the
// statistics and report code, never the benchmark.
package main
