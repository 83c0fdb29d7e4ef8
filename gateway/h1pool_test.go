package gateway

import (
	"testing"
	"time"
)

// TestH1PoolSweep: a sweep closes idle tunnels the far side closed or
// that timed out, and keeps the rest in their order.
func TestH1PoolSweep(t *testing.T) {
	p := &h1pool{idle: map[h1key][]*h1tunnel{}, maxIdle: 64, timeout: time.Minute}
	key := h1key{cluster: "west", target: Target{Service: ServiceName{"demo", "echo"}, Port: 80}}
	now := time.Now()
	tunnel := func(idleAt time.Time) (*h1tunnel, func()) {
		a, b := tcpPair(t)
		t.Cleanup(func() { a.Close(); b.Close() })
		return &h1tunnel{key: key, conn: newFastConn(a), idleAt: idleAt}, func() { b.Close() }
	}
	closedByPeer, closePeer := tunnel(now)
	timedOut, _ := tunnel(now.Add(-2 * time.Minute))
	good1, _ := tunnel(now)
	good2, _ := tunnel(now)
	closePeer()
	p.idle[key] = []*h1tunnel{good1, closedByPeer, timedOut, good2}
	// The peer's FIN must have arrived before the check.
	deadline := time.Now().Add(5 * time.Second)
	for stillOpen(closedByPeer.conn) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	p.sweep(now)
	if got := p.idle[key]; len(got) != 2 || got[0] != good1 || got[1] != good2 {
		t.Fatalf("after the sweep the pool holds %d tunnels, want good1 and good2 in order", len(got))
	}
	for name, tun := range map[string]*h1tunnel{"closed by its peer": closedByPeer, "timed out": timedOut} {
		if _, err := tun.conn.Write([]byte("x")); err == nil {
			t.Errorf("the tunnel %s is still open", name)
		}
	}
}
