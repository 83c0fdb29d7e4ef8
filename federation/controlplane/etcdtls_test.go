package controlplane_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// startTLSEtcd runs an etcd whose client port requires TLS client
// certificates issued by ca, and returns its client URL.
func startTLSEtcd(t *testing.T, ca *devca.CA, dir string) string {
	t.Helper()
	serverCert, serverKey := filepath.Join(dir, "etcd.pem"), filepath.Join(dir, "etcd-key.pem")
	svid, err := ca.IssueSVID(spiffeid.RequireFromPath(ca.TrustDomain(), "/etcd"), time.Hour,
		devca.SVIDOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := devca.WriteSVID(serverCert, serverKey, svid); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "etcd-ca.pem")
	if err := ca.WriteBundlePEM(caFile); err != nil {
		t.Fatal(err)
	}
	free := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return url.URL{Scheme: "https", Host: l.Addr().String()}
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cu, pu := free(), free()
	pu.Scheme = "http"
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = serverCert, serverKey
	cfg.ClientTLSInfo.TrustedCAFile = caFile
	cfg.ClientTLSInfo.ClientCertAuth = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("TLS etcd not ready")
	}
	return cu.String()
}

func TestExternalEtcdWithClientTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("etcd.test"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := startTLSEtcd(t, ca, dir)
	clientCert, clientKey := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	svid, err := ca.IssueSVID(spiffeid.RequireFromPath(ca.TrustDomain(), "/meshfed"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := devca.WriteSVID(clientCert, clientKey, svid); err != nil {
		t.Fatal(err)
	}

	// With the right client certificate the replica serves.
	r := startReplica(t, controlplane.Config{DataDir: t.TempDir(), EtcdEndpoints: []string{endpoint},
		EtcdCertFile: clientCert, EtcdKeyFile: clientKey, EtcdCAFile: filepath.Join(dir, "etcd-ca.pem")})
	if _, err := dial(t, r.cfg).Admin.PutCluster(ctx(t), &meshfedv1.PutClusterRequest{Cluster: clusterRecord("eu-1")}); err != nil {
		t.Fatal(err)
	}

	// Without one, etcd refuses the replica: it reports the failed load
	// and does not become ready.
	logs := &syncBuffer{}
	cp, err := controlplane.New(controlplane.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		EtcdEndpoints: []string{endpoint}, EtcdCAFile: filepath.Join(dir, "etcd-ca.pem"),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cp.Run(runCtx) }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(logs.String(), "load failed") {
		select {
		case <-cp.Ready():
			t.Fatal("replica without an etcd client certificate became ready")
		case err := <-done:
			t.Fatalf("Run returned %v; want it to keep retrying", err)
		case <-deadline:
			t.Fatalf("no failed load reported after 30s; logs:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case <-cp.Ready():
		t.Fatal("replica without an etcd client certificate became ready")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
