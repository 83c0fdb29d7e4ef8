package static_test

import (
	"testing"

	"github.com/meshfed/meshfed/providers/static"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"empty", ``, true},
		{"full", `{"provider":"onprem","region":"dc1","gateway_addresses":[{"address":"10.0.0.1","kind":"private"}],"clusters":[{"name":"b","provider":"onprem","region":"dc2"}]}`, true},
		{"unknown field", `{"provider":"onprem","regoin":"dc1"}`, false},
		{"provider without region", `{"provider":"onprem"}`, false},
		{"bad kind", `{"gateway_addresses":[{"address":"10.0.0.1","kind":"internal"}]}`, false},
		{"cluster without region", `{"clusters":[{"name":"b","provider":"onprem"}]}`, false},
		{"trailing data", `{} {}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := static.ParseConfig([]byte(tc.doc))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseConfig(%s) error = %v, want ok=%v", tc.doc, err, tc.ok)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"provider":"onprem","region":"dc1","gateway_addresses":[{"cluster":"x","address":"gw","kind":"public"}]}`))
	f.Add([]byte(`{"clusters":[{"name":"","provider":"a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := static.ParseConfig(b)
		if err != nil {
			return
		}
		for _, a := range c.GatewayAddresses {
			if a.Kind != "public" && a.Kind != "private" {
				t.Fatalf("accepted kind %q", a.Kind)
			}
		}
	})
}
