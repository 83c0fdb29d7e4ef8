package ha_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/test/etcdcluster"
)

// meshfedBinary builds cmd/meshfed once for this test binary.
func meshfedBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "meshfed")
	cmd := exec.Command("go", "build", "-o", out, "github.com/meshfed/meshfed/cmd/meshfed")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build meshfed: %v\n%s", err, b)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replica is a control plane run as a child process.
type replica struct {
	name   string
	config string // its admin CLI config
	http   string // its /metrics address
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	exited chan struct{}
}

func startReplica(t *testing.T, bin, name, pkiDir string, endpoints []string) *replica {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), name)
	r := &replica{name: name, addr: freeAddr(t), http: freeAddr(t), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, "controlplane",
		"--data-dir", dataDir, "--pki-dir", pkiDir,
		"--listen", r.addr, "--http-listen", r.http,
		"--etcd-endpoints", strings.Join(endpoints, ","),
		"--replica-name", name, "--write-user-config=false", "--log-level", "warn")
	r.cmd.Stderr = &lockedWriter{w: r.stderr}
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		r.cmd.Process.Kill() // by PID: only this child
		<-r.exited
		if t.Failed() {
			t.Logf("replica %s stderr:\n%s", name, r.stderr.String())
		}
	})
	// Ready when its admin config exists and the API answers.
	cfgPath := filepath.Join(dataDir, "meshfed.yaml")
	r.config = cfgPath
	deadline := time.Now().Add(30 * time.Second)
	for {
		if cfg, err := client.Load(cfgPath); err == nil {
			c, err := client.Dial(cfg)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err = c.Admin.ListClusters(ctx, &meshfedv1.ListClustersRequest{})
				cancel()
				c.Close()
				if err == nil {
					return r
				}
			}
		}
		select {
		case <-r.exited:
			t.Fatalf("replica %s exited: %s", name, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not ready after 30s: %s", name, r.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leads reports whether the replica's /metrics says it leads the compactor.
func (r *replica) leads(t *testing.T) bool {
	t.Helper()
	resp, err := http.Get("http://" + r.http + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), `meshfed_leader{job="compactor"} 1`)
}

func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.exited
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestSurvivesEtcdLeaderAndReplicaKill is the HA scenario:
//
//  1. start a 3-member etcd cluster and two control-plane replicas;
//  2. register a cluster and start watchers on both replicas and a writer
//     that fails over between them;
//  3. SIGKILL the etcd leader, then one replica, while writes go on;
//  4. stop writing and check that every acknowledged write is in etcd and
//     that every watcher converges to exactly the acknowledged set, having
//     seen versions only ever increase.
func TestSurvivesEtcdLeaderAndReplicaKill(t *testing.T) {
	if testing.Short() {
		t.Skip("HA suite: real etcd cluster and replica processes")
	}
	testStart := time.Now()
	bin := meshfedBinary(t)
	etcd := etcdcluster.Start(t, 3)
	pkiDir := filepath.Join(t.TempDir(), "pki")

	// 1. Two replicas sharing one PKI.
	r1 := startReplica(t, bin, "r1", pkiDir, etcd.Endpoints())
	r2 := startReplica(t, bin, "r2", pkiDir, etcd.Endpoints())
	cfg, err := client.Load(r1.config)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*client.Conn, 2)
	for i, r := range []*replica{r1, r2} {
		c := *cfg
		c.Server = r.addr
		if conns[i], err = client.Dial(&c); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := conns[0].Admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &meshfedv1.Cluster{
		Name: "eu-1", TrustDomain: "eu-1.test", Locality: &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1"}}}); err != nil {
		t.Fatal(err)
	}

	// 2. Watchers: one starting on each replica, each failing over to the other.
	type watcher struct {
		state *client.State
		mu    sync.Mutex
		err   error
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchers := []*watcher{{state: client.NewState()}, {state: client.NewState()}}
	var wg sync.WaitGroup
	for i, w := range watchers {
		clients := []meshfedv1.GatewayServiceClient{conns[i].Gateway, conns[1-i].Gateway}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := client.Follow(watchCtx, client.FollowConfig{Cluster: "eu-1", Clients: clients, State: w.state,
				MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
				OnUpdate: func(*meshfedv1.WatchResponse) {}, Lock: &w.mu})
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
		}()
	}

	// Writer: one export per write, round-robin over live replicas.
	acked := map[string]int64{}
	var ackMu sync.Mutex
	writeCtx, stopWrites := context.WithCancel(ctx)
	writerDone := make(chan int)
	go func() {
		failures := 0
		for i := 0; i < 5000 && writeCtx.Err() == nil; i++ {
			name := fmt.Sprintf("svc-%04d", i)
			for attempt := 0; writeCtx.Err() == nil; attempt++ {
				c := conns[attempt%2]
				wctx, wcancel := context.WithTimeout(writeCtx, 2*time.Second)
				resp, err := c.Gateway.PublishExports(wctx, &meshfedv1.PublishExportsRequest{Cluster: "eu-1",
					Upserts: []*meshfedv1.Export{{Namespace: "demo", Name: name, Ports: []*meshfedv1.ServicePort{{Port: 80}}}}})
				wcancel()
				if err == nil && resp.GetResults()[0].GetOk() {
					ackMu.Lock()
					acked["demo/"+name] = resp.GetResults()[0].GetVersion()
					ackMu.Unlock()
					break
				}
				failures++
			}
			time.Sleep(2 * time.Millisecond)
		}
		writerDone <- failures
	}()

	waitAcked := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ackMu.Lock()
			got := len(acked)
			ackMu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged, waiting for %d", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 3. Faults.
	waitAcked(50)
	leader, err := etcd.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: killing etcd leader member %d", time.Since(testStart), leader)
	etcd.Kill(leader)
	ackMu.Lock()
	n := len(acked)
	ackMu.Unlock()
	waitAcked(n + 50)
	// Exactly one replica leads the singleton compactor.
	leaders := func() (n int, r2Leads bool) {
		for _, r := range []*replica{r1, r2} {
			if r.leads(t) {
				n++
				r2Leads = r == r2
			}
		}
		return n, r2Leads
	}
	deadline := time.Now().Add(20 * time.Second)
	for n, _ := leaders(); n != 1; n, _ = leaders() {
		if time.Now().After(deadline) {
			t.Fatalf("%d replicas lead the compactor, want exactly 1", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%v: killing replica r1", time.Since(testStart))
	r1.kill(t)
	ackMu.Lock()
	n = len(acked)
	ackMu.Unlock()
	waitAcked(n + 50)
	stopWrites()
	failures := <-writerDone
	t.Logf("%v: writes stopped", time.Since(testStart))
	// The survivor leads once r1's election lease (5 s) has expired.
	deadline = time.Now().Add(20 * time.Second)
	for !r2.leads(t) {
		if time.Now().After(deadline) {
			t.Fatal("replica r2 did not take over the compactor after r1 died")
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("%v: r2 leads", time.Since(testStart))
	// 4. Nothing acknowledged is lost, and watchers converge.
	exports, err := conns[1].Admin.ListExports(ctx, &meshfedv1.ListExportsRequest{Cluster: "eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	inStore := map[string]bool{}
	for _, e := range exports.GetExports() {
		inStore[e.GetNamespace()+"/"+e.GetName()] = true
	}
	ackMu.Lock()
	defer ackMu.Unlock()
	for k := range acked {
		if !inStore[k] {
			t.Errorf("acknowledged write %s is not in etcd", k)
		}
	}
	t.Logf("%d writes acknowledged, %d failed attempts (retried), %d in etcd", len(acked), failures, len(inStore))

	deadline = time.Now().Add(30 * time.Second)
	for i, w := range watchers {
		for {
			w.mu.Lock()
			have, werr := 0, w.err
			for k := range inStore {
				if _, ok := w.state.Imports[k]; ok {
					have++
				}
			}
			extra := len(w.state.Imports) - have
			snaps, version := w.state.Snapshots, w.state.Version
			w.mu.Unlock()
			if werr != nil {
				t.Fatalf("watcher %d stopped: %v", i, werr)
			}
			if have == len(inStore) && extra == 0 {
				t.Logf("watcher %d converged at version %d after %d snapshot(s)", i, version, snaps)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("watcher %d has %d of %d imports (+%d unknown) at version %d", i, have, len(inStore), extra, version)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopWatch()
	wg.Wait()
	for i, w := range watchers {
		if w.err != nil && !errors.Is(w.err, context.Canceled) {
			t.Errorf("watcher %d: %v", i, w.err)
		}
	}
}
