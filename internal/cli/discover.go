package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/static"
)

// EnvPluginDir overrides the default provider plugin directory.
const EnvPluginDir = "MESHFED_PLUGIN_DIR"

// maxProviderConfig caps a --provider-config file.
const maxProviderConfig = 1 << 20

// discovery holds the flags that let a provider plugin fill in what the
// user did not say.
type discovery struct {
	pluginDir   string
	configFile  string
	gatewayPort int
}

func (d *discovery) addFlags(f *pflag.FlagSet) {
	f.StringVar(&d.pluginDir, "plugin-dir", defaultPluginDir(), "directory of provider plugins (meshfed-provider-NAME); also $"+EnvPluginDir)
	f.StringVar(&d.configFile, "provider-config", "", "JSON or YAML file with the provider plugin's configuration")
	f.IntVar(&d.gatewayPort, "gateway-port", 0, "with no --gateway-address: ask the provider for this host's addresses and register them with this port")
}

// defaultPluginDir is $MESHFED_PLUGIN_DIR, else the directory of the
// meshfed executable (`make build` puts the plugins beside it).
func defaultPluginDir() string {
	if d := os.Getenv(EnvPluginDir); d != "" {
		return d
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Dir(exe)
}

// needed reports whether the provider must be asked: explicit flags win,
// so only what is empty is discovered.
func (d *discovery) needed(loc *meshfedv1.Locality, addrs []string) bool {
	return loc.GetRegion() == "" || loc.GetZone() == "" || (d.gatewayPort != 0 && len(addrs) == 0)
}

// fill asks loc.Provider's plugin for the locality (and addresses, with
// --gateway-port) and fills the empty fields. A provider with no plugin
// is fine as long as the region was given.
func (d *discovery) fill(ctx context.Context, loc *meshfedv1.Locality, addrs *[]string) error {
	if !d.needed(loc, *addrs) {
		return nil
	}
	if d.gatewayPort < 0 || d.gatewayPort > 65535 {
		return usagef("--gateway-port %d is outside 1-65535", d.gatewayPort)
	}
	cfg := providers.Config{Dir: d.pluginDir, BuiltIns: []providers.BuiltIn{static.BuiltIn()}, Logger: slog.New(slog.DiscardHandler)}
	if d.configFile != "" {
		raw, err := readProviderConfig(d.configFile)
		if err != nil {
			return err
		}
		cfg.Plugins = map[string]providers.PluginConfig{loc.GetProvider(): {Config: raw}}
	}
	cat, err := providers.New(cfg)
	if err != nil {
		return err
	}
	defer cat.Close()
	p, err := cat.Provider(ctx, loc.GetProvider())
	if errors.Is(err, providers.ErrUnknownProvider) {
		if loc.GetRegion() == "" {
			return usagef("--region is required: provider %q has no plugin to discover it (looked for meshfed-provider-%s in %s; set --plugin-dir or pass --region and --zone)",
				loc.GetProvider(), loc.GetProvider(), d.pluginDir)
		}
		return nil // nothing to discover; the zone may stay empty
	}
	if err != nil {
		return fmt.Errorf("provider %q: %w", loc.GetProvider(), err)
	}
	if loc.GetRegion() == "" || loc.GetZone() == "" {
		inst, err := p.Locality(ctx)
		if err != nil {
			return fmt.Errorf("provider %q could not tell where this host runs (pass --region and --zone): %w", loc.GetProvider(), err)
		}
		if loc.Region == "" {
			loc.Region = inst.Locality.Region
		}
		if loc.Zone == "" {
			loc.Zone = inst.Locality.Zone
		}
	}
	if d.gatewayPort != 0 && len(*addrs) == 0 {
		found, err := p.GatewayAddresses(ctx, "")
		if err != nil {
			return fmt.Errorf("provider %q could not tell this host's addresses (pass --gateway-address): %w", loc.GetProvider(), err)
		}
		for _, a := range found {
			*addrs = append(*addrs, net.JoinHostPort(a.Address, strconv.Itoa(d.gatewayPort)))
		}
	}
	return nil
}

func readProviderConfig(path string) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--provider-config: %w", err)
	}
	if len(data) > maxProviderConfig {
		return nil, fmt.Errorf("--provider-config %s: %d bytes is more than the %d allowed", path, len(data), maxProviderConfig)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("--provider-config %s: not JSON or YAML: %w", path, err)
	}
	return js, nil
}
