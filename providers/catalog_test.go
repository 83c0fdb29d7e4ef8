package providers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/internal/plugintest"
	"github.com/meshfed/meshfed/providers/static"
)

// pluginDir holds the plugins built once for this test binary.
var pluginDir string

func TestMain(m *testing.M) {
	plugintest.Main(m, &pluginDir, "providers/internal/testplugin=meshfed-provider-test", "providers/example=meshfed-provider-example")
}

// newCatalog returns a catalog over pluginDir whose "test" plugin gets
// config, closed when t ends.
func newCatalog(t *testing.T, cfg providers.Config, testConfig any) *providers.Catalog {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = pluginDir
	}
	if testConfig != nil {
		b, err := json.Marshal(testConfig)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Plugins == nil {
			cfg.Plugins = map[string]providers.PluginConfig{}
		}
		pc := cfg.Plugins["test"]
		pc.Config = b
		cfg.Plugins["test"] = pc
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = 20 * time.Millisecond
	}
	cat, err := providers.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

type loc struct {
	Provider string `json:"provider,omitempty"`
	Region   string `json:"region,omitempty"`
	Zone     string `json:"zone,omitempty"`
}

type testConfig struct {
	Provider    string `json:"provider"`
	Locality    *loc   `json:"locality,omitempty"`
	CrashMarker string `json:"crash_marker,omitempty"`
	SleepMS     int    `json:"sleep_ms,omitempty"`
	Unavailable bool   `json:"unavailable,omitempty"`
}

var good = testConfig{Provider: "aws", Locality: &loc{"aws", "eu-west-1", "eu-west-1a"}}

func wantErr(t *testing.T, err error, sentinel error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
	if !strings.HasPrefix(err.Error(), "providers: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestPluginLocality(t *testing.T) {
	t.Parallel()
	cat := newCatalog(t, providers.Config{}, good)
	p, err := cat.Provider(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Locality(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Instance{Locality: providers.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"}, InstanceID: "i-test"}
	if got != want {
		t.Fatalf("Locality = %+v, want %+v", got, want)
	}
	if _, err := p.DiscoverClusters(t.Context()); !errors.Is(err, providers.ErrUnimplemented) {
		t.Fatalf("DiscoverClusters error = %v, want ErrUnimplemented", err)
	}
}

func TestInvalidReplies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  testConfig
		want string
	}{
		{"another provider", testConfig{Provider: "aws", Locality: &loc{"gcp", "us-central1", ""}}, `"gcp" is not "aws"`},
		{"no locality", testConfig{Provider: "aws"}, "no locality"},
		{"no region", testConfig{Provider: "aws", Locality: &loc{Provider: "aws"}}, "region is empty"},
		{"bad zone", testConfig{Provider: "aws", Locality: &loc{"aws", "eu-west-1", "EU West 1a"}}, `zone "EU West 1a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat := newCatalog(t, providers.Config{}, tc.cfg)
			p, err := cat.Provider(t.Context(), "test")
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Locality(t.Context())
			wantErr(t, err, providers.ErrInvalidReply, `plugin "test"`, tc.want)
		})
	}
}

func TestMissingBinary(t *testing.T) {
	t.Parallel()
	cat := newCatalog(t, providers.Config{}, nil)
	_, err := cat.Provider(t.Context(), "nope")
	wantErr(t, err, providers.ErrUnknownProvider, `plugin "nope"`, filepath.Join(pluginDir, "meshfed-provider-nope"))
}

func TestChecksum(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(pluginDir, "meshfed-provider-test"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	actual := hex.EncodeToString(sum[:])
	wrong := strings.Repeat("ab", 32)

	t.Run("wrong", func(t *testing.T) {
		t.Parallel()
		cat := newCatalog(t, providers.Config{Plugins: map[string]providers.PluginConfig{"test": {SHA256: wrong}}}, good)
		_, err := cat.Provider(t.Context(), "test")
		wantErr(t, err, providers.ErrChecksumMismatch, `plugin "test"`, "meshfed-provider-test", wrong, actual)
	})
	t.Run("right", func(t *testing.T) {
		t.Parallel()
		cat := newCatalog(t, providers.Config{Plugins: map[string]providers.PluginConfig{"test": {SHA256: actual}}}, good)
		p, err := cat.Provider(t.Context(), "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Locality(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("not hex", func(t *testing.T) {
		t.Parallel()
		_, err := providers.New(providers.Config{Plugins: map[string]providers.PluginConfig{"test": {SHA256: "xyz"}}})
		wantErr(t, err, providers.ErrInvalidConfig, `plugin "test"`, `"xyz"`)
	})
}

func TestSlowPlugin(t *testing.T) {
	t.Parallel()
	cfg := good
	cfg.SleepMS = 5000
	cat := newCatalog(t, providers.Config{CallTimeout: 300 * time.Millisecond}, cfg)
	p, err := cat.Provider(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Locality(t.Context())
	wantErr(t, err, providers.ErrTimeout, `plugin "test"`, "Locality", "300ms")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call returned after %s; the deadline is 300ms", d)
	}
	if n := cat.Crashes("test"); n != 0 {
		t.Fatalf("a slow plugin counted as %d crashes", n)
	}
}

// TestCrashMidCall: 1. a plugin exits in the middle of a call; 2. the call
// fails naming the plugin and the crash is reported; 3. the next call waits
// out the back-off, restarts the plugin and succeeds; 4. crashing again
// doubles the back-off.
func TestCrashMidCall(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "crash")
	cfg := good
	cfg.CrashMarker = marker
	crashes := make(chan providers.Crash, 4)
	cat := newCatalog(t, providers.Config{OnCrash: func(c providers.Crash) { crashes <- c }}, cfg)
	p, err := cat.Provider(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}

	// 1, 2.
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = p.Locality(t.Context())
	wantErr(t, err, providers.ErrCrashed, `plugin "test"`, "Locality")
	first := <-crashes
	if first.Plugin != "test" || first.Crashes != 1 || first.RestartIn != 20*time.Millisecond {
		t.Fatalf("crash report = %+v", first)
	}
	if n := cat.Crashes("test"); n != 1 {
		t.Fatalf("Crashes = %d, want 1", n)
	}

	// 3.
	if _, err := p.Locality(t.Context()); err != nil {
		t.Fatalf("after restart: %v", err)
	}

	// 4. Two crashes without a successful call between them.
	for i := range 2 {
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Locality(t.Context()); !errors.Is(err, providers.ErrCrashed) {
			t.Fatalf("crash %d: error = %v", i+2, err)
		}
	}
	second, third := <-crashes, <-crashes
	if second.RestartIn != 20*time.Millisecond || third.RestartIn != 40*time.Millisecond {
		t.Fatalf("back-offs %s, %s; want 20ms (after a success) then 40ms", second.RestartIn, third.RestartIn)
	}
	if _, err := p.Locality(t.Context()); err != nil {
		t.Fatalf("after second restart: %v", err)
	}
}

func TestUnavailableIsNotACrash(t *testing.T) {
	t.Parallel()
	cfg := good
	cfg.Unavailable = true
	cat := newCatalog(t, providers.Config{}, cfg)
	p, err := cat.Provider(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Locality(t.Context())
	wantErr(t, err, providers.ErrUnavailable, `plugin "test"`, "throttled")
	if n := cat.Crashes("test"); n != 0 {
		t.Fatalf("Crashes = %d, want 0", n)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	cat := newCatalog(t, providers.Config{BuiltIns: []providers.BuiltIn{static.BuiltIn()}}, good)
	p, err := cat.Provider(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Provider(t.Context(), "static"); err != nil {
		t.Fatal(err)
	}
	if err := cat.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Locality(t.Context()); !errors.Is(err, providers.ErrClosed) {
		t.Fatalf("Locality after Close = %v, want ErrClosed", err)
	}
	if _, err := cat.Provider(t.Context(), "test"); !errors.Is(err, providers.ErrClosed) {
		t.Fatalf("Provider after Close = %v, want ErrClosed", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  providers.Config
		want string
	}{
		{"bad name", providers.Config{Plugins: map[string]providers.PluginConfig{"../x": {}}}, `"../x"`},
		{"bad json", providers.Config{Plugins: map[string]providers.PluginConfig{"aws": {Config: []byte("{")}}}, `plugin "aws"`},
		{"sha256 of a built-in", providers.Config{BuiltIns: []providers.BuiltIn{static.BuiltIn()}, Plugins: map[string]providers.PluginConfig{"static": {SHA256: strings.Repeat("0", 64)}}}, `"static" is built in`},
		{"built-in twice", providers.Config{BuiltIns: []providers.BuiltIn{static.BuiltIn(), static.BuiltIn()}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providers.New(tc.cfg)
			wantErr(t, err, providers.ErrInvalidConfig, tc.want)
		})
	}
	cat := newCatalog(t, providers.Config{}, nil)
	_, err := cat.Provider(context.Background(), "Bad Name")
	wantErr(t, err, providers.ErrInvalidConfig, `"Bad Name"`)
}
