package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config configures an embedded etcd. Dir is required.
type Config struct {
	// Dir holds etcd's data (Dir/etcd) and log (Dir/etcd.log).
	Dir string
	// ClientAddr is the loopback host:port clients connect to; empty picks
	// a free port on 127.0.0.1.
	ClientAddr string
	// StartTimeout bounds how long Start waits for etcd to be ready; zero
	// means 30 s.
	StartTimeout time.Duration
}

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	endpoint  string
	closeOnce sync.Once
}

// Start starts etcd and blocks until it serves or ctx is done. The caller
// must Close the returned Server.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedetcd: Config.Dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedetcd: %w", err)
	}
	clientAddr := cfg.ClientAddr
	if clientAddr == "" {
		var err error
		if clientAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	peerAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	ec := embed.NewConfig()
	ec.Name = "meshfed"
	ec.Dir = filepath.Join(cfg.Dir, "etcd")
	ec.Logger = "zap"
	ec.LogLevel = "error"
	ec.LogOutputs = []string{filepath.Join(cfg.Dir, "etcd.log")}
	cu := url.URL{Scheme: "http", Host: clientAddr}
	pu := url.URL{Scheme: "http", Host: peerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	// A restarted member keeps its old peer URL in its WAL; let it start on
	// the new one since it is the only member.
	ec.ForceNewCluster = memberExists(ec.Dir)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: start in %s: %w (is another control plane using this --data-dir?)", cfg.Dir, err)
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return &Server{etcd: e, endpoint: cu.String()}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedetcd: %w", err)
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("embedetcd: not ready after %v; see %s", timeout, ec.LogOutputs[0])
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}

// Endpoints returns the client URLs to give clientv3.
func (s *Server) Endpoints() []string { return []string{s.endpoint} }

// Err reports a fatal etcd error after Start.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops etcd and waits for it. It is safe to call more than once.
func (s *Server) Close() { s.closeOnce.Do(s.etcd.Close) }

func memberExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "member", "wal"))
	return err == nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("embedetcd: pick a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
