package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
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
			limit := t.pool.g.cfg.Limits.MaxHeaderBytes
			if t.br.Size() >= limit {
				return 0, fmt.Errorf("response head larger than limits.max_header_bytes (%d)", limit)
			}
			// A large head (up to max_header_bytes, as net/http allows):
			// a reader of that size, not pooled, takes over.
			big := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(append([]byte(nil), buf...)), t.conn), limit)
			h1ReaderPool.Put(t.br)
			t.br = big
			continue
		}
		if _, err := t.br.Peek(t.br.Buffered() + 1); err != nil {
			return 0, err
		}
	}
}

// discard drops a response that is retried elsewhere: the connection is
// closed (draining it could take as long as the body).
func (t *h1tunnel) discard() { t.close() }

func (t *h1tunnel) close() {
	t.conn.Close()
	if t.br != nil && t.br.Size() == h1ReadBufSize {
		h1ReaderPool.Put(t.br)
	}
	t.br = nil
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
		// One non-blocking read: the far side may have closed the tunnel,
		// or sent bytes no request asked for; either way it is not reused.
		if now.Sub(tun.idleAt) > p.timeout || !stillOpen(tun.conn) {
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
	br := h1ReaderPool.Get().(*bufio.Reader)
	br.Reset(c)
	return &h1tunnel{key: h1key{cluster, t}, conn: c, br: br, pool: p}, nil
}

// put keeps tun for reuse; its read buffer goes back to the pool (a
// response read to its end leaves nothing in it).
func (p *h1pool) put(tun *h1tunnel) {
	if tun.br.Buffered() > 0 || tun.br.Size() != h1ReadBufSize {
		tun.close() // bytes after the response, or a large head's reader
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

// sweep closes the idle tunnels that timed out or that the far side
// closed, so they do not wait for the next request to their target. It
// takes the idle tunnels out of the pool to check them (a system call
// each), so requests never wait on the pool's lock meanwhile; the ones
// still good go back in front of those put since (they are older).
func (p *h1pool) sweep(now time.Time) {
	p.mu.Lock()
	taken := p.idle
	p.idle = map[h1key][]*h1tunnel{}
	p.mu.Unlock()
	var stale []*h1tunnel
	for key, list := range taken {
		kept := list[:0]
		for _, t := range list {
			if now.Sub(t.idleAt) > p.timeout || !stillOpen(t.conn) {
				stale = append(stale, t)
			} else {
				kept = append(kept, t)
			}
		}
		taken[key] = kept
	}
	p.mu.Lock()
	if p.closed {
		for _, kept := range taken {
			stale = append(stale, kept...)
		}
	} else {
		for key, kept := range taken {
			list := append(kept, p.idle[key]...)
			if over := len(list) - p.maxIdle; over > 0 {
				stale = append(stale, list[:over]...)
				list = list[over:]
			}
			if len(list) > 0 {
				p.idle[key] = list
			}
		}
	}
	p.mu.Unlock()
	for _, t := range stale {
		t.close()
	}
}

// sweeper sweeps every 30 s until ctx ends.
func (p *h1pool) sweeper(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.sweep(now)
		}
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
	// The fastConn under the wrappers (tls.Conn, releaseConn) is put in
	// its non-blocking mode; the read goes through the outer one.
	var fc *fastConn
	for inner := c; fc == nil; {
		if x, ok := inner.(*fastConn); ok {
			fc = x
			break
		}
		w, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			return true // cannot tell; an idempotent request that meets a closed tunnel is sent again
		}
		inner = w.NetConn()
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
