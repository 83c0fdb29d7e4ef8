package gateway

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// fastConn is a TCP connection whose reads and writes are raw
// non-blocking system calls made through the runtime's poller
// (syscall.RawConn), instead of net.TCPConn's path, which tells the
// scheduler about every call.
//
// Why: on loopback a write runs the receiver's whole TCP path inside
// the call, long enough for the runtime's monitor thread to take the
// processor away from the thread in the call, wake another thread, and
// keep itself polling every 20 µs. Under the gateway benchmark, perf
// put 15% of the gateways' CPU in that monitor thread alone; with
// fastConn their CPU per request fell from 89 to 72 µs. A read or write
// on a non-blocking socket never blocks, so the scheduler need not
// know; waiting for readiness still goes through the poller, deadlines
// included.
type fastConn struct {
	*net.TCPConn
	rc syscall.RawConn
	// nonblock makes Read return errWouldBlock instead of waiting when
	// nothing is there (stillOpen's check of an idle connection).
	nonblock    atomic.Bool
	read, write rawCall
}

// rawCall is one direction's call: the poller's callback, its argument
// and its results live here, so a call allocates nothing; mu keeps
// concurrent callers in one direction from sharing them.
type rawCall struct {
	mu    sync.Mutex
	buf   []byte
	n     int
	errno syscall.Errno
	fn    func(uintptr) bool
}

// do runs the callback on p through the poller (RawConn.Write when
// write, else RawConn.Read), returning what it did and the poller's error.
func (call *rawCall) do(rc syscall.RawConn, write bool, p []byte) (int, syscall.Errno, error) {
	call.mu.Lock()
	defer call.mu.Unlock()
	call.buf, call.n, call.errno = p, 0, 0
	var err error
	if write {
		err = rc.Write(call.fn)
	} else {
		err = rc.Read(call.fn)
	}
	call.buf = nil
	return call.n, call.errno, err
}

// newFastConn wraps c when it is a TCP connection, else returns it.
func newFastConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	fc := &fastConn{TCPConn: tc, rc: rc}
	fc.read.fn = fc.readCall
	fc.write.fn = fc.writeCall
	return fc
}

func (c *fastConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := c.read.do(c.rc, false, p)
	if err == nil && errno == syscall.EAGAIN {
		return 0, errWouldBlock
	}
	if err := c.callError("read", err, errno); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	raceWriteRange(p[:n])
	return n, nil
}

// readCall is the poller's callback for Read: false means "not ready,
// wait".
func (c *fastConn) readCall(fd uintptr) bool {
	p := c.read.buf
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if c.nonblock.Load() {
				c.read.errno = e
				return true
			}
			return false
		case 0:
			c.read.n = int(r)
		default:
			c.read.errno = e
		}
		return true
	}
}

func (c *fastConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	raceReadRange(p)
	n, errno, err := c.write.do(c.rc, true, p)
	return n, c.callError("write", err, errno)
}

// writeCall is the poller's callback for Write: it writes until all is
// written, an error, or the socket buffer is full (false: wait until
// writable).
func (c *fastConn) writeCall(fd uintptr) bool {
	w := &c.write
	for w.n < len(w.buf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.buf[w.n])), uintptr(len(w.buf)-w.n))
		switch e {
		case 0:
			if r == 0 {
				w.errno = syscall.EIO // write(2) wrote nothing and said nothing: do not spin
				return true
			}
			w.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.errno = e
			return true
		}
	}
	return true
}

// callError is the error of a call: the poller's (a deadline, a closed
// connection), else the system call's, wrapped by opError; nil if none.
func (c *fastConn) callError(op string, err error, errno syscall.Errno) error {
	if err == nil && errno != 0 {
		err = os.NewSyscallError(op, errno)
	}
	if err == nil {
		return nil
	}
	return c.opError(op, err)
}

// opError wraps err as net.TCPConn would, so callers' checks
// (os.ErrDeadlineExceeded, net.ErrClosed, net.Error's Timeout) hold.
func (c *fastConn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // "raw-read" or "raw-write": say "read" or "write"
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// errWouldBlock is what a non-blocking Read returns when nothing is
// there. It is a temporary net.Error, so a tls.Conn above does not keep
// it as the connection's error.
var errWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "nothing to read yet" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }
