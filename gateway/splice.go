package gateway

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// closeWriter is a connection whose write side can be shut alone (TCP
// FIN, TLS close_notify), so a half-close crosses the tunnel.
type closeWriter interface {
	CloseWrite() error
}

// copyBufPool holds the splice buffers: 32 KiB, like io.Copy's.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// splice copies a<->b until both directions end or idle passes with no
// byte in either direction. When one side finishes writing, the other's
// write side is shut (half-close preserved); the connections are closed
// when both are done. It returns the bytes copied a->b and b->a.
func splice(a, b net.Conn, idle time.Duration) (aToB, bToA int64) {
	var (
		mu   sync.Mutex
		last = time.Now()
	)
	touch := func() {
		mu.Lock()
		last = time.Now()
		mu.Unlock()
	}
	// The idle watchdog wakes at most every idle/2 (or every second).
	stop := make(chan struct{})
	watchDone := make(chan struct{})
	if idle > 0 {
		tick := idle / 2
		if tick > time.Second {
			tick = time.Second
		}
		go func() {
			defer close(watchDone)
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					mu.Lock()
					expired := time.Since(last) > idle
					mu.Unlock()
					if expired {
						a.Close()
						b.Close()
						return
					}
				}
			}
		}()
	} else {
		close(watchDone)
	}
	done := make(chan int64, 1)
	go func() { done <- pipe(b, a, touch) }()
	bToA = pipe(a, b, touch)
	aToB = <-done
	close(stop)
	<-watchDone
	a.Close()
	b.Close()
	return aToB, bToA
}

// pipe copies src to dst, then shuts dst's write side (or closes it when
// it cannot half-close, or when src failed rather than ended).
func pipe(dst, src net.Conn, touch func()) int64 {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var n int64
	var err error
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			touch()
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				err = werr
				break
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
	}
	if cw, ok := dst.(closeWriter); ok && err == nil {
		cw.CloseWrite()
	} else {
		// A reset or failure on one side is passed on as an abort.
		dst.Close()
		src.Close()
	}
	return n
}
