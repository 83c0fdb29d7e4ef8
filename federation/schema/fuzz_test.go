package schema_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// The oracles below restate the rules from their specifications (DNS-1123,
// Kubernetes labels, SPIFFE) rather than from the code under test, so the
// fuzz targets check the code against the rule and not against itself.
var (
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	localityRE  = regexp.MustCompile(`^[a-z0-9._-]{1,63}$`)
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	// A DNS-1123 subdomain whose every label is at most 63 bytes.
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`)
	hostNameRE     = regexp.MustCompile(`^[A-Za-z0-9_]([-A-Za-z0-9_.]*[A-Za-z0-9_.])?$`)
	portRE         = regexp.MustCompile(`^[0-9]+$`)
)

// maxShownValue is how much of an offending value a FieldError shows.
const maxShownValue = 80

func isDNSLabel(s string) bool  { return len(s) <= 63 && dnsLabelRE.MatchString(s) }
func isLocality(s string) bool  { return localityRE.MatchString(s) }
func isLabelName(s string) bool { return len(s) <= 63 && labelNameRE.MatchString(s) }

func isLabelKey(k string) bool {
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		if len(prefix) > 253 || !dnsSubdomainRE.MatchString(prefix) {
			return false
		}
		k = k[i+1:]
	}
	return isLabelName(k)
}

func isLabelValue(v string) bool { return v == "" || isLabelName(v) }

// isAppProtocol is a label name, or a DNS subdomain prefix, '/' and a label name.
func isAppProtocol(s string) bool {
	if isLabelName(s) {
		return true
	}
	prefix, name, ok := strings.Cut(s, "/")
	return ok && dnsSubdomainRE.MatchString(prefix) && isLabelName(name)
}

func isTrustDomain(s string) bool {
	td, err := spiffeid.TrustDomainFromString(s)
	return err == nil && td.Name() == s && len(s) <= schema.MaxTrustDomainLen
}

// checkInvalid fails unless err is a *schema.FieldError matching
// schema.ErrInvalid.
func checkInvalid(t *testing.T, err error) *schema.FieldError {
	t.Helper()
	if !errors.Is(err, schema.ErrInvalid) {
		t.Fatalf("error %q does not match ErrInvalid", err)
	}
	var fe *schema.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q is a %T, not a *schema.FieldError", err, err)
	}
	return fe
}

// checkFieldErr is checkInvalid, and the error names field and shows
// value, truncated as documented.
func checkFieldErr(t *testing.T, err error, field, value string) {
	t.Helper()
	fe := checkInvalid(t, err)
	if fe.Field != field {
		t.Fatalf("error %q names field %q, want %q", err, fe.Field, field)
	}
	shown := value
	if len(shown) > maxShownValue {
		shown = shown[:maxShownValue] + "..."
	}
	if fe.Value != shown {
		t.Fatalf("error %q shows value %q, want %q", err, fe.Value, shown)
	}
	if !strings.Contains(err.Error(), strconv.Quote(shown)) {
		t.Fatalf("error %q does not quote the offending value %q", err, shown)
	}
}

func FuzzName(f *testing.F) {
	for _, s := range []string{
		"a", "eu-1", "0", "a-b-c", "9lives", strings.Repeat("a", 63),
		strings.Repeat("a", 64), "-a", "a-", "A", "a_b", "", "a.b", "é", "a\x00", "a--b", " a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		err := schema.ValidateName("cluster", "name", value)
		want := isDNSLabel(value)
		if (err == nil) != want {
			t.Fatalf("ValidateName(%q) = %v, want accepted=%v", value, err, want)
		}
		if schema.IsDNSLabel(value) != want {
			t.Fatalf("IsDNSLabel(%q) = %v, want %v", value, !want, want)
		}
		if err != nil {
			checkFieldErr(t, err, "name", value)
		}
	})
}

func FuzzTrustDomain(f *testing.F) {
	for _, s := range []string{
		"example.org", "meshfed.local", "eu-1.prod_x", "td", "a..b", "xn--bcher-kva.example",
		strings.Repeat("a", 255), strings.Repeat("a", 256),
		"", "spiffe://example.org", "Example.org", "example.org/path", "x y", "example.org:443", "ex%41mple.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		err := schema.ValidateTrustDomain(`cluster "eu-1"`, "trust_domain", value)
		if want := isTrustDomain(value); (err == nil) != want {
			t.Fatalf("ValidateTrustDomain(%q) = %v, want accepted=%v", value, err, want)
		}
		if err != nil {
			checkFieldErr(t, err, "trust_domain", value)
			return
		}
		td, perr := spiffeid.TrustDomainFromString(value)
		if perr != nil || td.Name() != value || td.String() != value {
			t.Fatalf("accepted %q, but spiffeid parses it as %q, %v", value, td, perr)
		}
		// The name round-trips through the SPIFFE ID forms the rest of
		// meshfed builds from it.
		if td2, err := spiffeid.TrustDomainFromString(td.IDString()); err != nil || td2 != td {
			t.Fatalf("accepted %q, but its ID %q parses as %q, %v", value, td.IDString(), td2, err)
		}
		id, err := spiffeid.FromSegments(td, "ns", "demo", "sa", "echo")
		if err != nil || id.TrustDomain() != td {
			t.Fatalf("accepted %q, but a workload ID in it is %q, %v", value, id, err)
		}
		if id2, err := spiffeid.FromString(id.String()); err != nil || id2 != id {
			t.Fatalf("accepted %q, but workload ID %q parses as %q, %v", value, id, id2, err)
		}
	})
}

func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if len(host) > 253 || !hostNameRE.MatchString(host) {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		// RFC 1035/1123: labels are 1-63 bytes and do not start or end
		// with a hyphen.
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
	}
	return true
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1:15443", "gw.example.com:15443", "[::1]:15443", "[fe80::1%eth0]:443", "gw:1", "gw:65535", "gw_1.local:80",
		"gw:0", "gw:65536", "gw", ":15443", "gw:", "gw:http", "a b:80", "a/b:80", "user@gw:80", `a\b:80`, "gw:+80", "gw:-1",
		"::1:80", "[gw:80", "gw\n:80", strings.Repeat("a", 255) + ":65535", strings.Repeat("a", 256) + ":65535",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		err := schema.ValidateAddress(`cluster "eu-1"`, "gateway_addresses", value)
		host, port, serr := net.SplitHostPort(value)
		p, perr := strconv.Atoi(port)
		want := len(value) <= schema.MaxAddressLen && serr == nil && host != "" &&
			portRE.MatchString(port) && perr == nil && p >= 1 && p <= 65535 && validHost(host)
		switch {
		case want && err != nil:
			t.Fatalf("ValidateAddress(%q) = %v, want accepted", value, err)
		case !want && err == nil:
			t.Fatalf("ValidateAddress(%q) accepted it (host %q, port %q)", value, host, port)
		case err != nil:
			checkFieldErr(t, err, "gateway_addresses", value)
		}
	})
}

func FuzzLabel(f *testing.F) {
	for _, kv := range [][2]string{
		{"env", "prod"}, {"app.kubernetes.io/name", "echo"}, {"topology.kubernetes.io/zone", "eu-west-1a"}, {"A_b.c", ""},
		{"", "x"}, {"/env", "x"}, {"a/b/c", "x"}, {"Example.com/env", "x"}, {"env", "-x"}, {"env", "a b"}, {"-env", "x"},
		{strings.Repeat("a", 63), strings.Repeat("b", 63)}, {strings.Repeat("a", 64), "x"}, {"env", strings.Repeat("b", 64)},
		{strings.Repeat("a.", 126) + "a/env", "x"}, {strings.Repeat("a.", 127) + "a/env", "x"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		err := schema.ValidateLabel(`cluster "eu-1"`, key, value)
		switch {
		case !isLabelKey(key):
			if err == nil {
				t.Fatalf("ValidateLabel(%q, %q) accepted an invalid key", key, value)
			}
			checkFieldErr(t, err, "label key", key)
		case !isLabelValue(value):
			if err == nil {
				t.Fatalf("ValidateLabel(%q, %q) accepted an invalid value", key, value)
			}
			checkFieldErr(t, err, "label "+key, value)
		case err != nil:
			t.Fatalf("ValidateLabel(%q, %q) = %v, want accepted", key, value, err)
		}
	})
}

func FuzzPolicy(f *testing.F) {
	for _, s := range []struct {
		authz bool
		doc   string
	}{
		{false, `{"targets":[{"region":"eu-west-1"},{"cluster":"us-1"},{"labels":{"tier":"dr"}}],"never":["lab"],"weights":{"eu-1":3},"max_shift_per_second":0.1}`},
		{false, `{}`},
		{false, " {\"never\":[]}\n"},
		{false, `{"max_shift_per_second":1}`},
		{false, `{"max_shift_per_second":1.5}`},
		{false, `{"targets":[{"region":"eu","cluster":"a"}]}`},
		{false, `{"targets":[{}]}`},
		{false, `{"targets":[{"labels":{"-bad":"x"}}]}`},
		{false, `{"never":["Bad"]}`},
		{false, `{"weights":{"a":-1}}`},
		{false, `{"unknown":1}`},
		{false, `{} {}`},
		{false, `{}x`},
		{false, `[]`},
		{false, `null`},
		{false, ``},
		{false, `{"targets":`},
		{true, `{"allow":[{"trust_domain":"example.org"},{"cluster":"eu-1"},{"spiffe_id":"spiffe://example.org/ns/demo/*"}]}`},
		{true, `{"allow":[]}`},
		{true, `{"allow":null}`},
		{true, `{"allow":[{}]}`},
		{true, `{"allow":[{"spiffe_id":"spiffe://example.org/*/*"}]}`},
		{true, `{"allow":[{"spiffe_id":"https://example.org/x"}]}`},
		{true, `{"allow":[{"trust_domain":"Example.org"}]}`},
		{true, `{"allow":[{"cluster":"eu-1","extra":true}]}`},
		{true, `{"allow":{"cluster":"eu-1"}}`},
		{true, `{"allow":[],"Allow":[{"trust_domain":"evil.example"}]}`},
		{false, `{"TARGETS":[{"Region":"eu-west-1"}]}`},
		{false, `{"never":[]}` + strings.Repeat(" ", schema.MaxPolicyBytes)}, // one byte too many
	} {
		f.Add(s.authz, []byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, authz bool, doc []byte) {
		kind := schema.PolicyFailover
		if authz {
			kind = schema.PolicyAuthorization
		}
		p := &meshfedv1.Policy{Namespace: "demo", Name: "echo", Kind: kind, Document: doc}
		err := schema.ValidatePolicy(p)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if !json.Valid(doc) {
			t.Fatalf("accepted a %s policy that is not valid JSON: %q", kind, doc)
		}
		if len(doc) > schema.MaxPolicyBytes {
			t.Fatalf("accepted a %d-byte policy, more than %d", len(doc), schema.MaxPolicyBytes)
		}
		checkPolicyKeys(t, authz, doc)

		// What the document means is itself valid: a re-encoding of the
		// parsed document is accepted and means the same.
		var v, v2 any = &schema.FailoverPolicy{}, &schema.FailoverPolicy{}
		if authz {
			v, v2 = &schema.AuthorizationPolicy{}, &schema.AuthorizationPolicy{}
		}
		if err := json.Unmarshal(doc, v); err != nil {
			t.Fatalf("accepted %q, but it does not decode: %v", doc, err)
		}
		if authz {
			checkAuthorization(t, v.(*schema.AuthorizationPolicy))
		} else {
			checkFailover(t, v.(*schema.FailoverPolicy))
		}
		canon, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidatePolicy(&meshfedv1.Policy{Namespace: "demo", Name: "echo", Kind: kind, Document: canon}); err != nil {
			t.Fatalf("accepted %q, but not its re-encoding %q: %v", doc, canon, err)
		}
		if err := json.Unmarshal(canon, v2); err != nil {
			t.Fatal(err)
		}
		if canon2, _ := json.Marshal(v2); string(canon2) != string(canon) {
			t.Fatalf("re-encoding is not stable: %q, then %q", canon, canon2)
		}
	})
}

// checkPolicyKeys fails if an accepted document has an object key that is
// not exactly a field of its policy type (label selectors and weights are
// maps and may have any key).
func checkPolicyKeys(t *testing.T, authz bool, doc []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("accepted %q, but it is not a JSON object: %v", doc, err)
	}
	check := func(obj any, fields ...string) {
		o, _ := obj.(map[string]any)
		for k := range o {
			exact := false
			for _, f := range fields {
				exact = exact || k == f
			}
			// encoding/json alone would match field names
			// case-insensitively; schema refuses anything not exact.
			if !exact {
				t.Fatalf("accepted %q with unknown field %q", doc, k)
			}
		}
	}
	list := func(obj any, fields ...string) {
		l, _ := obj.([]any)
		for _, e := range l {
			check(e, fields...)
		}
	}
	if authz {
		check(m, "allow")
		for k, v := range m {
			if strings.EqualFold(k, "allow") {
				list(v, "trust_domain", "cluster", "spiffe_id")
			}
		}
		return
	}
	check(m, "targets", "never", "weights", "max_shift_per_second")
	for k, v := range m {
		if strings.EqualFold(k, "targets") {
			list(v, "region", "cluster", "labels")
		}
	}
}

func checkFailover(t *testing.T, p *schema.FailoverPolicy) {
	t.Helper()
	if len(p.Targets) > schema.MaxPorts || len(p.Never) > schema.MaxPorts || len(p.Weights) > schema.MaxPorts {
		t.Fatalf("accepted %d targets, %d never, %d weights", len(p.Targets), len(p.Never), len(p.Weights))
	}
	for i, tg := range p.Targets {
		set := 0
		if tg.Region != "" {
			set++
			if !isLocality(tg.Region) {
				t.Fatalf("accepted targets[%d].region %q", i, tg.Region)
			}
		}
		if tg.Cluster != "" {
			set++
			if !isDNSLabel(tg.Cluster) {
				t.Fatalf("accepted targets[%d].cluster %q", i, tg.Cluster)
			}
		}
		if len(tg.Labels) > 0 {
			set++
			for k, v := range tg.Labels {
				if !isLabelKey(k) || !isLabelValue(v) {
					t.Fatalf("accepted targets[%d].labels %q=%q", i, k, v)
				}
			}
		}
		if set != 1 {
			t.Fatalf("accepted targets[%d] %+v, which sets %d of region, cluster, labels", i, tg, set)
		}
	}
	for _, c := range p.Never {
		if !isDNSLabel(c) {
			t.Fatalf("accepted never %q", c)
		}
	}
	for c := range p.Weights {
		if !isDNSLabel(c) {
			t.Fatalf("accepted weights key %q", c)
		}
	}
	if !(p.MaxShiftPerSecond >= 0 && p.MaxShiftPerSecond <= 1) {
		t.Fatalf("accepted max_shift_per_second %v", p.MaxShiftPerSecond)
	}
}

func checkAuthorization(t *testing.T, p *schema.AuthorizationPolicy) {
	t.Helper()
	if len(p.Allow) > schema.MaxPorts {
		t.Fatalf("accepted %d rules", len(p.Allow))
	}
	for i, r := range p.Allow {
		if r == (schema.AuthorizationRule{}) {
			t.Fatalf("accepted allow[%d] {}, which matches everybody", i)
		}
		if r.TrustDomain != "" && !isTrustDomain(r.TrustDomain) {
			t.Fatalf("accepted allow[%d].trust_domain %q", i, r.TrustDomain)
		}
		if r.Cluster != "" && !isDNSLabel(r.Cluster) {
			t.Fatalf("accepted allow[%d].cluster %q", i, r.Cluster)
		}
		if r.SPIFFEID != "" {
			if _, err := spiffeid.FromString(strings.TrimSuffix(r.SPIFFEID, "/*")); err != nil {
				t.Fatalf("accepted allow[%d].spiffe_id %q: %v", i, r.SPIFFEID, err)
			}
		}
	}
}

// testCert returns a deterministic self-signed Ed25519 certificate for
// example.org (Ed25519 signatures need no randomness).
func testCert(f *testing.F, seed byte, ca bool) ([]byte, ed25519.PublicKey) {
	f.Helper()
	priv := ed25519.NewKeyFromSeed(append(make([]byte, ed25519.SeedSize-1), seed))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(int64(seed) + 1),
		Subject:               pkix.Name{CommonName: "example.org " + strconv.Itoa(int(seed))},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: "example.org"}},
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		f.Fatal(err)
	}
	return der, priv.Public().(ed25519.PublicKey)
}

func FuzzBundle(f *testing.F) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	caDER, jwtKey := testCert(f, 1, true)
	leafDER, _ := testCert(f, 2, false)
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		f.Fatal(err)
	}
	marshal := func(b *spiffebundle.Bundle) []byte {
		doc, err := b.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		return doc
	}
	full := spiffebundle.New(td)
	full.AddX509Authority(ca)
	if err := full.AddJWTAuthority("k1", jwtKey); err != nil {
		f.Fatal(err)
	}
	full.SetSequenceNumber(7)
	full.SetRefreshHint(5 * time.Minute)
	jwtOnly := spiffebundle.FromJWTAuthorities(td, map[string]crypto.PublicKey{"k1": jwtKey})
	f.Add(marshal(full))
	f.Add(marshal(spiffebundle.FromX509Authorities(td, []*x509.Certificate{ca})))
	f.Add(marshal(jwtOnly))
	f.Add(marshal(spiffebundle.FromX509Authorities(td, []*x509.Certificate{leaf}))) // not a CA
	f.Add(marshal(spiffebundle.FromX509Authorities(td, []*x509.Certificate{ca, leaf})))
	// Hand-written documents for what Marshal never produces.
	pub := base64.RawURLEncoding.EncodeToString(jwtKey)
	okp := `"kty":"OKP","crv":"Ed25519","x":"` + pub + `"`
	priv := okp + `,"d":"` + base64.RawURLEncoding.EncodeToString(append(make([]byte, ed25519.SeedSize-1), 1)) + `"`
	x5c := `"x5c":["` + base64.StdEncoding.EncodeToString(caDER) + `"]`
	for _, s := range []string{
		`{"keys":[{"use":"x509-svid",` + okp + `,` + x5c + `}],"spiffe_sequence":1,"spiffe_refresh_hint":300}`,
		`{"keys":[{"use":"jwt-svid",` + okp + `,"kid":"k"}]}`,
		`{"keys":[{"use":"jwt-svid",` + okp + `}]}`, // no kid
		`{"keys":[{"use":"wit-svid",` + okp + `,"kid":"w"}]}`,
		`{"keys":[{"use":"other",` + okp + `,"kid":"o"}]}`,
		`{"keys":[{"use":"x509-svid",` + okp + `}]}`, // no certificate
		`{"keys":[{"use":"jwt-svid",` + priv + `,"kid":"p"}]}`,
		`{"keys":[{"use":"x509-svid",` + priv + `,` + x5c + `}]}`,
		`{"keys":[{"use":"jwt-svid","kty":"oct","k":"c2VjcmV0","kid":"s"}]}`,
		`{"keys":[{"use":"jwt-svid",` + okp + `,"kid":"k"}],"spiffe_refresh_hint":-5}`,
		`{"keys":[{"use":"jwt-svid",` + okp + `,"kid":"k"}],"spiffe_refresh_hint":9223372036854775807}`,
		`{"keys":[],"spiffe_sequence":-1}`,
		`{"keys":[]}`,
		`{"keys":null}`,
		`{}`,
		`[]`,
		``,
		`{"keys":[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, jwks []byte) {
		rec := &meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: jwks}
		sb, err := schema.ParseBundle(rec)
		if err != nil {
			if sb != nil {
				t.Fatalf("ParseBundle returned a bundle and error %v", err)
			}
			checkInvalid(t, err)
			return
		}
		if len(jwks) > schema.MaxBundleBytes {
			t.Fatalf("accepted a %d-byte bundle", len(jwks))
		}
		if sb.TrustDomain() != td {
			t.Fatalf("bundle is for %q, want %q", sb.TrustDomain(), td)
		}
		n := len(sb.X509Authorities()) + len(sb.JWTAuthorities())
		if n < 1 || n > schema.MaxBundleKeys {
			t.Fatalf("accepted a bundle with %d keys", n)
		}
		for _, c := range sb.X509Authorities() {
			if !c.IsCA || !c.BasicConstraintsValid {
				t.Fatalf("accepted x509 authority %q, which is not a CA", c.Subject)
			}
		}
		// A bundle is public: it goes to every cluster, so no private
		// ("d") or symmetric ("kty":"oct") key may pass.
		if leak := secretMember(jwks); leak != "" {
			t.Fatalf("accepted %q, which holds secret key member %q", jwks, leak)
		}
		for kid, k := range sb.JWTAuthorities() {
			switch k.(type) {
			case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
			default:
				t.Fatalf("accepted %q, whose jwt-svid key %q is a %T, not a public key", jwks, kid, k)
			}
		}
		// A negative hint, or one that overflows a time.Duration
		// (9223372036854775807 s becomes -1 s), must be refused.
		if hint, ok := sb.RefreshHint(); ok && hint < 0 {
			t.Fatalf("accepted %q with refresh hint %v", jwks, hint)
		}
		// What meshfed stores after accepting a bundle is accepted again and
		// holds the same keys.
		doc, err := sb.Marshal()
		if err != nil {
			t.Fatalf("accepted bundle does not marshal: %v", err)
		}
		sb2, err := schema.ParseBundle(&meshfedv1.Bundle{TrustDomain: td.Name(), Jwks: doc})
		if err != nil {
			t.Fatalf("accepted %q, but not its re-encoding %q: %v", jwks, doc, err)
		}
		// The refresh hint is in seconds on the wire and a Duration in
		// memory: a huge hint overflows in go-spiffe, so compare keys only.
		sb.ClearRefreshHint()
		sb2.ClearRefreshHint()
		if !sb.Equal(sb2) {
			t.Fatalf("re-encoding %q of %q parses to a different bundle", doc, jwks)
		}
	})
}

// secretMember returns a private or symmetric JWK member of a key in a
// JWKS document, or "".
func secretMember(jwks []byte) string {
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(jwks, &doc) != nil {
		return ""
	}
	for _, k := range doc.Keys {
		for m := range k {
			switch strings.ToLower(m) {
			case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
				return m
			}
		}
	}
	return ""
}

func FuzzCluster(f *testing.F) {
	type seed struct{ name, td, provider, region, zone, addr, key, value string }
	for _, s := range []seed{
		{"eu-1", "eu-1.example.org", "aws", "eu-west-1", "eu-west-1a", "10.0.0.1:15443", "env", "prod"},
		{"onprem", "dc.example", "onprem", "dc1", "", "gw.dc1.example:15443", "", ""},
		{"us-1", "us.example.org", "gcp", "us-central1", "us-central1-b", "[2001:db8::1]:443", "app.kubernetes.io/part-of", ""},
		{"EU-1", "eu-1.example.org", "aws", "eu-west-1", "eu-west-1a", "10.0.0.1:15443", "env", "prod"},
		{"eu-1", "x y", "aws", "eu-west-1", "", "", "", ""},
		{"eu-1", "spiffe://eu.example", "aws", "eu-west-1", "", "", "", ""},
		{"eu-1", "eu.example", "", "eu-west-1", "", "", "", ""},
		{"eu-1", "eu.example", "AWS", "eu-west-1", "", "", "", ""},
		{"eu-1", "eu.example", "aws", "eu west", "", "", "", ""},
		{"eu-1", "eu.example", "aws", "eu-west-1", "Zone A", "", "", ""},
		{"eu-1", "eu.example", "aws", "eu-west-1", "a", "10.0.0.1", "", ""},
		{"eu-1", "eu.example", "aws", "eu-west-1", "a", "10.0.0.1:0", "", ""},
		{"eu-1", "eu.example", "aws", "eu-west-1", "a", "", "bad key", "x"},
		{"eu-1", "eu.example", "aws", "eu-west-1", "a", "", "env", "bad value"},
		{strings.Repeat("x", 100), "eu.example", "aws", "eu-west-1", "", "", "", ""},
	} {
		f.Add(s.name, s.td, s.provider, s.region, s.zone, s.addr, s.key, s.value)
	}
	f.Fuzz(func(t *testing.T, name, td, provider, region, zone, addr, key, value string) {
		c := &meshfedv1.Cluster{
			Name:        name,
			TrustDomain: td,
			Locality:    &meshfedv1.Locality{Provider: provider, Region: region, Zone: zone},
		}
		if addr != "" {
			c.GatewayAddresses = []string{addr}
		}
		if key != "" || value != "" {
			c.Labels = map[string]string{key: value}
		}
		err := schema.ValidateCluster(c)

		// The first invalid field, in the order ValidateCluster checks them.
		var field, bad string
		switch {
		case !isDNSLabel(name):
			field, bad = "cluster name", name
		case !isTrustDomain(td):
			field, bad = "trust_domain", td
		case !isLocality(provider):
			field, bad = "provider", provider
		case !isLocality(region):
			field, bad = "region", region
		case zone != "" && !isLocality(zone):
			field, bad = "zone", zone
		case addr != "" && schema.ValidateAddress("", "", addr) != nil: // FuzzAddress checks the rule
			field, bad = "gateway_addresses", addr
		case c.Labels != nil && !isLabelKey(key):
			field, bad = "label key", key
		case c.Labels != nil && !isLabelValue(value):
			field, bad = "label "+key, value
		}
		if field == "" {
			if err != nil {
				t.Fatalf("ValidateCluster(%v) = %v, want accepted", c, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("ValidateCluster(%v) accepted invalid %s %q", c, field, bad)
		}
		checkFieldErr(t, err, field, bad)
		if field != "cluster name" && !strings.HasPrefix(err.Error(), "cluster "+strconv.Quote(name)+": ") {
			t.Fatalf("error %q does not name cluster %q", err, name)
		}
	})
}

func FuzzExport(f *testing.F) {
	type port struct {
		num              uint32
		name, proto, app string
	}
	type seed struct {
		cluster, ns, name string
		ports             uint8
		p1, p2            port
		zones             uint8
		z1                string
		r1                uint32
		z2                string
		r2                uint32
	}
	http := port{80, "http", "", "http"}
	grpc := port{9090, "grpc", "TCP", "kubernetes.io/h2c"}
	for _, s := range []seed{
		{"eu-1", "demo", "echo", 1, http, grpc, 1, "eu-west-1a", 3, "", 0},
		{"eu-1", "demo", "echo", 2, http, grpc, 2, "eu-west-1a", 3, "eu-west-1b", 0},
		{"eu-1", "demo", "echo", 1, port{53, "", "UDP", ""}, grpc, 2, "", 1, "z", 1},
		{"eu-1", "demo", "echo", 2, port{53, "dns", "UDP", ""}, port{53, "dns-tcp", "TCP", ""}, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 0, http, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 1, port{0, "", "", ""}, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 1, port{65536, "", "", ""}, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 1, port{80, "", "tcp", ""}, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 2, port{80, "", "", ""}, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 2, http, port{80, "web", "", ""}, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 2, http, port{81, "http", "", ""}, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 1, port{80, "HTTP", "", ""}, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 1, port{80, "", "", "bad proto"}, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo", 1, http, grpc, 2, "a", 1, "a", 1},
		{"eu-1", "demo", "echo", 1, http, grpc, 1, "Zone A", 1, "", 0},
		{"eu-1", "demo", "echo", 1, http, grpc, 1, "a", 1_000_001, "", 0},
		{"", "demo", "echo", 1, http, grpc, 0, "", 0, "", 0},
		{"eu-1", "Demo", "echo", 1, http, grpc, 0, "", 0, "", 0},
		{"eu-1", "demo", "echo_1", 1, http, grpc, 0, "", 0, "", 0},
	} {
		f.Add(s.cluster, s.ns, s.name, s.ports,
			s.p1.num, s.p1.name, s.p1.proto, s.p1.app, s.p2.num, s.p2.name, s.p2.proto, s.p2.app,
			s.zones, s.z1, s.r1, s.z2, s.r2)
	}
	f.Fuzz(func(t *testing.T, cluster, ns, name string, nPorts uint8,
		p1 uint32, n1, proto1, app1 string, p2 uint32, n2, proto2, app2 string,
		nZones uint8, z1 string, r1 uint32, z2 string, r2 uint32) {
		e := &meshfedv1.Export{Cluster: cluster, Namespace: ns, Name: name}
		ports := []*meshfedv1.ServicePort{
			{Port: p1, Name: n1, Protocol: proto1, AppProtocol: app1},
			{Port: p2, Name: n2, Protocol: proto2, AppProtocol: app2},
		}
		e.Ports = ports[:nPorts%3]
		zones := []*meshfedv1.ZoneEndpoints{{Zone: z1, Ready: r1}, {Zone: z2, Ready: r2}}
		e.Endpoints = zones[:nZones%3]
		err := schema.ValidateExport(e)

		field, bad := exportProblem(e)
		if field == "" {
			if err != nil {
				t.Fatalf("ValidateExport(%v) = %v, want accepted", e, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("ValidateExport(%v) accepted invalid %s %q", e, field, bad)
		}
		checkFieldErr(t, err, field, bad)
	})
}

// exportProblem returns the first invalid field of e and its value, in the
// order ValidateExport checks them, or "" if e is valid.
func exportProblem(e *meshfedv1.Export) (field, value string) {
	switch {
	case !isDNSLabel(e.Cluster):
		return "cluster", e.Cluster
	case !isDNSLabel(e.Namespace):
		return "namespace", e.Namespace
	case !isDNSLabel(e.Name):
		return "name", e.Name
	case len(e.Ports) == 0:
		return "ports", ""
	}
	names := map[string]bool{}
	keys := map[string]bool{}
	for _, p := range e.Ports {
		num := strconv.FormatUint(uint64(p.Port), 10)
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		switch {
		case p.Port < 1 || p.Port > 65535:
			return "port", num
		case p.Protocol != "" && p.Protocol != "TCP" && p.Protocol != "UDP" && p.Protocol != "SCTP":
			return "protocol", p.Protocol
		case p.Name == "" && len(e.Ports) > 1:
			return "port name", num
		case p.Name != "" && !isDNSLabel(p.Name):
			return "port name", p.Name
		case p.AppProtocol != "" && !isAppProtocol(p.AppProtocol):
			return "app_protocol", p.AppProtocol
		case p.Name != "" && names[p.Name]:
			return "port name", p.Name
		case keys[num+"/"+proto]:
			return "port", num + "/" + proto
		}
		names[p.Name] = true
		keys[num+"/"+proto] = true
	}
	zones := map[string]bool{}
	for _, z := range e.Endpoints {
		switch {
		case z.Zone != "" && !isLocality(z.Zone):
			return "endpoints zone", z.Zone
		case zones[z.Zone]:
			return "endpoints zone", z.Zone
		case z.Ready > schema.MaxReadyPerZone:
			return "endpoints ready", strconv.FormatUint(uint64(z.Ready), 10)
		}
		zones[z.Zone] = true
	}
	return "", ""
}
