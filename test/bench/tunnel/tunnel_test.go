package tunnel_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestCandidates checks each candidate end to end: routing by name, echo,
// half-close, refusal of an unknown service, and how the second stream
// is carried (resumed or not, new connection or not).
func TestCandidates(t *testing.T) {
	p := newPKI(t)
	for _, c := range candidates {
		t.Run(c.name, func(t *testing.T) {
			tun := c.start(t, p)
			ctx := context.Background()

			// 1. Echo on a first and a second stream.
			for i := range 2 {
				s, err := tun.Open(ctx, echoSvc)
				if err != nil {
					t.Fatalf("stream %d: open: %v", i, err)
				}
				msg := []byte("hello east-west")
				if _, err := s.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("stream %d: echo = %q, %v; want %q", i, got, err, msg)
				}
				if tc, ok := s.(*tls.Conn); ok && i == 1 {
					want := c.name == "sni-resumed"
					if got := tc.ConnectionState().DidResume; got != want {
						t.Errorf("second stream: DidResume = %v, want %v", got, want)
					}
				}
				if err := s.Close(); err != nil {
					t.Errorf("stream %d: close: %v", i, err)
				}
			}
			wantConns := int64(2)
			if _, ok := tun.(*h2Tunnel); ok {
				wantConns = 1
			}
			if got := tun.Conns(); got != wantConns {
				t.Errorf("server accepted %d connections for 2 streams, want %d", got, wantConns)
			}

			// 2. Half-close: the discard service answers with the count.
			s, err := tun.Open(ctx, discardSvc)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			payload := make([]byte, 100<<10)
			if _, err := s.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := s.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			var n [8]byte
			if _, err := io.ReadFull(s, n[:]); err != nil || binary.BigEndian.Uint64(n[:]) != uint64(len(payload)) {
				t.Fatalf("discard count = %d, %v; want %d", binary.BigEndian.Uint64(n[:]), err, len(payload))
			}

			// 3. An unknown service is refused.
			if s, err := tun.Open(ctx, unknownSvc); err == nil {
				s.Close()
				t.Errorf("open %v: no error, want a refusal", unknownSvc)
			} else {
				t.Logf("unknown service refused: %v", err)
			}
		})
	}
}

func open(tb testing.TB, tun tunnel, svc service) stream {
	tb.Helper()
	s, err := tun.Open(context.Background(), svc)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// echoOnce writes p and reads len(p) bytes back into q.
func echoOnce(s stream, p, q []byte) error {
	if _, err := s.Write(p); err != nil {
		return err
	}
	_, err := io.ReadFull(s, q[:len(p)])
	return err
}

// warm opens and closes one stream so that the h2 pool holds a connection
// and the session cache a ticket before timing starts.
func warm(b *testing.B, tun tunnel) {
	b.Helper()
	s := open(b, tun, echoSvc)
	if err := echoOnce(s, []byte{1}, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	s.Close()
}

func resumed(s stream) bool {
	tc, ok := s.(*tls.Conn)
	return ok && tc.ConnectionState().DidResume
}

// BenchmarkOpenStream: open a stream, echo one byte, close it.
func BenchmarkOpenStream(b *testing.B) {
	p := newPKI(b)
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			tun := c.start(b, p)
			warm(b, tun)
			one, back := []byte{1}, make([]byte, 1)
			conns0, nResumed := tun.Conns(), 0
			b.ReportAllocs()
			for b.Loop() {
				s := open(b, tun, echoSvc)
				if err := echoOnce(s, one, back); err != nil {
					b.Fatal(err)
				}
				if resumed(s) {
					nResumed++
				}
				s.Close()
			}
			b.ReportMetric(float64(tun.Conns()-conns0)/float64(b.N), "conns/op")
			b.ReportMetric(float64(nResumed)/float64(b.N), "resumed/op")
		})
	}
}

// BenchmarkRoundTrip1KB: write 1 KiB and read it back on open streams,
// one stream, then 16 streams at once.
func BenchmarkRoundTrip1KB(b *testing.B) {
	p := newPKI(b)
	procs := runtime.GOMAXPROCS(0)
	par := (16 + procs - 1) / procs
	for _, n := range []int{1, par * procs} {
		for _, c := range candidates {
			b.Run(fmt.Sprintf("streams=%d/%s", n, c.name), func(b *testing.B) {
				tun := c.start(b, p)
				warm(b, tun)
				streams := make(chan stream, n)
				for range n {
					s := open(b, tun, echoSvc)
					defer s.Close()
					streams <- s
				}
				b.SetBytes(1 << 10)
				if n == 1 {
					s := <-streams
					msg, back := make([]byte, 1<<10), make([]byte, 1<<10)
					for b.Loop() {
						if err := echoOnce(s, msg, back); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					s := <-streams
					msg, back := make([]byte, 1<<10), make([]byte, 1<<10)
					for pb.Next() {
						if err := echoOnce(s, msg, back); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkBulk: 64 MiB in 32 KiB writes on one stream to the discard
// service, which confirms the count after the client's half-close.
func BenchmarkBulk(b *testing.B) {
	const total, chunk = 64 << 20, 32 << 10
	p := newPKI(b)
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			tun := c.start(b, p)
			warm(b, tun)
			buf := bytes.Repeat([]byte("meshfed-"), chunk/8)
			b.SetBytes(total)
			for b.Loop() {
				b.StopTimer()
				s := open(b, tun, discardSvc)
				b.StartTimer()
				for range total / chunk {
					if _, err := s.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.CloseWrite(); err != nil {
					b.Fatal(err)
				}
				var n [8]byte
				if _, err := io.ReadFull(s, n[:]); err != nil || binary.BigEndian.Uint64(n[:]) != total {
					b.Fatalf("discard count = %d, %v; want %d", binary.BigEndian.Uint64(n[:]), err, total)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkIdleMemory: 1000 open idle streams, each having echoed one
// byte. B/stream counts both ends (client and server share the process).
func BenchmarkIdleMemory(b *testing.B) {
	const idle = 1000
	p := newPKI(b)
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			tun := c.start(b, p)
			warm(b, tun)
			one, back := []byte{1}, make([]byte, 1)
			var mem, stack, gor, conns float64
			for b.Loop() {
				g0 := runtime.NumGoroutine()
				m0 := inUse()
				c0 := tun.Conns()
				streams := make([]stream, 0, idle)
				for range idle {
					s := open(b, tun, echoSvc)
					if err := echoOnce(s, one, back); err != nil {
						b.Fatal(err)
					}
					streams = append(streams, s)
				}
				m1 := inUse()
				mem += (float64(m1.HeapInuse+m1.StackInuse) - float64(m0.HeapInuse+m0.StackInuse)) / idle
				stack += (float64(m1.StackInuse) - float64(m0.StackInuse)) / idle
				gor += float64(runtime.NumGoroutine()-g0) / idle
				conns += float64(tun.Conns() - c0)
				for _, s := range streams {
					s.Close()
				}
				waitGoroutines(b, g0)
			}
			b.ReportMetric(mem/float64(b.N), "B/stream")
			b.ReportMetric(stack/float64(b.N), "stackB/stream")
			b.ReportMetric(gor/float64(b.N), "goroutines/stream")
			b.ReportMetric(conns/float64(b.N), "conns/1000streams")
		})
	}
}

// inUse returns the memory statistics after a full GC.
func inUse() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// waitGoroutines waits until the server side of closed streams has wound
// down, so that the next measurement starts from the same baseline.
func waitGoroutines(b *testing.B, n int) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			b.Fatalf("%d goroutines 10s after closing the streams, want %d", runtime.NumGoroutine(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
