package cli_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/cli"
	"github.com/meshfed/meshfed/internal/up"
)

// TestUpAndDownRefuseBadInput: flag mistakes are usage errors (2) naming
// the value; a directory without up.json is an error (1) saying so. The
// whole federation is tested in test/up.
func TestUpAndDownRefuseBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no clusters", []string{"up", "--dir", dir, "--clusters", "0"}, 2, []string{"--clusters 0", "1 to 20"}},
		{"too many clusters", []string{"up", "--dir", dir, "--clusters", "21"}, 2, []string{"--clusters 21"}},
		{"privileged base port", []string{"up", "--dir", dir, "--base-port", "80"}, 2, []string{"--base-port 80", "1024-65535"}},
		{"base port too high", []string{"up", "--dir", dir, "--base-port", "65530"}, 2, []string{"ports 65530-65569"}},
		{"timeout", []string{"up", "--dir", dir, "--timeout", "0s"}, 2, []string{"--timeout"}},
		{"argument", []string{"up", "now"}, 2, []string{`"now"`}},
		{"down without state", []string{"down", "--dir", dir}, 1, []string{"no meshfed up state", filepath.Join(dir, "up.json")}},
		{"demo backend without backends", []string{"demo-backend"}, 2, []string{"--http or --grpc"}},
		{"demo backend bad backend", []string{"demo-backend", "--grpc", "east=127.0.0.1:1"}, 2, []string{`"east=127.0.0.1:1"`, "CLUSTER/NAME.NAMESPACE=HOST:PORT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestUpNamesATakenPort: the check runs before anything starts.
func TestUpNamesATakenPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	base := port - 1 // the control plane's HTTP port is taken
	if up.LastPort(base, 1) > 65535 {
		t.Skipf("port %d leaves no room for a layout", port)
	}
	dir := t.TempDir()
	code, _, stderr := run(t, "", "up", "--detach", "--dir", dir, "--clusters", "1", "--base-port", strconv.Itoa(base))
	want := "port " + strconv.Itoa(port) + " (127.0.0.1:" + strconv.Itoa(port) + ", for the control plane /metrics /healthz /readyz) is already in use"
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--base-port") {
		// Another port of the layout may be taken by someone else.
		if code == 1 && strings.Contains(stderr, "is already in use") {
			t.Skipf("another port of the layout was taken: %s", stderr)
		}
		t.Fatalf("exit status %d, stderr:\n%s\nwant it to contain %q", code, stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin")); err == nil {
		t.Error("the binary was copied although nothing could start")
	}
}

func TestDemoBackendIsHidden(t *testing.T) {
	t.Parallel()
	_, stdout, _ := run(t, "", "--help")
	if strings.Contains(stdout, "demo-backend") {
		t.Errorf("root help lists the internal demo-backend command:\n%s", stdout)
	}
	for _, verb := range []string{"up", "down"} {
		if !strings.Contains(stdout, "\n  "+verb+" ") {
			t.Errorf("root help lacks %q:\n%s", verb, stdout)
		}
	}
}

// TestDemoBackendServesUntilCancelled runs the hidden command in-process.
func TestDemoBackendServesUntilCancelled(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut strings.Builder
	go func() {
		done <- cli.Main(ctx, []string{"demo-backend", "--up-dir", t.TempDir(), "--http", "east/echo.demo=" + addr, "--log-level", "warn"}, strings.NewReader(""), &out, &errOut)
	}()
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Meshfed-Cluster") != "east" {
				t.Errorf("answer not from east: %v", resp.Header)
			}
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("demo backend never answered: %v\n%s", err, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Fatalf("exit status %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo backend still runs 10s after cancel")
	}
}
