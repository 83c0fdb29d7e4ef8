package gateway

import (
	"errors"
	"os"
	"sync/atomic"
	"time"
)

// clientWatchAfter is how long a request waits for its response head
// before the client connection is watched for going away.
const clientWatchAfter = 100 * time.Millisecond

// clientWatch reads the client connection while a slow request is in
// flight, so a client that goes away (or a drain that closes it) closes
// the tunnel, and the far side sees the request cancelled, as net/http's
// background read does. Bytes it reads (a pipelined request) are kept
// for the next request.
type clientWatch struct {
	h       *h1conn
	started bool
	stopped atomic.Bool
	gone    atomic.Bool // the client went away
	tun     atomic.Pointer[h1tunnel]
	done    chan struct{}
	buf     [512]byte
	n       int
	err     error
}

func (w *clientWatch) reset(h *h1conn) {
	w.h, w.started = h, false
	w.gone.Store(false)
}

// errClientGone ends the attempts of a request whose client went away.
var errClientGone = errors.New("the client went away")

// start watches the client until stop. A client that pipelined its next
// request is not watched (its bytes are in the read buffer already).
func (w *clientWatch) start(tun *h1tunnel) {
	h := w.h
	if h.br.Buffered() > 0 || len(h.pending) > 0 {
		return
	}
	w.started = true
	w.stopped.Store(false)
	h.c.SetReadDeadline(time.Time{}) // a slow request may outlast the idle deadline
	h.armed = time.Time{}
	w.tun.Store(tun)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		w.n, w.err = h.c.Read(w.buf[:])
		if w.n == 0 && !w.stopped.Load() {
			w.gone.Store(true)
			if t := w.tun.Load(); t != nil {
				t.conn.Close()
			}
		}
	}()
}

// stop ends the watch; false means the client went away.
func (w *clientWatch) stop() bool {
	if !w.started {
		return true
	}
	w.started = false
	w.stopped.Store(true)
	h := w.h
	h.c.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	h.c.SetReadDeadline(time.Time{})
	h.armed = time.Time{}
	w.tun.Store(nil)
	if w.n > 0 {
		h.pending = append(h.pending[:len(h.pending):len(h.pending)], w.buf[:w.n]...)
		return true
	}
	return errors.Is(w.err, os.ErrDeadlineExceeded)
}
