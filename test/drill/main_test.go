package drill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/internal/drill"
	"github.com/meshfed/meshfed/internal/up"
)

// bin is the meshfed binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		fmt.Println("test/drill: skipped: meshfed up and kill drills read /proc")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "meshfed-drill-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "meshfed")
	build := exec.Command("go", "build", "-o", bin, "github.com/meshfed/meshfed/cmd/meshfed")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "test/drill: building meshfed: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// result is how a meshfed command ended.
type result struct {
	code        int
	out, errOut string
}

// meshfed runs the binary and waits (at most 2 minutes).
func meshfed(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{out: out.String(), errOut: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("meshfed %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// freeRange finds a base port whose whole `meshfed up` range is free
// now: below the ephemeral range (32768-60999 on Linux), where outgoing
// connections of other tests would take ports, and clear of the range
// test/up picks from (20000-25999).
func freeRange(t *testing.T, clusters int) int {
	t.Helper()
	start := int(time.Now().UnixNano()/1000+int64(os.Getpid())*7919) % 10000
	for try := range 200 {
		base := 26000 + (start+try*97)%5900
		ok := true
		for p := base; p <= up.LastPort(base, clusters) && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

// fed is the running federation.
type fed struct {
	dir string
	st  *up.State
}

func (f *fed) cluster(t *testing.T, name string) *up.Cluster {
	t.Helper()
	c := f.st.Cluster(name)
	if c == nil {
		t.Fatalf("up.json has no cluster %q", name)
	}
	return c
}

func (f *fed) admin(t *testing.T, name string) string {
	return "http://" + f.cluster(t, name).Admin
}

// get fetches an admin URL.
func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	return b
}

// faults lists a gateway's injected faults.
func (f *fed) faults(t *testing.T, cluster string) []gateway.Fault {
	t.Helper()
	var doc struct{ Faults []gateway.Fault }
	if err := json.Unmarshal(get(t, f.admin(t, cluster)+"/faults"), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Faults
}

// share is the share a cluster's gateway gives target for echo.demo.
func (f *fed) share(t *testing.T, from, target string) (float64, bool) {
	t.Helper()
	var d gateway.DebugRoutes
	if err := json.Unmarshal(get(t, f.admin(t, from)+"/debug/routes?service=echo.demo"), &d); err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Services {
		for _, r := range s.Targets {
			if r.Cluster == target {
				return r.Share, r.Healthy
			}
		}
	}
	return 0, false
}

// waitShare waits until from's gateway sends all of echo.demo to target.
func (f *fed) waitShare(t *testing.T, from, target string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, healthy := f.share(t, from, target)
		if s > 0.999 && healthy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's gateway gives %s %.0f%% of echo.demo (healthy %v) after 30 s:\n%s", from, target, 100*s, healthy,
				get(t, f.admin(t, from)+"/debug/routes?service=echo.demo&format=text"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outbound counts a gateway's outbound HTTP requests for echo.demo by
// destination cluster (meshfed_gateway_requests_total).
func (f *fed) outbound(t *testing.T, cluster string) map[string]int {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(get(t, f.admin(t, cluster)+"/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range fams["meshfed_gateway_requests_total"].GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["direction"] == "outbound" && l["service"] == "echo.demo" && l["protocol"] == "http" {
			out[l["destination_cluster"]] += int(m.GetCounter().GetValue())
		}
	}
	return out
}

// probeRec is one request of the test's own traffic loop.
type probeRec struct {
	sent    time.Time
	latency time.Duration
	cluster string
	err     string
}

// probe is the test's own traffic, independent of the drill's: GETs of
// echo.demo through a forward proxy, every 20 ms (open loop).
type probe struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	recs []probeRec
}

func startProbe(t *testing.T, proxy string) *probe {
	t.Helper()
	pu, err := url.Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	p := &probe{stop: make(chan struct{})}
	p.wg.Go(func() {
		defer tr.CloseIdleConnections()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			inflight.Go(func() {
				r := probeRec{sent: time.Now()}
				resp, err := client.Get("http://echo.demo.svc.clusterset.local:8080/")
				if err != nil {
					r.err = err.Error()
				} else {
					var reply up.DemoReply
					err := json.NewDecoder(resp.Body).Decode(&reply)
					resp.Body.Close()
					switch {
					case resp.StatusCode != http.StatusOK:
						r.err = resp.Status
					case err != nil:
						r.err = err.Error()
					default:
						r.cluster = reply.Cluster
					}
				}
				r.latency = time.Since(r.sent)
				p.mu.Lock()
				p.recs = append(p.recs, r)
				p.mu.Unlock()
			})
		}
	})
	return p
}

// finish stops the loop, waits for its requests and returns them by
// send time.
func (p *probe) finish() []probeRec {
	close(p.stop)
	p.wg.Wait()
	sort.Slice(p.recs, func(i, j int) bool { return p.recs[i].sent.Before(p.recs[j].sent) })
	return p.recs
}

// settled is when, after from, the probe's requests stopped reaching
// scope for good (until to): the send time of the last request that was
// served by scope, failed or took longer than slow, measured from from.
func settled(recs []probeRec, scope string, slow time.Duration, from, to time.Time) (time.Duration, bool) {
	last := from
	seen := false
	for _, r := range recs {
		if r.sent.Before(from) || !r.sent.Before(to) {
			continue
		}
		seen = true
		if r.err != "" || r.cluster == scope || r.latency > slow {
			last = r.sent
		}
	}
	if !seen || !to.After(last) {
		return 0, false
	}
	return last.Sub(from), true
}

// report reads a drill's report.json.
func readReport(t *testing.T, path string) *drill.Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r drill.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}

// at is an offset of the report's as a wall-clock time.
func at(r *drill.Report, msFromStart float64) time.Time {
	return r.StartedAt.Add(time.Duration(msFromStart * float64(time.Millisecond)))
}
