package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Defaults of Config's zero values.
const (
	DefaultCallTimeout  = 10 * time.Second
	DefaultStartTimeout = 10 * time.Second
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
)

// Config configures a Catalog. Zero values mean the documented defaults.
type Config struct {
	// Dir is the plugin directory: provider NAME runs Dir/meshfed-provider-NAME.
	// Empty means only built-ins can be loaded.
	Dir string
	// Plugins holds per-provider settings, by provider name. A provider
	// that is not listed is loaded with no checksum check and no config.
	Plugins map[string]PluginConfig
	// BuiltIns are the providers compiled into the binary; they win over a
	// plugin binary of the same name.
	BuiltIns []BuiltIn
	// CallTimeout bounds every call to a provider, restarts included.
	// Default DefaultCallTimeout.
	CallTimeout time.Duration
	// StartTimeout bounds starting a plugin process up to its handshake.
	// Default DefaultStartTimeout.
	StartTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before a crashed plugin is
	// restarted; it doubles with each crash not followed by a successful
	// call. Defaults DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Logger receives the catalog's and the plugins' logs. Nil discards them.
	Logger *slog.Logger
	// OnCrash, when set, is called (on the calling goroutine, without locks
	// held) each time a plugin process is found to have crashed.
	OnCrash func(Crash)
}

// PluginConfig is the configuration of one provider.
type PluginConfig struct {
	// SHA256 is the hex SHA-256 the plugin executable must have; empty
	// means it is not checked. Not allowed for built-ins.
	SHA256 string `json:"sha256,omitempty"`
	// Config is the JSON object passed to the provider's Configure; its
	// schema is the provider's. Empty means the provider's defaults.
	Config json.RawMessage `json:"config,omitempty"`
}

// Crash reports one crash of a plugin process.
type Crash struct {
	Plugin    string
	Crashes   int           // crashes of this plugin since the catalog started
	RestartIn time.Duration // back-off before the next start
	Err       error         // what showed the crash
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Catalog loads providers by name and hands out Providers. It starts a
// plugin process on first use and keeps it until Close. Safe for
// concurrent use; the caller stops it with Close.
type Catalog struct {
	cfg      Config
	builtIns map[string]BuiltIn
	sums     map[string][]byte

	mu      sync.Mutex
	loaded  map[string]*handle
	crashes map[string]int
	closed  bool
}

// New checks cfg and returns a Catalog. It starts nothing.
func New(cfg Config) (*Catalog, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{
		cfg:      cfg,
		builtIns: make(map[string]BuiltIn),
		sums:     make(map[string][]byte),
		loaded:   make(map[string]*handle),
		crashes:  make(map[string]int),
	}
	for _, b := range cfg.BuiltIns {
		if !nameRE.MatchString(b.Name) || b.New == nil {
			return nil, fmt.Errorf("providers: built-in %q: needs a name of lowercase letters, digits and '-' and a New function: %w", b.Name, ErrInvalidConfig)
		}
		if _, dup := c.builtIns[b.Name]; dup {
			return nil, fmt.Errorf("providers: built-in %q registered twice: %w", b.Name, ErrInvalidConfig)
		}
		c.builtIns[b.Name] = b
	}
	for name, pc := range cfg.Plugins {
		if err := checkName(name); err != nil {
			return nil, err
		}
		if len(pc.Config) > 0 && !json.Valid(pc.Config) {
			return nil, fmt.Errorf("providers: plugin %q: config is not valid JSON: %w", name, ErrInvalidConfig)
		}
		if pc.SHA256 == "" {
			continue
		}
		if _, ok := c.builtIns[name]; ok {
			return nil, fmt.Errorf("providers: plugin %q is built in; it has no executable to check a sha256 against: %w", name, ErrInvalidConfig)
		}
		sum, err := parseSum(name, pc.SHA256)
		if err != nil {
			return nil, err
		}
		c.sums[name] = sum
	}
	return c, nil
}

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("providers: provider name %q is not valid (lowercase letters, digits and '-', starting with a letter or digit): %w", name, ErrInvalidConfig)
	}
	return nil
}

// Provider returns the provider called name: a built-in, or the plugin
// Dir/meshfed-provider-NAME, started (and configured) now if it is not
// running. It blocks until the plugin is configured or the call deadline
// passes. The Provider stays valid until Close.
func (c *Catalog) Provider(ctx context.Context, name string) (Provider, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if h, ok := c.loaded[name]; ok {
		return h, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	config := []byte(c.cfg.Plugins[name].Config)
	var b backend
	if bi, ok := c.builtIns[name]; ok {
		p, err := startBuiltIn(ctx, bi, config)
		if err != nil {
			return nil, err
		}
		b = p
	} else {
		if c.cfg.Dir == "" {
			return nil, fmt.Errorf("providers: provider %q is not built in and no plugin directory is configured: %w", name, ErrUnknownProvider)
		}
		p := &process{
			name:   name,
			path:   filepath.Join(c.cfg.Dir, BinaryPrefix+name),
			sum:    c.sums[name],
			config: config,
			cfg:    &c.cfg,
			report: c.recordCrash,
		}
		c.mu.Unlock() // starting a process takes a while; recordCrash locks
		_, err := p.get(ctx)
		c.mu.Lock()
		if err != nil {
			p.close()
			return nil, err
		}
		if c.closed {
			p.close()
			return nil, ErrClosed
		}
		if h, ok := c.loaded[name]; ok { // another caller won the race
			p.close()
			return h, nil
		}
		b = p
	}
	h := &handle{name: name, timeout: c.cfg.CallTimeout, b: b}
	c.loaded[name] = h
	return h, nil
}

func (c *Catalog) recordCrash(cr Crash) {
	c.mu.Lock()
	c.crashes[cr.Plugin]++
	c.mu.Unlock()
	if c.cfg.OnCrash != nil {
		c.cfg.OnCrash(cr)
	}
}

// Crashes returns how many times the plugin called name has crashed since
// the catalog was created.
func (c *Catalog) Crashes(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashes[name]
}

// Close stops every plugin process the catalog started and every built-in
// server, and waits for them. Providers fail with ErrClosed afterwards.
// Close is idempotent.
func (c *Catalog) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	loaded := c.loaded
	c.loaded = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range loaded {
		wg.Go(h.b.close)
	}
	wg.Wait()
	return nil
}
