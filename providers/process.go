package providers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/internal/backoff"
	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// process runs one external plugin. It starts the executable on first use,
// notices when it has crashed, and restarts it with exponential back-off:
// the first call after a crash waits out the back-off (bounded by its own
// deadline) and starts a fresh process, configured again.
type process struct {
	name   string
	path   string
	sum    []byte // expected SHA-256; nil: not checked
	config []byte
	cfg    *Config
	report func(Crash)

	mu          sync.Mutex
	client      *plugin.Client // nil when no process runs
	cur         conn
	crashes     int // total, for Crash reports
	consecutive int // crashes since the last successful call
	retryAt     time.Time
	closed      bool
}

var _ backend = (*process)(nil)

func (p *process) get(ctx context.Context) (conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return conn{}, fmt.Errorf("providers: plugin %q: %w", p.name, ErrClosed)
		}
		var crash *Crash
		if p.client != nil && p.client.Exited() {
			crash = p.crashedLocked(errors.New("plugin process exited"))
		}
		if p.client != nil {
			c := p.cur
			p.mu.Unlock()
			return c, nil
		}
		wait := time.Until(p.retryAt)
		if wait <= 0 {
			c, err := p.startLocked(ctx)
			p.mu.Unlock()
			p.reportCrash(crash)
			return c, err
		}
		p.mu.Unlock()
		p.reportCrash(crash)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return conn{}, fmt.Errorf("providers: plugin %q: crashed, restart backs off for %s: %w", p.name, wait.Round(time.Millisecond), ErrCrashed)
		case <-t.C:
		}
	}
}

func (p *process) failed(c conn, err error) error {
	if status.Code(err) != codes.Unavailable {
		return nil
	}
	p.mu.Lock()
	if p.client == nil || p.cur.rpc != c.rpc {
		p.mu.Unlock()
		return fmt.Errorf("plugin process exited during the call: %w: %w", callError(err), ErrCrashed)
	}
	if !p.client.Exited() && p.aliveLocked() {
		p.mu.Unlock()
		return nil // the plugin says the cloud is unavailable
	}
	crash := p.crashedLocked(err)
	p.mu.Unlock()
	p.reportCrash(crash)
	return fmt.Errorf("plugin process exited during the call (crash %d, restarting in %s): %w", crash.Crashes, crash.RestartIn, ErrCrashed)
}

func (p *process) ok() {
	p.mu.Lock()
	p.consecutive = 0
	p.mu.Unlock()
}

func (p *process) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.client != nil {
		p.client.Kill()
		p.client = nil
	}
}

// aliveLocked asks go-plugin's health service whether the process still
// answers.
func (p *process) aliveLocked() bool {
	rpc, err := p.client.Client()
	if err != nil {
		return false
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		return rpc.Ping() == nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(gc.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err == nil
}

// crashedLocked records a crash, reaps the process and schedules the
// restart.
func (p *process) crashedLocked(cause error) *Crash {
	p.client.Kill() // reaps the dead process and go-plugin's goroutines
	p.client, p.cur = nil, conn{}
	p.crashes++
	p.consecutive++
	wait := backoff.Delay(p.cfg.BackoffMin, p.cfg.BackoffMax, p.consecutive)
	p.retryAt = time.Now().Add(wait)
	return &Crash{Plugin: p.name, Crashes: p.crashes, RestartIn: wait, Err: cause}
}

func (p *process) reportCrash(c *Crash) {
	if c == nil {
		return
	}
	p.cfg.Logger.Warn("provider plugin crashed; restarting with back-off",
		logPlugin, c.Plugin, logCrashes, c.Crashes, logRestart, c.RestartIn, logError, c.Err)
	if p.report != nil {
		p.report(*c)
	}
}

// startLocked starts and configures the plugin process.
func (p *process) startLocked(ctx context.Context) (conn, error) {
	fi, err := os.Stat(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return conn{}, fmt.Errorf("providers: plugin %q: no executable %s (install the plugin there or change the plugin directory): %w", p.name, p.path, ErrUnknownProvider)
	}
	if err != nil {
		return conn{}, fmt.Errorf("providers: plugin %q: %w", p.name, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return conn{}, fmt.Errorf("providers: plugin %q: %s is not an executable file (mode %s)", p.name, p.path, fi.Mode())
	}
	var secure *plugin.SecureConfig
	if p.sum != nil {
		// go-plugin checks the file right before it runs it.
		secure = &plugin.SecureConfig{Checksum: p.sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{PluginName: &GRPCPlugin{}},
		Cmd:              exec.Command(p.path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SecureConfig:     secure,
		StartTimeout:     p.cfg.StartTimeout,
		Logger:           hclogFor(p.cfg.Logger, p.name),
		SyncStdout:       io.Discard,
		SyncStderr:       io.Discard,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return conn{}, fmt.Errorf("providers: plugin %q: %s has SHA-256 %s, configuration expects %s (reinstall the plugin or update its sha256): %w",
				p.name, p.path, fileSum(p.path), hex.EncodeToString(p.sum), ErrChecksumMismatch)
		}
		return conn{}, fmt.Errorf("providers: plugin %q: start %s: %w", p.name, p.path, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		client.Kill()
		return conn{}, fmt.Errorf("providers: plugin %q: %w", p.name, err)
	}
	prpc, ok := raw.(providersv1.ProviderClient)
	if !ok {
		client.Kill()
		return conn{}, fmt.Errorf("providers: plugin %q: dispensed %T, not a provider client", p.name, raw)
	}
	provider, err := configure(ctx, p.name, prpc, p.config)
	if err != nil {
		client.Kill()
		return conn{}, err
	}
	p.client = client
	p.cur = conn{rpc: prpc, provider: provider}
	p.cfg.Logger.Debug("provider plugin started", logPlugin, p.name)
	return p.cur, nil
}

func fileSum(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parseSum parses a configured hex SHA-256.
func parseSum(name, s string) ([]byte, error) {
	sum, err := hex.DecodeString(string(bytes.TrimSpace([]byte(s))))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("providers: plugin %q: sha256 %q is not 64 hex digits: %w", name, s, ErrInvalidConfig)
	}
	return sum, nil
}
