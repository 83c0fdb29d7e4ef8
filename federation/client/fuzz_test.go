package client_test

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/client"
)

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"server: cp.example.org:8443\nca: ca.pem\nserver_id: spiffe://meshfed.local/meshfed/controlplane\ncert: svid.pem\nkey: svid.key\n",
		"server: 127.0.0.1:8443\nca: /etc/meshfed/ca.pem\nserver_id: spiffe://meshfed.local/meshfed/controlplane\ntoken: s3cr3t\n",
		`{"server":"[::1]:8443","ca":"ca.pem","server_id":"spiffe://meshfed.local/cp","token":"t"}`,
		"server: cp:8443\nca: ca.pem\nserver_id: \"spiffe://td/cp\"\ntoken: &t tok\ncert: *t\nkey: *t\n",
		"# comment only\n",
		"",
		"null",
		"[]",
		"server: cp:8443\n",
		"server: cp:8443\nca: ca.pem\nserver_id: https://td/cp\ntoken: t\n",
		"server: cp:8443\nca: ca.pem\nserver_id: spiffe://td/cp\ncert: svid.pem\n",
		"server: cp:8443\nca: ca.pem\nserver_id: spiffe://td/cp\n",
		"server: cp:8443\nca: ca.pem\nserver_id: spiffe://td/cp\ntoken: t\nextra: 1\n",
		"server: cp:8443\nserver: other:8443\nca: ca.pem\nserver_id: spiffe://td/cp\ntoken: t\n",
		"server: [cp]\nca: ca.pem\nserver_id: spiffe://td/cp\ntoken: t\n",
		"server: 8443\nca: ca.pem\nserver_id: spiffe://td/cp\ntoken: 123\n",
		"server: cp:8443\n\tca: ca.pem\n",
		"a: &a [*a, *a]\n",
		"server: !!binary Y3A6ODQ0Mw==\nca: ca.pem\nserver_id: spiffe://td/cp\ntoken: t\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := client.Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a config and error %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a config that does not validate: %v", data, err)
		}
		if cfg.Server == "" || cfg.CA == "" || !strings.HasPrefix(cfg.ServerID, "spiffe://") ||
			(cfg.Cert == "") != (cfg.Key == "") || cfg.Cert == "" && cfg.Token == "" {
			t.Fatalf("Parse(%q) accepted %+v", data, cfg)
		}
		// What Save writes is read back as the same config.
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("accepted config %+v does not marshal: %v", cfg, err)
		}
		again, err := client.Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but not its re-encoding %q: %v", data, out, err)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("re-encoding %q of %q reads as %+v, want %+v", out, data, again, cfg)
		}
	})
}
