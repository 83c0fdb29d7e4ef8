package tfprovider

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/meshfed/meshfed/federation/client"
)

// DefaultTimeout bounds each call to the control plane when the provider
// block sets no timeout.
const DefaultTimeout = 30 * time.Second

// settings are the provider block's connection attributes, known and
// with nulls as empty strings. Non-empty values override the fields of
// the config file, as the CLI's flags do.
type settings struct {
	ConfigPath string
	Server     string
	CAFile     string
	ServerID   string
	Token      string
	CertFile   string
	KeyFile    string
	Timeout    string
}

// settingsError is a problem with the provider configuration, attached to
// the attribute that causes it.
type settingsError struct {
	Path    path.Path
	Summary string
	Detail  string
}

func (e *settingsError) Error() string { return e.Summary + ": " + e.Detail }

// resolve merges the config file with the provider attributes the way the
// CLI merges it with its flags. The file is config_path, else
// $MESHFED_CONFIG, else meshfed/meshfed.yaml under the user config
// directory; a missing file is an error only when it was named (by
// config_path or $MESHFED_CONFIG) or when the attributes do not say
// enough on their own.
func resolve(s settings) (*client.Config, time.Duration, error) {
	timeout := DefaultTimeout
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			return nil, 0, &settingsError{path.Root("timeout"), "Invalid timeout",
				fmt.Sprintf("timeout %q is not a positive duration: write it as Go durations are written, for example \"30s\" or \"2m\".", s.Timeout)}
		}
		timeout = d
	}

	cfgPath, named, attr := s.ConfigPath, s.ConfigPath != "", "config_path"
	if !named {
		cfgPath, named = client.DefaultPath(), os.Getenv(client.EnvConfig) != ""
		attr = "$" + client.EnvConfig
	}
	cfg := &client.Config{}
	_, statErr := os.Stat(cfgPath)
	missing := errors.Is(statErr, fs.ErrNotExist)
	switch {
	case missing && named:
		return nil, 0, &settingsError{path.Root("config_path"), "meshfed config file not found",
			fmt.Sprintf("%s names %s, which does not exist. `meshfed controlplane` writes an admin config (meshfed.yaml) into its --data-dir: point config_path (or $%s) at it, or leave both unset and give server, ca_file, server_id and token or cert_file/key_file.",
				attr, cfgPath, client.EnvConfig)}
	case !missing:
		loaded, err := client.Load(cfgPath)
		if err != nil {
			return nil, 0, &settingsError{path.Root("config_path"), "Invalid meshfed config file",
				fmt.Sprintf("Reading %s (from %s): %v", cfgPath, attr, err)}
		}
		cfg = loaded
	}

	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&cfg.Server, s.Server}, {&cfg.CA, s.CAFile}, {&cfg.ServerID, s.ServerID},
		{&cfg.Cert, s.CertFile}, {&cfg.Key, s.KeyFile}, {&cfg.Token, s.Token},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if s.Token != "" && s.CertFile == "" {
		// A token in the provider block beats a certificate from the file.
		cfg.Cert, cfg.Key = "", ""
	}

	from := fmt.Sprintf("the provider block or the config file %s", cfgPath)
	if missing {
		from = fmt.Sprintf("the provider block (no config file at %s)", cfgPath)
	}
	switch {
	case cfg.Server == "":
		return nil, 0, &settingsError{path.Root("server"), "Missing control plane address",
			fmt.Sprintf("Neither %s gives the control plane's address: set server to its host:port (for example \"127.0.0.1:15012\"), or config_path to the meshfed.yaml that `meshfed controlplane` wrote.", from)}
	case cfg.CA == "":
		return nil, 0, &settingsError{path.Root("ca_file"), "Missing control plane CA",
			fmt.Sprintf("Neither %s names the control plane's CA certificates: set ca_file to a PEM file of them (ca.pem in the control plane's PKI directory).", from)}
	case cfg.ServerID == "":
		return nil, 0, &settingsError{path.Root("server_id"), "Missing control plane SPIFFE ID",
			fmt.Sprintf("Neither %s gives the control plane's SPIFFE ID: set server_id, for example \"spiffe://meshfed.local/meshfed/controlplane\".", from)}
	case cfg.Cert == "" && cfg.Token == "":
		return nil, 0, &settingsError{path.Root("token"), "Missing credentials",
			fmt.Sprintf("Neither %s holds admin credentials: set token to the admin token, or cert_file and key_file to an admin X.509-SVID.", from)}
	case (cfg.Cert == "") != (cfg.Key == ""):
		return nil, 0, &settingsError{path.Root("key_file"), "Incomplete client certificate",
			fmt.Sprintf("cert_file %q and key_file %q must be set together (from %s).", cfg.Cert, cfg.Key, from)}
	}
	if err := cfg.Validate(); err != nil {
		return nil, 0, &settingsError{path.Root("server_id"), "Invalid control plane settings", err.Error()}
	}
	return cfg, timeout, nil
}
