package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"sigs.k8s.io/yaml"
)

// EnvConfig names the environment variable holding the config file path.
const EnvConfig = "MESHFED_CONFIG"

// MaxConfigBytes caps the size of a config file.
const MaxConfigBytes = 1 << 20

// Config is the CLI's view of one control plane, as kept in meshfed.yaml.
// Relative paths are relative to the file's directory.
type Config struct {
	// Server is the control plane's gRPC address, host:port.
	Server string `json:"server"`
	// CA is a PEM file of the control plane's trust domain CA certificates.
	CA string `json:"ca"`
	// ServerID is the control plane's SPIFFE ID, e.g.
	// spiffe://meshfed.local/meshfed/controlplane.
	ServerID string `json:"server_id"`
	// Cert and Key are the client's X.509-SVID (PEM); or set Token.
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// Token is an admin bearer token, used when Cert is empty.
	Token string `json:"token,omitempty"`
}

// DefaultPath returns $MESHFED_CONFIG, or meshfed/meshfed.yaml under the
// user config directory.
func DefaultPath() string {
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "meshfed.yaml"
	}
	return filepath.Join(dir, "meshfed", "meshfed.yaml")
}

// Load reads and validates a config file; relative paths in it are made
// absolute.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("client: no config at %s: start `meshfed controlplane` (it writes one into its --data-dir) and set %s to it, or pass --server and credentials", path, EnvConfig)
		}
		return nil, fmt.Errorf("client: %w", err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("client: config %s is %d bytes, more than the %d allowed", path, len(data), MaxConfigBytes)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("client: config %s: %w", path, err)
	}
	cfg.resolve(filepath.Dir(path))
	return cfg, nil
}

// Parse decodes a config document strictly (unknown fields are errors) and
// validates it.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate checks that the config can be used to dial.
func (c *Config) Validate() error {
	switch {
	case c.Server == "":
		return errors.New(`field "server" is empty: set it to the control plane's host:port`)
	case c.CA == "":
		return errors.New(`field "ca" is empty: set it to the control plane's CA bundle (PEM)`)
	case c.ServerID == "":
		return errors.New(`field "server_id" is empty: set it to the control plane's SPIFFE ID`)
	case (c.Cert == "") != (c.Key == ""):
		return errors.New(`fields "cert" and "key" must be set together`)
	case c.Cert == "" && c.Token == "":
		return errors.New(`no credentials: set "cert" and "key", or "token"`)
	}
	if _, err := spiffeid.FromString(c.ServerID); err != nil {
		return fmt.Errorf(`field "server_id" %q is not a SPIFFE ID (spiffe://trust-domain/path): %v`, c.ServerID, err)
	}
	return nil
}

func (c *Config) resolve(dir string) {
	for _, p := range []*string{&c.CA, &c.Cert, &c.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Save writes the config as YAML (mode 0600, since it may hold a token).
func (c *Config) Save(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}
