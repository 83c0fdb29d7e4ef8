package up_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/internal/etcdtest"
	"github.com/meshfed/meshfed/internal/up"
)

// bin is the meshfed binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		fmt.Println("test/up: skipped: the tests read /proc")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "meshfed-up-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "meshfed")
	build := exec.Command("go", "build", "-o", bin, "github.com/meshfed/meshfed/cmd/meshfed")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "test/up: building meshfed: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, append(etcdtest.IgnoreGoroutines(), goleak.Cleanup(func(int) { os.RemoveAll(dir) }))...)
}

// commandTimeout bounds every meshfed command a test runs.
const commandTimeout = 2 * time.Minute

// result is how a command ended.
type result struct {
	code        int
	out, errOut string
	took        time.Duration
}

// meshfed runs the binary with args (and extra environment) and waits.
func meshfed(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	begin := time.Now()
	err := cmd.Run()
	r := result{out: out.String(), errOut: errOut.String(), took: time.Since(begin)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("meshfed %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// downAtEnd runs `meshfed down --dir dir` when the test ends, whatever
// happened, and checks that nothing of the federation survives.
func downAtEnd(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() {
		before, err := up.Load(dir)
		if err != nil {
			return // nothing was started
		}
		if r := meshfed(t, nil, "down", "--dir", dir); r.code != 0 {
			t.Errorf("meshfed down at the end: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
		waitGone(t, allPIDs(before))
	})
}

// allPIDs lists the processes up.json records.
func allPIDs(st *up.State) []int {
	var pids []int
	for _, c := range st.Clusters {
		if c.GatewayPID > 0 {
			pids = append(pids, c.GatewayPID)
		}
	}
	for _, pid := range st.PIDs {
		pids = append(pids, pid)
	}
	return pids
}

// alive reports whether pid is a running (not zombie) process, from
// /proc, independently of up.Owned.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// waitGone waits up to 15 s for every pid to be gone.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				t.Fatalf("pid %d still runs: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// freeRange finds a base port below the usual ephemeral range (which
// other tests' listeners on port 0 draw from) whose whole layout for n
// clusters is free now.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	start := int(time.Now().UnixNano()/1000+int64(os.Getpid())*7919) % 12000
	for try := 0; try < 200; try++ {
		base := 20000 + (start+try*97)%5900 // 20000-25999; test/drill takes 26000-31999
		if free(base, up.LastPort(base, n)) {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

func free(from, to int) bool {
	for p := from; p <= to; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// viaProxy fetches u through a forward proxy and returns status and body.
func viaProxy(t *testing.T, proxy, u string) (int, []byte) {
	t.Helper()
	pu, err := url.Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s via %s: %v", u, proxy, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body
}

// connectDialer dials target through the HTTP proxy at proxyAddr with
// CONNECT, as grpc-go's own proxy support does.
func connectDialer(proxyAddr string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, target string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", proxyAddr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: target}, Host: target, Header: http.Header{}}
		if err := req.Write(c); err != nil {
			c.Close()
			return nil, err
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			c.Close()
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			c.Close()
			return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
		}
		c.SetDeadline(time.Time{})
		return &readerConn{Conn: c, r: br}, nil
	}
}

// readerConn reads through a reader that may hold bytes read ahead.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
