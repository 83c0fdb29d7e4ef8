package cli_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/cli"
	"github.com/meshfed/meshfed/internal/devca"
	"github.com/meshfed/meshfed/internal/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// run runs the CLI with args and returns its exit status and output.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemCerts(certs ...*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

// TestBadInputFailsBeforeDialing checks that bad input is refused with a
// message naming the bad value, before the CLI looks for a control plane:
// the config named by --config does not exist, so any command that got as
// far as connecting would say "no config at".
func TestBadInputFailsBeforeDialing(t *testing.T) {
	dir := t.TempDir()
	td := spiffeid.RequireTrustDomainFromString("eu-1.example.org")
	ca, err := devca.New(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueSVID(spiffeid.RequireFromPath(td, "/workload"), time.Hour, devca.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		caPEM       = writeFile(t, dir, "ca.pem", pemCerts(ca.Certificate()))
		leafPEM     = writeFile(t, dir, "leaf.pem", pemCerts(leaf.Certificates[0]))
		notBundle   = writeFile(t, dir, "bundle.txt", "hello")
		unknownJSON = writeFile(t, dir, "unknown.json", `{"targets":[{"region":"eu-west-1"}],"bogus":1}`)
		unknownYAML = writeFile(t, dir, "unknown.yaml", "allow:\n- trust_domain: eu-1.example.org\n  clusterr: eu-1\n")
		dupYAML     = writeFile(t, dir, "dup.yaml", "targets: []\ntargets: []\n")
		badRegion   = writeFile(t, dir, "region.yaml", "targets:\n- region: EU West\n")
		missing     = filepath.Join(dir, "missing.yaml")
		noConfig    = filepath.Join(dir, "no-such-config.yaml")
	)
	add := []string{"cluster", "add", "eu-1", "--trust-domain", "eu-1.example.org", "--provider", "aws", "--region", "eu-west-1"}

	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  []string // substrings of stderr
	}{
		{"cluster name", "", []string{"cluster", "add", "Bad_Name", "--trust-domain", "eu-1.example.org", "--provider", "aws", "--region", "eu-west-1"}, 1, []string{`"Bad_Name"`, "DNS-1123"}},
		{"trust domain", "", []string{"cluster", "add", "eu-1", "--trust-domain", "x y", "--provider", "aws", "--region", "eu-west-1"}, 1, []string{`"x y"`, "trust domain"}},
		{"gateway port", "", append(add, "--gateway-address", "gw.example.org:99999"), 1, []string{`"gw.example.org:99999"`, "1-65535"}},
		{"gateway without port", "", append(add, "--gateway-address", "gw.example.org"), 1, []string{`"gw.example.org"`, "host:port"}},
		{"zone", "", append(add, "--zone", "Zone A"), 1, []string{`"Zone A"`}},
		{"label key", "", append(add, "--label", "Bad Key=v"), 1, []string{`"Bad Key"`}},
		{"label value", "", append(add, "--label", "env=-prod"), 1, []string{`"-prod"`}},
		{"label without value", "", append(add, "--label", "novalue"), 2, []string{`"novalue"`, "key=value"}},
		{"label twice", "", append(add, "--label", "env=a", "--label", "env=b"), 2, []string{`"env"`, "twice"}},
		{"missing trust domain", "", []string{"cluster", "add", "eu-1", "--provider", "aws", "--region", "eu-west-1"}, 2, []string{"--trust-domain"}},
		{"cluster bundle unreadable", "", append(add, "--bundle", missing), 1, []string{missing}},
		{"cluster bundle not CA", "", append(add, "--bundle", leafPEM), 1, []string{"O=meshfed", "not a CA"}},
		{"cluster get name", "", []string{"cluster", "get", "EU-1"}, 1, []string{`"EU-1"`}},
		{"cluster delete alias", "", []string{"cluster", "delete", "eu_1"}, 1, []string{`"eu_1"`}},
		{"cluster get no name", "", []string{"cluster", "get"}, 2, []string{"NAME"}},
		{"cluster get two names", "", []string{"cluster", "get", "a", "b"}, 2, []string{`"b"`}},
		{"bad output", "", []string{"cluster", "list", "-o", "xml"}, 2, []string{`"xml"`, "table, json, yaml"}},
		{"bad output on get", "", []string{"trust", "get", "eu-1.example.org", "--output=wide"}, 2, []string{`"wide"`}},
		{"unknown command", "", []string{"clusters"}, 2, []string{`"clusters"`}},
		{"unknown subcommand", "", []string{"cluster", "lsit"}, 2, []string{`"lsit"`, `"list"`}},
		{"unknown flag", "", []string{"cluster", "list", "--nope"}, 2, []string{"--nope"}},
		{"export cluster filter", "", []string{"export", "list", "--cluster", "Eu1"}, 1, []string{`"Eu1"`}},
		{"import namespace filter", "", []string{"import", "list", "--namespace", "a/b"}, 1, []string{`"a/b"`}},
		{"policy missing kind", "", []string{"policy", "get", "demo/api"}, 2, []string{"--kind", "failover", "authorization"}},
		{"policy bad kind", "", []string{"policy", "delete", "demo/api", "--kind", "routing"}, 2, []string{`"routing"`}},
		{"policy ref", "", []string{"policy", "get", "demo", "--kind", "failover"}, 2, []string{`"demo"`, "NAMESPACE/NAME"}},
		{"policy namespace", "", []string{"policy", "get", "Demo/api", "--kind", "failover"}, 1, []string{`"Demo"`}},
		{"policy missing file flag", "", []string{"policy", "put", "demo/api", "--kind", "failover"}, 2, []string{"--file"}},
		{"policy unreadable file", "", []string{"policy", "put", "demo/api", "--kind", "failover", "-f", missing}, 1, []string{missing}},
		{"policy unknown field json", "", []string{"policy", "put", "demo/api", "--kind", "failover", "-f", unknownJSON}, 1, []string{`"bogus"`, unknownJSON}},
		{"policy unknown field yaml", "", []string{"policy", "put", "demo/api", "--kind", "authorization", "-f", unknownYAML}, 1, []string{`"clusterr"`}},
		{"policy unknown field stdin", `{"never":["eu-1"],"extra":true}`, []string{"policy", "put", "demo/api", "--kind", "failover", "-f", "-"}, 1, []string{`"extra"`, "standard input"}},
		{"policy duplicate key", "", []string{"policy", "put", "demo/api", "--kind", "failover", "-f", dupYAML}, 1, []string{`"targets"`}},
		{"policy bad region", "", []string{"policy", "put", "demo/api", "--kind", "failover", "-f", badRegion}, 1, []string{`"EU West"`}},
		{"policy empty stdin", "", []string{"policy", "put", "demo/api", "--kind", "failover", "-f", "-"}, 1, []string{"standard input is empty"}},
		{"trust get domain", "", []string{"trust", "get", "x y"}, 1, []string{`"x y"`}},
		{"trust set domain", "", []string{"trust", "set", "spiffe://eu-1.example.org", "-f", caPEM}, 1, []string{`"spiffe://eu-1.example.org"`}},
		{"trust set not a bundle", "", []string{"trust", "set", "eu-1.example.org", "-f", notBundle}, 1, []string{notBundle, "JWKS"}},
		{"trust set missing file", "", []string{"trust", "set", "eu-1.example.org"}, 2, []string{"--file"}},
		{"trust set sequence 0", "", []string{"trust", "set", "eu-1.example.org", "-f", caPEM, "--sequence", "0"}, 2, []string{"--sequence 0"}},
		{"trust set sequence not a number", "", []string{"trust", "set", "eu-1.example.org", "-f", caPEM, "--sequence", "x"}, 2, []string{`"x"`}},
		{"drain cluster name", "", []string{"cluster", "drain", "East"}, 1, []string{`cluster name "East"`, "DNS-1123"}},
		{"drain service ref", "", []string{"cluster", "drain", "east", "--service", "echo"}, 2, []string{`--service "echo"`, "NAMESPACE/NAME"}},
		{"drain service namespace", "", []string{"cluster", "drain", "east", "--service", "Demo/echo"}, 1, []string{`namespace "Demo"`}},
		{"drain negative period", "", []string{"cluster", "drain", "east", "--period", "-5s"}, 2, []string{"--period -5s"}},
		{"drain fractional period", "", []string{"cluster", "drain", "east", "--period", "1.5s"}, 2, []string{"--period 1.5s", "whole number of seconds"}},
		{"drain period over a week", "", []string{"cluster", "drain", "east", "--period", "169h"}, 2, []string{"--period 169h0m0s", "7 days"}},
		{"drain period not a duration", "", []string{"cluster", "drain", "east", "--period", "10"}, 2, []string{`"10"`}},
		{"undrain service name", "", []string{"cluster", "undrain", "east", "--service", "demo/Echo"}, 1, []string{`name "Echo"`}},
		{"drains takes no name", "", []string{"cluster", "drains", "east"}, 2, []string{`"east"`}},
		{"timeout", "", []string{"cluster", "list", "--timeout", "0s"}, 2, []string{"--timeout 0s"}},
		// Valid input gets as far as the config: the harness itself works.
		{"valid add reaches config", "", append(add, "--bundle", caPEM), 1, []string{"no config at"}},
		{"valid policy reaches config", `{"allow":[]}`, []string{"policy", "put", "demo/api", "--kind", "authorization", "-f", "-"}, 1, []string{"no config at"}},
		{"valid drain reaches config", "", []string{"cluster", "drain", "east", "--service", "demo/echo", "--period", "168h"}, 1, []string{"no config at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--config", noConfig}, tt.args...)
			code, stdout, stderr := run(t, tt.stdin, args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.HasPrefix(stderr, "meshfed: ") {
				t.Errorf("stderr does not start with \"meshfed: \":\n%s", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if !slices.Contains(tt.want, "no config at") && strings.Contains(stderr, "no config at") {
				t.Errorf("failed only when connecting, not before:\n%s", stderr)
			}
			if code == cli.ExitUsage && !strings.Contains(stderr, "--help' for usage") {
				t.Errorf("usage error without a pointer to --help:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("unexpected stdout:\n%s", stdout)
			}
		})
	}
}

// TestUnreachableControlPlane dials a loopback port nobody listens on.
func TestUnreachableControlPlane(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(client.EnvConfig, filepath.Join(dir, "absent.yaml"))
	ca, err := devca.New(spiffeid.RequireTrustDomainFromString("meshfed.test"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "ca.pem")
	if err := ca.WriteBundlePEM(caPath); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	code, _, stderr := run(t, "", "cluster", "list", "--server", addr, "--ca", caPath,
		"--server-id", "spiffe://meshfed.test/meshfed/controlplane", "--token", "secret")
	if code != cli.ExitError {
		t.Errorf("exit status %d, want %d", code, cli.ExitError)
	}
	for _, w := range []string{"meshfed: cannot reach the control plane at " + addr, "meshfed controlplane", "--server"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, stderr)
		}
	}
}

func TestIncompleteFlagsWithoutConfig(t *testing.T) {
	t.Setenv(client.EnvConfig, filepath.Join(t.TempDir(), "absent.yaml"))
	code, _, stderr := run(t, "", "cluster", "list", "--server", "127.0.0.1:1")
	if code != cli.ExitError || !strings.Contains(stderr, `"ca" is empty`) || !strings.Contains(stderr, "--server-id") {
		t.Errorf("exit status %d, stderr:\n%s", code, stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"cluster"}, {"policy", "put", "-h"}, {"help", "trust", "set"}} {
		code, stdout, stderr := run(t, "", args...)
		if code != cli.ExitOK || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%q: exit status %d, stdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
	}
}

// TestVerbs pins the verb names scripts depend on and checks that each
// has help text and an example.
func TestVerbs(t *testing.T) {
	root := cli.NewRoot(cli.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	want := []string{
		"cluster add", "cluster list", "cluster get", "cluster remove",
		"cluster drain", "cluster undrain", "cluster drains",
		"export list", "import list",
		"policy get", "policy put", "policy delete", "policy list",
		"trust list", "trust get", "trust set",
	}
	for _, verb := range want {
		c, rest, err := root.Find(strings.Fields(verb))
		if err != nil || len(rest) != 0 || c.Name() != strings.Fields(verb)[1] {
			t.Errorf("verb %q not found", verb)
		}
	}
	if c, _, _ := root.Find([]string{"cluster", "delete"}); c.Name() != "remove" {
		t.Errorf(`"cluster delete" is not an alias of "cluster remove"`)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "controlplane" { // documented by its own authors
			return
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
