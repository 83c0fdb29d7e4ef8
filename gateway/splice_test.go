package gateway

import (
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c, <-accepted
}

// TestSpliceHalfClose: client -> [a | splice | b] -> server. The client
// half-closes after its request; the server still answers after reading
// EOF, and the answer reaches the client.
func TestSpliceHalfClose(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := make(chan [2]int64, 1)
	go func() {
		x, y := splice(a, b, time.Minute)
		done <- [2]int64{x, y}
	}()
	client.Write([]byte("request"))
	client.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	server.Write([]byte("reply after EOF"))
	server.Close()
	got, err = io.ReadAll(client)
	if err != nil || string(got) != "reply after EOF" {
		t.Fatalf("client read %q, %v", got, err)
	}
	client.Close()
	n := <-done
	if n != [2]int64{7, 15} {
		t.Fatalf("counted %v", n)
	}
}

func TestSpliceIdleTimeout(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	done := make(chan struct{})
	go func() {
		splice(a, b, 100*time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle splice not closed")
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("client still open")
	}
}

// TestSpliceIdleOneWay: traffic in one direction keeps both open (the
// other direction's deadline fires and is moved on), and the splice
// closes no sooner than idle after the last byte.
func TestSpliceIdleOneWay(t *testing.T) {
	const idle = 250 * time.Millisecond
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	done := make(chan time.Time, 1)
	go func() {
		splice(newFastConn(a), newFastConn(b), idle)
		done <- time.Now()
	}()
	go io.Copy(io.Discard, server)
	var lastWrite time.Time
	for range 40 { // 1 s: four idle periods
		// Taken before the write: the splice sees the byte after it, so
		// it must not close sooner than idle after this.
		lastWrite = time.Now()
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatalf("splice closed while one direction was active: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	select {
	case closed := <-done:
		if d := closed.Sub(lastWrite); d < idle {
			t.Fatalf("closed %v after the last byte, before the idle timeout of %v", d, idle)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle splice not closed")
	}
}
