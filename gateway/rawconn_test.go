package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// TestFastConnConformance runs x/net's net.Conn conformance suite
// (concurrent reads and writes, deadlines, close while blocked, large
// transfers) on fastConn over loopback TCP, with both ends wrapped.
func TestFastConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := tcpPair(t)
		c1, c2 = newFastConn(a), newFastConn(b)
		if _, ok := c1.(*fastConn); !ok {
			t.Fatalf("newFastConn(%T) did not wrap it", a)
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// TestFastConnErrors: the errors callers test for keep their identity.
func TestFastConnErrors(t *testing.T) {
	a, b := tcpPair(t)
	c, peer := newFastConn(a), newFastConn(b)
	defer peer.Close()

	// A deadline: os.ErrDeadlineExceeded and a net.Error that timed out.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if oe, ok := err.(*net.OpError); !ok || oe.Op != "read" {
		t.Fatalf("read error %#v, want a *net.OpError for op read", err)
	}
	c.SetReadDeadline(time.Time{})

	// A write that fills the socket buffers waits, then completes once
	// the peer reads: all of it arrives, in order.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
		got <- b
	}()
	if n, err := c.Write(big); n != len(big) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("the peer read %d bytes, not the %d written, or they differ", len(b), len(big))
	}

	// Half-close: the peer reads EOF and can still answer.
	if err := c.(closeWriter).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("peer read after CloseWrite: %d, %v; want EOF", n, err)
	}
	if _, err := peer.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "bye" {
		t.Fatalf("read after own CloseWrite: %q, %v", buf, err)
	}

	// Close: reads and writes fail with net.ErrClosed.
	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// TestFastConnNoAllocs: a read and a write allocate nothing.
func TestFastConnNoAllocs(t *testing.T) {
	a, b := tcpPair(t)
	c, peer := newFastConn(a), newFastConn(b)
	defer c.Close()
	defer peer.Close()
	msg, buf := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write and read, want 0", allocs)
	}
}
