package tfprovider_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/devca"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestResourcesAndDataSources(t *testing.T) {
	_, schemas := server(t)
	var resources, dataSources []string
	for name := range schemas.ResourceSchemas {
		resources = append(resources, name)
	}
	for name := range schemas.DataSourceSchemas {
		dataSources = append(dataSources, name)
	}
	slices.Sort(resources)
	slices.Sort(dataSources)
	if want := []string{"meshfed_authorization_policy", "meshfed_cluster", "meshfed_failover_policy", "meshfed_trust_domain"}; !slices.Equal(resources, want) {
		t.Errorf("resources = %v, want %v", resources, want)
	}
	if want := []string{"meshfed_cluster", "meshfed_imports"}; !slices.Equal(dataSources, want) {
		t.Errorf("data sources = %v, want %v", dataSources, want)
	}
}

// TestEveryAttributeHasADescription walks every schema, nested attributes
// included: docs/terraform.md and `terraform providers schema` show them.
func TestEveryAttributeHasADescription(t *testing.T) {
	_, schemas := server(t)
	check := func(where string, s *tfprotov6.Schema) {
		if s.Block.Description == "" {
			t.Errorf("%s has no description", where)
		}
		var walk func(prefix string, attrs []*tfprotov6.SchemaAttribute)
		walk = func(prefix string, attrs []*tfprotov6.SchemaAttribute) {
			for _, a := range attrs {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("%s: attribute %s%s has no description", where, prefix, a.Name)
				}
				if a.NestedType != nil {
					walk(prefix+a.Name+".", a.NestedType.Attributes)
				}
			}
		}
		walk("", s.Block.Attributes)
		if len(s.Block.BlockTypes) > 0 {
			t.Errorf("%s uses blocks; use nested attributes", where)
		}
	}
	check("provider", schemas.Provider)
	for name, s := range schemas.ResourceSchemas {
		check("resource "+name, s)
	}
	for name, s := range schemas.DataSourceSchemas {
		check("data source "+name, s)
	}
}

// pki writes a control plane CA, an admin SVID and a token for tests of
// the provider's connection settings.
type pki struct {
	dir, ca, cert, key string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("meshfed.local"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := pki{dir: dir, ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "admin.pem"), key: filepath.Join(dir, "admin-key.pem")}
	if err := ca.WriteBundlePEM(p.ca); err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueSVID(spiffeid.RequireFromString("spiffe://meshfed.local/meshfed/admin/local"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := devca.WriteSVID(p.cert, p.key, svid); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a meshfed.yaml with relative paths, as
// `meshfed controlplane` does.
func (p pki) writeConfig(t *testing.T, name string, cfg client.Config) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigure(t *testing.T) {
	p := newPKI(t)
	const serverID = "spiffe://meshfed.local/meshfed/controlplane"
	full := p.writeConfig(t, "meshfed.yaml", client.Config{Server: "127.0.0.1:15012", CA: "ca.pem", ServerID: serverID, Cert: "admin.pem", Key: "admin-key.pem"})
	noCreds := p.writeConfig(t, "nocreds.yaml", client.Config{Server: "127.0.0.1:15012", CA: "ca.pem", ServerID: serverID, Token: "x"})
	broken := filepath.Join(p.dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("server: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(p.dir, "missing.yaml")
	for _, tc := range []struct {
		name   string
		env    string // $MESHFED_CONFIG
		config map[string]any
		want   []want
	}{
		{"config_path", "", map[string]any{"config_path": full}, nil},
		{"$MESHFED_CONFIG", full, map[string]any{}, nil},
		{"config_path wins over $MESHFED_CONFIG", missing, map[string]any{"config_path": full}, nil},
		{"attributes only", "", map[string]any{
			"server": "127.0.0.1:15012", "ca_file": p.ca, "server_id": serverID, "token": "secret",
		}, nil},
		{"attributes override the file", "", map[string]any{"config_path": noCreds, "cert_file": p.cert, "key_file": p.key, "timeout": "5s"}, nil},
		{"token overrides the file's certificate", "", map[string]any{"config_path": full, "token": "secret"}, nil},
		{"missing config_path", "", map[string]any{"config_path": missing},
			[]want{{"config_path", "config_path names " + missing + ", which does not exist"}}},
		{"missing $MESHFED_CONFIG", missing, map[string]any{},
			[]want{{"config_path", "$MESHFED_CONFIG names " + missing + ", which does not exist"}}},
		{"broken config file", "", map[string]any{"config_path": broken},
			[]want{{"config_path", "Reading " + broken}}},
		{"no server", "", map[string]any{"ca_file": p.ca, "server_id": serverID, "token": "t"},
			[]want{{"server", "set server to its host:port"}}},
		{"no ca", "", map[string]any{"server": "127.0.0.1:1", "server_id": serverID, "token": "t"},
			[]want{{"ca_file", "set ca_file to a PEM file"}}},
		{"no server id", "", map[string]any{"server": "127.0.0.1:1", "ca_file": p.ca, "token": "t"},
			[]want{{"server_id", "set server_id"}}},
		{"no credentials", "", map[string]any{"server": "127.0.0.1:1", "ca_file": p.ca, "server_id": serverID},
			[]want{{"token", "set token to the admin token, or cert_file and key_file"}}},
		{"unreadable ca", "", map[string]any{"server": "127.0.0.1:1", "ca_file": missing, "server_id": serverID, "token": "t"},
			[]want{{"", "Check ca_file, cert_file and key_file"}}},
		{"unknown server", "", map[string]any{"config_path": full, "server": unknown{}},
			[]want{{"server", "its value is only known after apply"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The default config path must not be found on this machine.
			t.Setenv("HOME", t.TempDir())
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			t.Setenv(client.EnvConfig, tc.env)
			checkErrors(t, configureProvider(t, tc.config), tc.want)
		})
	}
}
