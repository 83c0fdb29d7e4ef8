package up_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/meshfed/meshfed/internal/up"
)

var clusterNames = []string{"east", "east-b", "west"}

// TestUpDownUp is the user's path: up --detach, use every service and
// the printed commands, refuse a second up, down, and up again in the
// foreground on the same state, stopped with Ctrl-C.
func TestUpDownUp(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fed")
	base := freeRange(t, 3)
	downAtEnd(t, dir)

	// 1. Start detached; it returns once every gateway routes.
	r := meshfed(t, nil, "up", "--detach", "--dir", dir, "--base-port", strconv.Itoa(base))
	if r.code != 0 {
		t.Fatalf("meshfed up: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	t.Logf("time to ready (meshfed up --detach, cold: new CAs and etcd): %s (wall) / %s (its own count)", r.took.Round(time.Millisecond), readyIn(r.out))
	if r.took > 10*time.Second {
		t.Logf("NOTE: slower than the 10 s target (the machine may be loaded by other tests)")
	}
	east := fmt.Sprintf("http://127.0.0.1:%d", base+11)
	for _, want := range []string{
		"export MESHFED_CONFIG=" + dir + "/meshfed.yaml",
		"curl -x " + east + " http://echo.demo.svc.clusterset.local:8080/",
		"meshfed route explain echo.demo --from east",
		"meshfed drill run --dir " + dir + " --fault kill --scope cluster=east-b --dry-run",
		"meshfed drill run --dir " + dir + " --fault drain --scope cluster=east,service=echo.demo --from east --duration 20s",
		"meshfed down --dir " + dir,
		"cluster west: gateway ready",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}

	step := time.Now()
	logStep := func(what string) {
		t.Logf("%s: %s", what, time.Since(step).Round(time.Millisecond))
		step = time.Now()
	}
	// 2. up.json describes what runs.
	st, err := up.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, st, dir, base)

	logStep("step 2")
	// 3. Every cluster's forward proxy serves echo.demo (from some
	// cluster) and catalog.demo (from west, its only exporter).
	for _, c := range st.Clusters {
		if got := fetch(t, c.ForwardProxy, "echo.demo"); !slices.Contains(clusterNames, got) {
			t.Errorf("echo.demo via %s: served by %q", c.Name, got)
		}
		if got := fetch(t, c.ForwardProxy, "catalog.demo"); got != "west" {
			t.Errorf("catalog.demo via %s: served by %q, want west", c.Name, got)
		}
	}

	logStep("step 3")
	// 4. gRPC: through each cluster's gRPC port, and through CONNECT on
	// east's forward proxy.
	for _, c := range st.Clusters {
		grpcCall(t, "passthrough:///"+c.TCPListeners["echo.demo:9090"])
	}
	grpcCall(t, "passthrough:///echo.demo.svc.clusterset.local:9090", grpc.WithContextDialer(connectDialer(st.Clusters[0].Outbound)))

	logStep("step 4")
	// 5. The printed commands work verbatim (the drill needs `meshfed
	// drill`, built separately: it runs only if the binary has it).
	runTryBlock(t, r.out, dir)
	env := []string{"MESHFED_CONFIG=" + st.Config}
	ex := meshfed(t, env, "route", "explain", "echo.demo", "--from", "east")
	if ex.code != 0 || !strings.Contains(ex.out, "east-b") || !strings.Contains(ex.out, "west") {
		t.Fatalf("route explain: exit %d\n%s%s", ex.code, ex.out, ex.errOut)
	}

	logStep("step 5")
	// 6. A second up on the running directory is refused, and harms
	// nothing.
	again := meshfed(t, nil, "up", "--detach", "--dir", dir, "--base-port", strconv.Itoa(base))
	if again.code != 1 || !strings.Contains(again.errOut, "already running") || !strings.Contains(again.errOut, "meshfed down --dir "+dir) {
		t.Fatalf("second up: exit %d, want 1 with 'already running' and the down command\n%s%s", again.code, again.out, again.errOut)
	}
	if got := fetch(t, st.Clusters[1].ForwardProxy, "catalog.demo"); got != "west" {
		t.Fatalf("after the refused up, catalog.demo served by %q", got)
	}

	logStep("step 6")
	// 7. down stops every process and keeps the state.
	caBefore := readCAs(t, dir)
	d := meshfed(t, nil, "down", "--dir", dir)
	if d.code != 0 || !strings.Contains(d.out, "stopped 5 processes") {
		t.Fatalf("down: exit %d\n%s%s", d.code, d.out, d.errOut)
	}
	t.Logf("meshfed down took %s", d.took.Round(time.Millisecond))
	waitGone(t, allPIDs(st))
	after, err := up.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(allPIDs(after)) != 0 || after.StoppedAt.IsZero() || after.Detached {
		t.Errorf("up.json after down: pids %v, stopped_at %v, detached %v", allPIDs(after), after.StoppedAt, after.Detached)
	}
	if d2 := meshfed(t, nil, "down", "--dir", dir); d2.code != 0 || !strings.Contains(d2.out, "nothing was running") {
		t.Errorf("second down: exit %d\n%s%s", d2.code, d2.out, d2.errOut)
	}

	logStep("step 7")
	// 8. up again, in the foreground: same CAs, works, Ctrl-C stops it.
	fg := startForeground(t, dir, base)
	if !strings.Contains(fg.head, "CA kept") || strings.Contains(fg.head, "CA created") {
		t.Errorf("second up did not keep the CAs:\n%s", fg.head)
	}
	if !bytes.Equal(readCAs(t, dir), caBefore) {
		t.Error("CA files changed between runs")
	}
	st2, err := up.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Detached || len(allPIDs(st2)) != 5 {
		t.Errorf("foreground up.json: detached %v, pids %v", st2.Detached, allPIDs(st2))
	}
	if got := fetch(t, st2.Clusters[0].ForwardProxy, "catalog.demo"); got != "west" {
		t.Errorf("catalog.demo after the restart: served by %q", got)
	}
	grpcCall(t, "passthrough:///"+st2.Clusters[2].TCPListeners["echo.demo:9090"])
	out := fg.interrupt(t)
	for _, want := range []string{"stopping...", fmt.Sprintf("control plane (pid %d): stopped", st2.PIDs["controlplane"])} {
		if !strings.Contains(out, want) {
			t.Errorf("Ctrl-C output lacks %q:\n%s", want, out)
		}
	}
	waitGone(t, allPIDs(st2))
}

// TestPortInUse: a taken port is named, with the flag that moves the
// range, and nothing starts.
func TestPortInUse(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fed")
	base := freeRange(t, 3)
	downAtEnd(t, dir)
	port := base + 11 // east's forward proxy
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := meshfed(t, nil, "up", "--detach", "--dir", dir, "--base-port", strconv.Itoa(base))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.out, r.errOut)
	}
	want := fmt.Sprintf("port %d (127.0.0.1:%d, for the cluster east gateway forward proxy) is already in use: pick another range with --base-port", port, port)
	if !strings.Contains(r.errOut, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, r.errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, up.StateFile)); err == nil {
		t.Error("up.json written although nothing could start")
	}
}

func checkState(t *testing.T, st *up.State, dir string, base int) {
	t.Helper()
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	if st.Controlplane != addr(base) || st.ControlplaneHTTP != addr(base+1) || st.Dir != dir || st.Config != filepath.Join(dir, "meshfed.yaml") || !st.Detached || st.StartedAt.IsZero() {
		t.Errorf("up.json: controlplane %s http %s dir %s config %s detached %v started %v", st.Controlplane, st.ControlplaneHTTP, st.Dir, st.Config, st.Detached, st.StartedAt)
	}
	if st.PIDs["controlplane"] <= 0 || st.PIDs["demo"] <= 0 {
		t.Errorf("pids %v", st.PIDs)
	}
	if _, err := os.Stat(st.Config); err != nil {
		t.Error(err)
	}
	locality := map[string][3]string{
		"east": {"aws", "us-east-1", "us-east-1a"}, "east-b": {"aws", "us-east-1", "us-east-1b"}, "west": {"gcp", "europe-west1", "europe-west1-b"},
	}
	if len(st.Clusters) != 3 {
		t.Fatalf("%d clusters", len(st.Clusters))
	}
	for i, c := range st.Clusters {
		b := base + 10*(i+1)
		if c.Name != clusterNames[i] || c.TrustDomain != c.Name+".meshfed.test" || [3]string{c.Provider, c.Region, c.Zone} != locality[c.Name] {
			t.Errorf("cluster %d: %s %s %s/%s/%s", i, c.Name, c.TrustDomain, c.Provider, c.Region, c.Zone)
		}
		if c.Inbound != addr(b) || c.Outbound != addr(b+1) || c.Admin != addr(b+2) || c.ForwardProxy != "http://"+addr(b+1) {
			t.Errorf("%s: inbound %s outbound %s admin %s proxy %s", c.Name, c.Inbound, c.Outbound, c.Admin, c.ForwardProxy)
		}
		if c.GatewayPID <= 0 || len(c.GatewayArgs) < 2 || c.GatewayArgs[0] != bin || c.GatewayArgs[1] != "gateway" || !slices.Contains(c.GatewayArgs, "--enable-faults") {
			t.Errorf("%s: gateway pid %d args %q", c.Name, c.GatewayPID, c.GatewayArgs)
		}
		if fi, err := os.Stat(c.GatewayLog); err != nil || fi.Size() == 0 {
			t.Errorf("%s: gateway log %s: %v", c.Name, c.GatewayLog, err)
		}
		if c.Services["echo.demo"]["http"] == "" || c.Services["echo.demo"]["grpc"] == "" {
			t.Errorf("%s: services %v", c.Name, c.Services)
		}
		if _, ok := c.Services["catalog.demo"]; ok != (c.Name == "west") {
			t.Errorf("%s: services %v (catalog.demo is west's only)", c.Name, c.Services)
		}
		if c.TCPListeners["echo.demo:9090"] != addr(b+6) {
			t.Errorf("%s: tcp listeners %v", c.Name, c.TCPListeners)
		}
	}
	// The recorded gateway command line is the one running.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Clusters[0].GatewayPID))
	if err != nil || string(cmdline) != strings.Join(st.Clusters[0].GatewayArgs, "\x00")+"\x00" {
		t.Errorf("gateway east runs %q, up.json says %q (%v)", cmdline, st.Clusters[0].GatewayArgs, err)
	}
}

// fetch asks for svc's HTTP port through a forward proxy and returns the
// cluster that answered.
func fetch(t *testing.T, proxy, svc string) string {
	t.Helper()
	code, body := viaProxy(t, proxy, "http://"+svc+".svc.clusterset.local:8080/")
	var r up.DemoReply
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Service != svc {
		t.Fatalf("%s via %s: %d %s", svc, proxy, code, body)
	}
	return r.Cluster
}

// grpcCall makes a UnaryCall and a health check to target.
func grpcCall(t *testing.T, target string, opts ...grpc.DialOption) {
	t.Helper()
	cc, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
	if err != nil {
		t.Fatalf("UnaryCall via %s: %v", target, err)
	}
	var r up.DemoReply
	if !slices.Contains(clusterNames, res.GetServerId()) || json.Unmarshal(res.GetPayload().GetBody(), &r) != nil || r.Cluster != res.GetServerId() {
		t.Fatalf("UnaryCall via %s: server_id %q payload %s", target, res.GetServerId(), res.GetPayload().GetBody())
	}
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health via %s: %v %v", target, h, err)
	}
}

// runTryBlock runs the printed "try:" commands in a shell, as printed:
// the exports, curl and grpcurl (if installed), route explain and
// cluster list; the drills with --dry-run, if this meshfed has drills.
func runTryBlock(t *testing.T, out, dir string) {
	t.Helper()
	_, block, ok := strings.Cut(out, "\ntry:\n")
	if !ok {
		t.Fatalf("no try block in:\n%s", out)
	}
	block, _, _ = strings.Cut(block, "\n\n")
	_, noCurl := exec.LookPath("curl")
	_, noGRPCurl := exec.LookPath("grpcurl")
	hasDrill := meshfed(t, nil, "drill", "--help").code == 0
	var script []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "curl ") && noCurl != nil,
			strings.HasPrefix(line, "grpcurl ") && noGRPCurl != nil:
			t.Logf("not run (not installed): %s", line)
			continue
		case strings.HasPrefix(line, "meshfed drill ") && !hasDrill:
			t.Logf("not run (this meshfed has no drill command yet): %s", line)
			continue
		case strings.HasPrefix(line, "meshfed drill "):
			// A drill takes half a minute; its dry run checks the
			// command line and the directory.
			cmd, comment, _ := strings.Cut(line, " #")
			line = strings.TrimSpace(cmd) + " --dry-run #" + comment
		}
		script = append(script, line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	sh := exec.CommandContext(ctx, "sh", "-e", "-c", strings.Join(script, "\n"))
	sh.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MESHFED_CONFIG=") })
	sh.Dir = dir
	got, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed commands failed: %v\n%s\n---\n%s", err, strings.Join(script, "\n"), got)
	}
	for _, want := range []string{"echo.demo from cluster east", "east.meshfed.test"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the printed commands' output lacks %q:\n%s", want, got)
		}
	}
	if noCurl == nil && !regexp.MustCompile(`"cluster":"west","service":"catalog.demo"`).Match(got) {
		t.Errorf("the printed curl of catalog.demo did not reach west:\n%s", got)
	}
	if noGRPCurl == nil && !bytes.Contains(got, []byte(`"serverId": "east"`)) {
		t.Errorf("the printed grpcurl did not reach east's backend:\n%s", got)
	}
}

// readCAs returns every cluster CA's certificate and key, concatenated.
func readCAs(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	for _, name := range clusterNames {
		for _, f := range []string{"ca.pem", "ca-key.pem"} {
			b, err := os.ReadFile(filepath.Join(dir, "clusters", name, "ca", f))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
	}
	return all
}

func readyIn(out string) string {
	m := regexp.MustCompile(`federation ready in (\S+);`).FindStringSubmatch(out)
	if m == nil {
		return "?"
	}
	return m[1]
}

// foreground is a `meshfed up` running in the foreground.
type foreground struct {
	cmd *exec.Cmd
	out *lockedBuffer
	// done is closed when the process has exited; err is then how.
	done chan struct{}
	err  error
	// head is what it printed until it was ready.
	head string
}

// startForeground runs `meshfed up` without --detach and waits until it
// says it is ready.
func startForeground(t *testing.T, dir string, base int) *foreground {
	t.Helper()
	cmd := exec.Command(bin, "up", "--dir", dir, "--base-port", strconv.Itoa(base))
	f := &foreground{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		f.err = cmd.Wait()
		close(f.done)
	}()
	t.Cleanup(func() {
		select {
		case <-f.done:
		default:
			cmd.Process.Kill() // our child, by PID
			<-f.done
		}
	})
	deadline := time.After(commandTimeout)
	for !strings.Contains(f.out.String(), "press Ctrl-C to stop everything") {
		select {
		case <-f.done:
			t.Fatalf("meshfed up exited (%v) before it was ready:\n%s", f.err, f.out.String())
		case <-deadline:
			t.Fatalf("meshfed up not ready after %s:\n%s", commandTimeout, f.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Logf("time to ready (meshfed up in the foreground, reusing state): %s (wall) / %s (its own count)", time.Since(begin).Round(time.Millisecond), readyIn(f.out.String()))
	f.head = f.out.String()
	return f
}

// interrupt sends SIGINT (Ctrl-C) and waits for a clean exit.
func (f *foreground) interrupt(t *testing.T) string {
	t.Helper()
	begin := time.Now()
	if err := f.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.done:
		if f.err != nil {
			t.Fatalf("meshfed up after Ctrl-C: %v\n%s", f.err, f.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("meshfed up still runs 30s after Ctrl-C:\n%s", f.out.String())
	}
	t.Logf("Ctrl-C to exit: %s", time.Since(begin).Round(time.Millisecond))
	return f.out.String()
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
