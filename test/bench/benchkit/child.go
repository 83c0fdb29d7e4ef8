package benchkit

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Child is a process a benchmark started. It is killed by its PID only,
// and dies with the benchmark (Pdeathsig).
type Child struct {
	// Name says what the child is in errors and logs ("control plane").
	Name string
	PID  int
	// Stderr holds the end of what the child wrote to stderr.
	Stderr *TailBuffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// StartChild starts bin with args; stdout goes to stdout (nil:
// discarded) and the last stderrTail bytes of stderr are kept in
// Child.Stderr. It does not wait for the child to be ready. The caller
// must call Stop, also after a later error.
func StartChild(name, bin string, args []string, stdout io.Writer, stderrTail int) (*Child, error) {
	c := &Child{Name: name, Stderr: NewTailBuffer(stderrTail), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stderr = c.Stderr
	c.cmd.Stdout = stdout
	if stdout == nil {
		c.cmd.Stdout = io.Discard
	}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	c.PID = c.cmd.Process.Pid
	go func() { c.cmd.Wait(); close(c.exited) }()
	return c, nil
}

// Exited is closed once the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Stop kills the child by PID and waits for it, at most 10 s; safe on
// nil and to repeat.
func (c *Child) Stop() {
	if c == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Kill() // this child only
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		Logf("%s (pid %d) did not exit 10s after SIGKILL", c.Name, c.PID)
	}
}

// Alive returns an error, with the child's last stderr, if it exited.
func (c *Child) Alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s (pid %d) exited: %s", c.Name, c.PID, c.Stderr)
	default:
		return nil
	}
}

// TailBuffer keeps the last bytes written to it; safe for concurrent use.
type TailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// NewTailBuffer returns a TailBuffer that keeps the last max bytes.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what the buffer holds.
func (t *TailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

// String presents the buffer as a child's stderr in an error message.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) == 0 {
		return "(no stderr output)"
	}
	return "stderr:\n" + string(t.b)
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
