// Package tunnel measures how an east-west gateway should carry the name of
// the requested service to the peer gateway. Both ends are meshfed
// gateways with SPIFFE X.509-SVIDs (from internal/devca, two trust domains
// that trust each other) and go-spiffe mTLS, TLS 1.3 only. The candidates:
//
//   - sni-full: one TLS connection per tunnelled stream, the service in the
//     SNI ("8080.echo.demo.svc.clusterset.local"), a full handshake each
//     time (no session tickets).
//   - sni-resumed: the same with TLS 1.3 session resumption (a client
//     tls.ClientSessionCache, the server's default tickets).
//   - h2-connect: one pooled mTLS HTTP/2 connection per peer; each stream
//     is an HTTP/2 CONNECT request whose :authority names the service
//     ("echo.demo.svc.clusterset.local:8080"), with net/http defaults.
//   - h2-connect-frame16k: the same with the server advertising a 16 KiB
//     SETTINGS_MAX_FRAME_SIZE instead of Go's 1 MiB default; Go's client
//     holds a scratch buffer of min(peer max frame size, 512 KiB) for each
//     request body being streamed, so this bounds the per-stream memory.
//
// Everything runs in one process on 127.0.0.1; the server side is an echo
// service (and a discard service that reports the byte count) picked by
// the name carried in the SNI or the :authority. Benchmarks, each with one
// sub-benchmark per candidate:
//
//   - OpenStream: open a stream, echo 1 byte, close it (the cost of a new
//     tunnelled connection). conns/op counts TCP connections the server
//     accepted, resumed/op TLS resumptions.
//   - RoundTrip1KB: write 1 KiB and read it back on an open stream, on 1
//     stream and on 16 streams used concurrently (one h2 connection shared
//     by 16 streams against 16 TLS connections).
//   - Bulk: 64 MiB in 32 KiB writes to the discard service on one stream;
//     MB/s is the one-way payload rate.
//   - IdleMemory: 1000 open idle streams (each has echoed one byte);
//     B/stream is the growth of HeapInuse+StackInuse per stream, client and
//     server ends together, after a GC (stackB/stream is the stack part).
//     It includes the echo service's 4 KiB buffer, the same for every
//     candidate. ns/op there is a whole open-measure-close cycle and
//     means little.
//
// Run the benchmarks with:
//
//	go test -run '^$' -bench . -benchtime=2s -count=1 ./test/bench/tunnel/
//
// Plain `go test ./test/bench/tunnel/` runs only a quick correctness test
// per candidate under goleak.
package tunnel
