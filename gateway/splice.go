package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// closeWriter is a connection whose write side can be shut alone (TCP
// FIN, TLS close_notify), so a half-close crosses the tunnel.
type closeWriter interface {
	CloseWrite() error
}

// spliceBufSize is one TLS record's maximum plaintext: a read from a TLS
// connection never returns more, and a write of this size is one record.
const spliceBufSize = 16 << 10

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, spliceBufSize); return &b }}

// smallBufSize is the buffer a direction reads with until a read fills
// it. Most tunnels are idle most of the time (keep-alive pools, long
// polls, idle gRPC channels), and an idle direction blocked in Read holds
// its buffer: 2 KiB instead of 16 KiB per direction is most of an idle
// connection's memory. A full read means bulk data, and the direction
// switches to the 16 KiB buffer (one TLS record per write); a short read
// gives it back.
const smallBufSize = 2 << 10

var smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}

// splice copies a<->b until both directions end, or until neither
// direction has moved a byte for idle. When one side finishes writing,
// the other's write side is shut (half-close preserved); both are closed
// at the end. It returns the bytes copied a->b and b->a.
//
// Idleness needs no extra goroutine: each direction reads with a deadline
// of idle, and on expiry goes on waiting if the other direction was
// active meanwhile.
func splice(a, b net.Conn, idle time.Duration) (aToB, bToA int64) {
	var last atomic.Int64 // unix nanoseconds of the last byte either way
	last.Store(time.Now().UnixNano())
	done := make(chan int64, 1)
	go func() { done <- pipe(b, a, idle, &last) }()
	bToA = pipe(a, b, idle, &last)
	aToB = <-done
	a.Close()
	b.Close()
	return aToB, bToA
}

// pipe copies src to dst, then shuts dst's write side; when src failed
// rather than ended (a reset, or idleness), both are closed so the other
// direction ends too.
func pipe(dst, src net.Conn, idle time.Duration, last *atomic.Int64) int64 {
	sp := smallBufPool.Get().(*[]byte)
	defer smallBufPool.Put(sp)
	var bp *[]byte // the 16 KiB buffer, while bulk data flows
	defer func() {
		if bp != nil {
			copyBufPool.Put(bp)
		}
	}()
	buf := *sp
	var n int64
	var err error
	// The read deadline is last activity + idle, but setting it costs a
	// timer update, so it is moved only once activity has moved on by
	// idle/16: the deadline may fire early (then the check below goes
	// on waiting), never late.
	var armed int64 // the activity time the deadline was set from; 0: unset
	for {
		if idle > 0 {
			if l := last.Load(); armed == 0 || l-armed > int64(idle/16) {
				src.SetReadDeadline(time.Unix(0, l).Add(idle))
				armed = l
			}
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			last.Store(time.Now().UnixNano())
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				err = werr
				break
			}
			switch {
			case bp == nil && nr == len(buf):
				bp = copyBufPool.Get().(*[]byte)
				buf = *bp
			case bp != nil && nr < smallBufSize:
				copyBufPool.Put(bp)
				bp, buf = nil, *sp
			}
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, last.Load())) < idle {
				armed = 0 // the deadline passed: set it again
				continue  // the other direction was active: not idle
			}
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
	}
	if cw, ok := dst.(closeWriter); ok && err == nil {
		cw.CloseWrite()
	} else {
		dst.Close()
		src.Close()
	}
	return n
}
