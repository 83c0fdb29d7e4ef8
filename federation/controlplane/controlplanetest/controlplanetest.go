// Package controlplanetest runs a real control plane (embedded etcd,
// mutual TLS, gRPC) inside a test process, the way net/http/httptest runs
// a real HTTP server.
package controlplanetest

import (
	"context"
	"testing"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/controlplane"
)

// Server is a control plane started for one test.
type Server struct {
	CP *controlplane.ControlPlane
	// Config is the admin CLI config it wrote, loaded.
	Config *client.Config
	// ConfigPath is where that config is.
	ConfigPath string

	stop func()
}

// Start runs a control plane with cfg; empty Listen and HTTPListen pick
// free loopback ports, and an empty DataDir a temporary one. It fails the
// test if the control plane is not ready within 30 s, and stops it when
// the test ends.
func Start(t testing.TB, cfg controlplane.Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = "127.0.0.1:0"
	}
	cp, err := controlplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	select {
	case <-cp.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("controlplanetest: stopped before ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatal("controlplanetest: not ready after 30s")
	}
	s := &Server{CP: cp, ConfigPath: cp.AdminConfigPath()}
	var stopped bool
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controlplanetest: Run: %v", err)
		}
	}
	t.Cleanup(s.stop)
	if s.Config, err = client.Load(s.ConfigPath); err != nil {
		t.Fatal(err)
	}
	return s
}

// Stop stops the control plane and waits for it; it is safe to call more
// than once.
func (s *Server) Stop() { s.stop() }

// Dial returns an admin connection, closed when the test ends.
func (s *Server) Dial(t testing.TB) *client.Conn {
	t.Helper()
	c, err := client.Dial(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
