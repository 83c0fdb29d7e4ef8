package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP/1.1 fast path's kept-alive tunnels, per cluster and target.

// h1tunnel is a keep-alive connection to a cluster for one target.
type h1tunnel struct {
	key    h1key
	conn   net.Conn
	br     *bufio.Reader
	idleAt time.Time
	reused bool
	pool   *h1pool
	// nothingRead is true until a byte of the response arrived.
	nothingRead bool
}

// readHead reads a response head into resp, returning its length.
func (t *h1tunnel) readHead(resp *h1Head) (int, error) {
	for {
		buf, _ := t.br.Peek(t.br.Buffered())
		if len(buf) > 0 {
			t.nothingRead = false
		}
		switch end := findHeadEnd(buf); {
		case end < 0:
			return 0, errors.New("malformed response head (bare LF line ends)")
		case end > 0:
			if !parseResponseHead(buf[:end], resp) {
				return 0, fmt.Errorf("malformed response head %q", truncate(buf[:end], 200))
			}
			return end, nil
		}
		if t.br.Buffered() == t.br.Size() {
			return 0, fmt.Errorf("response head larger than %d bytes", t.br.Size())
		}
		if _, err := t.br.Peek(t.br.Buffered() + 1); err != nil {
			return 0, err
		}
	}
}

// discard drops a response that is retried elsewhere: the connection is
// closed (draining it could take as long as the body).
func (t *h1tunnel) discard(int, *h1Head) { t.close() }

func (t *h1tunnel) close() {
	t.conn.Close()
	if t.br != nil {
		h1ReaderPool.Put(t.br)
		t.br = nil
	}
}

// h1key names a tunnel pool: one per cluster and target.
type h1key struct {
	cluster string
	target  Target
}

// h1pool keeps idle tunnels per cluster and target, most recent last.
type h1pool struct {
	g       *Gateway
	mu      sync.Mutex
	idle    map[h1key][]*h1tunnel
	closed  bool
	maxIdle int
	timeout time.Duration
	dials   atomic.Int64 // tunnels opened, for tests
}

func newH1Pool(g *Gateway) *h1pool {
	return &h1pool{g: g, idle: map[h1key][]*h1tunnel{}, maxIdle: 64, timeout: 90 * time.Second}
}

// get returns an idle tunnel to cluster for t that is still open, or a
// new one.
func (p *h1pool) get(cluster string, t Target) (*h1tunnel, error) {
	key := h1key{cluster, t}
	now := time.Now()
	for {
		p.mu.Lock()
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return p.dial(cluster, t)
		}
		tun := list[len(list)-1]
		list[len(list)-1] = nil
		p.idle[key] = list[:len(list)-1]
		p.mu.Unlock()
		// A tunnel used within the last millisecond is not checked: the
		// retry of an idempotent request covers that race.
		if idle := now.Sub(tun.idleAt); idle > p.timeout || idle > time.Millisecond && !stillOpen(tun.conn) {
			tun.close()
			continue
		}
		tun.reused = true
		tun.br = h1ReaderPool.Get().(*bufio.Reader)
		tun.br.Reset(tun.conn)
		return tun, nil
	}
}

// dial opens a new tunnel.
func (p *h1pool) dial(cluster string, t Target) (*h1tunnel, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.g.cfg.Limits.ConnectTimeout.D())
	defer cancel()
	c, err := p.g.peers.dial(ctx, cluster, t)
	if err != nil {
		var de *dialError
		if !errors.As(err, &de) {
			err = &dialError{cluster, err}
		}
		return nil, err
	}
	p.dials.Add(1)
	br := h1ReaderPool.Get().(*bufio.Reader)
	br.Reset(c)
	return &h1tunnel{key: h1key{cluster, t}, conn: c, br: br, pool: p}, nil
}

// put keeps tun for reuse; its read buffer goes back to the pool (a
// response read to its end leaves nothing in it).
func (p *h1pool) put(tun *h1tunnel) {
	if tun.br.Buffered() > 0 {
		tun.close() // bytes after the response: not a clean connection
		return
	}
	h1ReaderPool.Put(tun.br)
	tun.br = nil
	tun.idleAt = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		tun.close()
		return
	}
	list := append(p.idle[tun.key], tun)
	var old *h1tunnel
	if len(list) > p.maxIdle {
		old = list[0]
		list = list[1:]
	}
	p.idle[tun.key] = list
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// closeIdle closes every idle tunnel; with final, later ones too.
func (p *h1pool) closeIdle(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = map[h1key][]*h1tunnel{}
	if final {
		p.closed = true
	}
	p.mu.Unlock()
	for _, list := range idle {
		for _, t := range list {
			t.close()
		}
	}
}

// stillOpen reports whether an idle connection has not been closed by
// the far side: one non-blocking read that must find nothing. A TLS
// connection processes what arrived (a session ticket is fine, an alert
// or data is not).
func stillOpen(c net.Conn) bool {
	var fc *fastConn
	switch x := c.(type) {
	case *tls.Conn:
		fc, _ = x.NetConn().(*fastConn)
	case *releaseConn:
		fc, _ = x.Conn.(*fastConn)
	case *fastConn:
		fc = x
	}
	if fc == nil {
		return true // cannot tell; the retry of a bodiless request covers it
	}
	var b [1]byte
	fc.nonblock.Store(true)
	n, err := c.Read(b[:])
	fc.nonblock.Store(false)
	return n == 0 && errors.Is(err, errWouldBlock)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
