package cli_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/internal/cli"
)

// caInit runs `meshfed ca init -o json` and returns its decoded output.
func caInit(t *testing.T, td, dir string) map[string]any {
	t.Helper()
	code, stdout, stderr := run(t, "", "ca", "init", "--trust-domain", td, "--dir", dir, "-o", "json")
	if code != cli.ExitOK || stderr != "" {
		t.Fatalf("ca init: exit status %d, stderr:\n%s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("ca init -o json: %v\n%s", err, stdout)
	}
	return res
}

func loadBundle(t *testing.T, td spiffeid.TrustDomain, path string) (*spiffebundle.Bundle, uint64) {
	t.Helper()
	b, err := spiffebundle.Load(td, path)
	if err != nil {
		t.Fatal(err)
	}
	seq, ok := b.SequenceNumber()
	if !ok {
		t.Fatalf("%s has no spiffe_sequence", path)
	}
	return b, seq
}

// TestCAInit follows a CA directory through init, a second init, and an
// init after the CA files were replaced.
func TestCAInit(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("eu-1.example.org")
	dir := filepath.Join(t.TempDir(), "ca")
	bundlePath := filepath.Join(dir, "bundle.json")

	// 1. Create: the bundle holds the CA certificate alone, sequence 1.
	res := caInit(t, td.Name(), dir)
	want := map[string]any{
		"trust_domain": td.Name(), "dir": dir, "created": true,
		"ca_cert": filepath.Join(dir, "ca.pem"), "ca_key": filepath.Join(dir, "ca-key.pem"),
		"bundle": bundlePath, "bundle_sequence": 1.0, "bundle_written": true,
	}
	for k, v := range want {
		if res[k] != v {
			t.Errorf("output %s = %v, want %v", k, res[k], v)
		}
	}
	caBundle, err := x509bundle.Load(td, filepath.Join(dir, "ca.pem"))
	if err != nil || len(caBundle.X509Authorities()) != 1 {
		t.Fatalf("ca.pem: %v", err)
	}
	caCert := caBundle.X509Authorities()[0]
	if got := caCert.NotAfter.UTC().Format(time.RFC3339); res["not_after"] != got {
		t.Errorf("output not_after = %v, want %s", res["not_after"], got)
	}
	if d := time.Until(caCert.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("CA lives %v, want the default 8760h", d)
	}
	b, seq := loadBundle(t, td, bundlePath)
	if got := b.X509Authorities(); len(got) != 1 || !got[0].Equal(caCert) {
		t.Fatalf("bundle has %d X.509 authorities, want the CA certificate alone", len(got))
	}
	if hint, _ := b.RefreshHint(); seq != 1 || hint != 5*time.Minute {
		t.Errorf("bundle sequence %d, refresh hint %v; want 1, 5m", seq, hint)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem mode: %v", err)
	}

	// 2. Init again: the CA and the bundle are kept.
	code, stdout, stderr := run(t, "", "ca", "init", "--trust-domain", td.Name(), "--dir", dir)
	if code != cli.ExitOK || !strings.Contains(stdout, "already exists") || !strings.Contains(stdout, "unchanged") {
		t.Fatalf("second init: exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if again, _ := x509bundle.Load(td, filepath.Join(dir, "ca.pem")); !again.HasX509Authority(caCert) {
		t.Fatal("second init replaced the CA")
	}

	// 3. Replace the CA: the bundle names the new one, sequence 2.
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	res = caInit(t, td.Name(), dir)
	if res["created"] != true || res["bundle_sequence"] != 2.0 || res["bundle_written"] != true {
		t.Errorf("init after replacing the CA: %v", res)
	}
	b, seq = loadBundle(t, td, bundlePath)
	if seq != 2 || len(b.X509Authorities()) != 1 || b.HasX509Authority(caCert) {
		t.Errorf("bundle after replacing the CA: sequence %d, %d authorities", seq, len(b.X509Authorities()))
	}
}

func TestCAIssue(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("eu-1.example.org")
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ca")
	caInit(t, td.Name(), dir)
	prefix := filepath.Join(tmp, "out", "gw-0")
	id := "spiffe://eu-1.example.org/meshfed/gateway/eu-1/gw-0"

	code, stdout, stderr := run(t, "", "ca", "issue", "--dir", dir, "--spiffe-id", id,
		"--dns", "gw-0.eu-1.example.org", "--ip", "10.0.0.7", "--out", prefix, "-o", "json")
	if code != cli.ExitOK || stderr != "" {
		t.Fatalf("ca issue: exit status %d, stderr:\n%s", code, stderr)
	}
	var res struct {
		SPIFFEID    string   `json:"spiffe_id"`
		TrustDomain string   `json:"trust_domain"`
		Cert        string   `json:"cert"`
		Key         string   `json:"key"`
		NotAfter    string   `json:"not_after"`
		DNSNames    []string `json:"dns_names"`
		IPs         []string `json:"ips"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("ca issue -o json: %v\n%s", err, stdout)
	}
	if res.SPIFFEID != id || res.TrustDomain != td.Name() || res.Cert != prefix+".pem" || res.Key != prefix+"-key.pem" ||
		!slices.Equal(res.DNSNames, []string{"gw-0.eu-1.example.org"}) || !slices.Equal(res.IPs, []string{"10.0.0.7"}) {
		t.Errorf("ca issue -o json: %+v", res)
	}

	svid, err := x509svid.Load(prefix+".pem", prefix+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := loadBundle(t, td, filepath.Join(dir, "bundle.json"))
	got, _, err := x509svid.Verify(svid.Certificates, bundle)
	if err != nil || got.String() != id || svid.ID.String() != id {
		t.Fatalf("SVID does not verify against bundle.json as %s: %v %v", id, got, err)
	}
	leaf := svid.Certificates[0]
	if res.NotAfter != leaf.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("output not_after %s, certificate %s", res.NotAfter, leaf.NotAfter)
	}
	if d := time.Until(leaf.NotAfter); d <= 0 || d > time.Hour+time.Minute {
		t.Errorf("SVID lives %v more, want the default 1h", d)
	}
	if !slices.Equal(leaf.DNSNames, []string{"gw-0.eu-1.example.org"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
		t.Errorf("SANs: DNS %v, IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if fi, err := os.Stat(prefix + "-key.pem"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v", err)
	}

	// A --ttl beyond the CA's life is cut short at the CA's expiry.
	short := filepath.Join(tmp, "short")
	shortCA := filepath.Join(tmp, "short-ca")
	if code, _, stderr := run(t, "", "ca", "init", "--trust-domain", td.Name(), "--dir", shortCA, "--ttl", "2h"); code != cli.ExitOK {
		t.Fatalf("ca init --ttl 2h: %s", stderr)
	}
	code, stdout, stderr = run(t, "", "ca", "issue", "--dir", shortCA, "--spiffe-id", id, "--ttl", "24h", "--out", short)
	if code != cli.ExitOK || !strings.Contains(stdout, "cut short") {
		t.Fatalf("ca issue --ttl 24h: exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	capped, err := x509svid.Load(short+".pem", short+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(capped.Certificates[0].NotAfter); d > 2*time.Hour {
		t.Errorf("SVID outlives its 2h CA by %v", d-2*time.Hour)
	}
}

func TestCAErrors(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ca")
	caInit(t, "eu-1.example.org", dir)
	empty := filepath.Join(tmp, "empty")
	out := filepath.Join(tmp, "out", "svid")
	issue := func(id string, extra ...string) []string {
		return append([]string{"ca", "issue", "--dir", dir, "--spiffe-id", id, "--out", out}, extra...)
	}

	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of stderr
	}{
		{"wrong trust domain", issue("spiffe://us-1.example.org/gw"), 1, []string{`"us-1.example.org"`, `"eu-1.example.org"`, dir}},
		{"not spiffe scheme", issue("https://eu-1.example.org/gw"), 1, []string{`"https://eu-1.example.org/gw"`, "scheme", "spiffe://TRUST_DOMAIN/PATH"}},
		{"bad path", issue("spiffe://eu-1.example.org/a b"), 1, []string{`"spiffe://eu-1.example.org/a b"`, "path segment"}},
		{"bad trust domain in ID", issue("spiffe://EU-1/gw"), 1, []string{`"spiffe://EU-1/gw"`, "trust domain"}},
		{"no path", issue("spiffe://eu-1.example.org"), 1, []string{`"spiffe://eu-1.example.org"`, "no path"}},
		{"no CA", []string{"ca", "issue", "--dir", empty, "--spiffe-id", "spiffe://eu-1.example.org/gw", "--out", out}, 1,
			[]string{"no CA in " + empty, "meshfed ca init --trust-domain eu-1.example.org --dir " + empty}},
		{"missing out", []string{"ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://eu-1.example.org/gw"}, 2, []string{"--out"}},
		{"missing spiffe id", []string{"ca", "issue", "--dir", dir, "--out", out}, 2, []string{"--spiffe-id"}},
		{"missing dir", []string{"ca", "issue", "--spiffe-id", "spiffe://eu-1.example.org/gw", "--out", out}, 2, []string{"--dir"}},
		{"zero ttl", issue("spiffe://eu-1.example.org/gw", "--ttl", "0s"), 2, []string{"--ttl 0s"}},
		{"bad dns", issue("spiffe://eu-1.example.org/gw", "--dns", "a b"), 1, []string{`--dns "a b"`}},
		{"bad ip", issue("spiffe://eu-1.example.org/gw", "--ip", "10.0.0"), 1, []string{`--ip "10.0.0"`}},
		{"init other trust domain", []string{"ca", "init", "--trust-domain", "us-1.example.org", "--dir", dir}, 1, []string{`"eu-1.example.org"`, `"us-1.example.org"`}},
		{"init bad trust domain", []string{"ca", "init", "--trust-domain", "x y", "--dir", empty}, 1, []string{`"x y"`, "trust domain"}},
		{"init missing dir", []string{"ca", "init", "--trust-domain", "eu-1.example.org"}, 2, []string{"--dir"}},
		{"init negative ttl", []string{"ca", "init", "--trust-domain", "eu-1.example.org", "--dir", empty, "--ttl", "-1h"}, 2, []string{"--ttl -1h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("unexpected stdout:\n%s", stdout)
			}
		})
	}
	for _, p := range []string{out + ".pem", out + "-key.pem", empty} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after failed commands", p)
		}
	}
}

func TestCAHelpSaysDevOnly(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"ca", "--help"}, {"ca", "init", "--help"}, {"ca", "issue", "--help"}} {
		code, stdout, _ := run(t, "", args...)
		if code != cli.ExitOK || strings.Count(stdout, "not for production") < 1 || !strings.Contains(stdout, "dev-only") {
			t.Errorf("%q: exit status %d, help does not say dev-only, not for production:\n%s", args, code, stdout)
		}
	}
	code, stdout, _ := run(t, "", "--help")
	if code != cli.ExitOK || !strings.Contains(stdout, "not for production") {
		t.Errorf("meshfed --help does not label ca dev-only:\n%s", stdout)
	}
}

// FuzzCAIssueSPIFFEID feeds --spiffe-id values to `ca issue` for a
// directory without a CA: every value must fail, either because it is not
// a leaf SPIFFE ID (naming the value) or, having passed, for want of a CA.
func FuzzCAIssueSPIFFEID(f *testing.F) {
	for _, s := range []string{
		"spiffe://eu-1.example.org/gw", "spiffe://eu-1.example.org", "spiffe://eu-1.example.org/",
		"https://x/y", "spiffe:///x", "spiffe://a/b/../c", "spiffe://a/b?q=1", "spiffe://a/%41", "", "spiffe://A/b",
	} {
		f.Add(s)
	}
	dir := filepath.Join(f.TempDir(), "none")
	f.Fuzz(func(t *testing.T, id string) {
		code, stdout, stderr := run(t, "", "ca", "issue", "--dir", dir, "--spiffe-id", id, "--out", filepath.Join(dir, "x"))
		if code == cli.ExitOK || stdout != "" {
			t.Fatalf("%q: exit status %d, stdout %q", id, code, stdout)
		}
		parsed, err := spiffeid.FromString(id)
		switch {
		case err == nil && parsed.Path() != "":
			if !strings.Contains(stderr, "no CA in "+dir) {
				t.Fatalf("%q is a leaf ID but was refused:\n%s", id, stderr)
			}
		default:
			if !strings.Contains(stderr, "--spiffe-id ") {
				t.Fatalf("%q refused without naming the flag:\n%s", id, stderr)
			}
		}
	})
}
