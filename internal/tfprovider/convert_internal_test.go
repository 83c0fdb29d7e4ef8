package tfprovider

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestClusterConversion(t *testing.T) {
	created := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	stored := &meshfedv1.Cluster{
		Name: "eu-1", TrustDomain: "eu-1.example.org",
		Locality:         &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1"},
		GatewayAddresses: []string{"10.0.0.1:15443", "10.0.0.2:15443"},
		CreatedAt:        timestamppb.New(created),
	}
	emptyLabels := types.MapValueMust(types.StringType, map[string]attr.Value{})
	for _, tc := range []struct {
		name       string
		prior      *clusterModel
		wantLabels types.Map
	}{
		{"no prior state (import)", nil, types.MapNull(types.StringType)},
		{"labels left out", &clusterModel{Labels: types.MapNull(types.StringType)}, types.MapNull(types.StringType)},
		{"labels = {}", &clusterModel{Labels: emptyLabels}, emptyLabels},
		{"labels removed outside Terraform", &clusterModel{Labels: types.MapValueMust(types.StringType, map[string]attr.Value{"env": types.StringValue("prod")})},
			types.MapNull(types.StringType)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := clusterToModel(stored, tc.prior)
			if !m.Labels.Equal(tc.wantLabels) {
				t.Errorf("labels = %v, want %v", m.Labels, tc.wantLabels)
			}
			if !m.Locality.Zone.IsNull() {
				t.Errorf("zone = %v, want null for none", m.Locality.Zone)
			}
			if got := m.CreatedAt.ValueString(); got != "2026-11-22T10:00:00Z" {
				t.Errorf("created_at = %s", got)
			}
			if got := goStrings(m.GatewayAddresses.Elements()); strings.Join(got, ",") != "10.0.0.1:15443,10.0.0.2:15443" {
				t.Errorf("gateway_addresses = %v (order must be kept)", got)
			}
			back, err := clusterFromModel(&m)
			if err != nil {
				t.Fatal(err)
			}
			back.CreatedAt = stored.CreatedAt
			if back.String() != stored.String() {
				t.Errorf("round trip:\n got %v\nwant %v", back, stored)
			}
		})
	}
}

func TestClusterFromModelValidates(t *testing.T) {
	m := clusterModel{
		Name: types.StringValue("eu-1"), TrustDomain: types.StringValue("eu-1.example.org"),
		Locality: &localityModel{Provider: types.StringValue("aws"), Region: types.StringValue("eu-west-1"), Zone: types.StringNull()},
		Labels:   types.MapNull(types.StringType), GatewayAddresses: types.ListValueMust(types.StringType, []attr.Value{types.StringValue("nope")}),
	}
	_, err := clusterFromModel(&m)
	if err == nil || !strings.Contains(err.Error(), `gateway_addresses "nope" is not a host:port address`) {
		t.Fatalf("err = %v", err)
	}
}

func TestFailoverValues(t *testing.T) {
	doc := `{"targets":[{"region":"europe-west1"},{"cluster":"backup-dc"},{"labels":{"tier":"gold"}}],` +
		`"never":["legacy-1","a-1"],"weights":{"big-1":3,"small-1":1},"max_shift_per_second":0.2}`
	var f schema.FailoverPolicy
	if err := json.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	nullPrior := failoverPrior{types.ListNull(failoverTargetType), types.SetNull(types.StringType), types.MapNull(types.Int64Type), types.Float64Null()}
	v := failoverValues(&f, nullPrior)
	if n := len(v.targets.Elements()); n != 3 {
		t.Fatalf("targets = %v", v.targets)
	}
	third := v.targets.Elements()[2].(types.Object).Attributes()
	if !third["region"].IsNull() || !third["cluster"].IsNull() || third["labels"].(types.Map).Elements()["tier"].(types.String).ValueString() != "gold" {
		t.Errorf("third target = %v", third)
	}
	if got := v.weights.Elements()["big-1"].(types.Int64).ValueInt64(); got != 3 {
		t.Errorf("weights = %v", v.weights)
	}
	if got := v.maxShift.ValueFloat64(); got != 0.2 {
		t.Errorf("max_shift_per_second = %v", got)
	}

	// Nothing stored: null, unless the configuration wrote it empty.
	var empty schema.FailoverPolicy
	v = failoverValues(&empty, nullPrior)
	if !v.targets.IsNull() || !v.never.IsNull() || !v.weights.IsNull() || !v.maxShift.IsNull() {
		t.Errorf("empty document with a null prior = %+v, want all null", v)
	}
	emptyPrior := failoverPrior{
		types.ListValueMust(failoverTargetType, []attr.Value{}), types.SetValueMust(types.StringType, []attr.Value{}),
		types.MapValueMust(types.Int64Type, map[string]attr.Value{}), types.Float64Value(0),
	}
	v = failoverValues(&empty, emptyPrior)
	if v.targets.IsNull() || v.never.IsNull() || v.weights.IsNull() || v.maxShift.IsNull() || v.maxShift.ValueFloat64() != 0 {
		t.Errorf("empty document with an empty prior = %+v, want all empty", v)
	}
}

func TestAuthorizationValue(t *testing.T) {
	v := authorizationValue(&schema.AuthorizationPolicy{})
	if v.IsNull() || len(v.Elements()) != 0 {
		t.Errorf("no rules = %v, want an empty list (deny everybody)", v)
	}
	v = authorizationValue(&schema.AuthorizationPolicy{Allow: []schema.AuthorizationRule{{Cluster: "east", SPIFFEID: "spiffe://e/x/*"}}})
	rule := v.Elements()[0].(types.Object).Attributes()
	if rule["cluster"].(types.String).ValueString() != "east" || !rule["trust_domain"].IsNull() {
		t.Errorf("rule = %v", rule)
	}
}

func TestDocumentFieldPath(t *testing.T) {
	for field, want := range map[string]string{
		"targets[3].region":    "targets[3].region",
		"targets[0]":           "targets[0]",
		"never[2]":             "never",
		"weights key":          "weights",
		"label key":            "targets",
		"max_shift_per_second": "max_shift_per_second",
		"allow[1].spiffe_id":   "allow[1].spiffe_id",
		"document":             "",
		"document size":        "",
		"targets[x].region":    "",
	} {
		p, ok := documentFieldPath(field)
		if got := p.String(); (want == "") == ok || ok && got != want {
			t.Errorf("documentFieldPath(%q) = %q, %v; want %q", field, got, ok, want)
		}
	}
}

func TestFieldPathsMatch(t *testing.T) {
	for msg, want := range map[string]string{
		`trust_domain "meshfed.local" is the control plane's own trust domain; give the cluster its own`: "trust_domain",
		`cluster "eu-1": region "EU" is not a valid region name`:                                         "locality.region",
		`cluster name "X" is not a valid DNS-1123 label`:                                                 "name",
		`cluster "eu-1": not found`:                                                                      "",
		`bundle "eu-1.example.org": sequence 1 < stored 5: store: bundle rollback`:                       "",
	} {
		p, ok := clusterFields.match(msg)
		if got := p.String(); (want == "") == ok || ok && got != want {
			t.Errorf("match(%q) = %q, %v; want %q", msg, got, ok, want)
		}
	}
}

func TestParsePolicyID(t *testing.T) {
	if ns, name, err := parsePolicyID("demo/api"); err != nil || ns != "demo" || name != "api" {
		t.Errorf("demo/api = %q %q %v", ns, name, err)
	}
	for id, want := range map[string]string{
		"demo":        `import ID "demo" is not NAMESPACE/NAME`,
		"demo/api/x":  `is not NAMESPACE/NAME`,
		"Demo/api":    `import ID namespace "Demo" is not a valid DNS-1123 label`,
		"demo/api_v1": `import ID name "api_v1" is not a valid DNS-1123 label`,
	} {
		if _, _, err := parsePolicyID(id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parsePolicyID(%q) = %v, want %q", id, err, want)
		}
	}
}

// testCA returns a dev CA's certificate as PEM and its bundle as JWKS
// with the given sequence (0: none).
func testCA(t testing.TB, td string, sequence uint64) (pemDoc, jwks []byte) {
	t.Helper()
	id := spiffeid.RequireTrustDomainFromString(td)
	ca, err := devca.New(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}); err != nil {
		t.Fatal(err)
	}
	sb := spiffebundle.FromX509Authorities(id, ca.Bundle().X509Authorities())
	if sequence != 0 {
		sb.SetSequenceNumber(sequence)
	}
	if jwks, err = sb.Marshal(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), jwks
}

func TestBundleSequenceAndComparison(t *testing.T) {
	const td = "eu-1.example.org"
	pemA, jwksA := testCA(t, td, 0)
	_, jwksB := testCA(t, td, 0)
	_, jwksA7 := testCA(t, td, 7) // another CA, sequenced

	d, err := parseBundle(td, pemA)
	if err != nil {
		t.Fatal(err)
	}
	if d.sequenced {
		t.Error("a PEM bundle has no sequence of its own")
	}
	for _, tc := range []struct {
		name   string
		stored *meshfedv1.Bundle
		want   uint64
	}{
		{"nothing stored", nil, 1},
		{"stored at 5", &meshfedv1.Bundle{Sequence: 5}, 6},
	} {
		doc, err := d.document(tc.stored)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(td), doc)
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := sb.SequenceNumber(); seq != tc.want {
			t.Errorf("%s: sequence %d, want %d", tc.name, seq, tc.want)
		}
		if !d.matches(td, doc) {
			t.Errorf("%s: the document sent does not match what was configured", tc.name)
		}
	}
	if !d.matches(td, jwksA) {
		t.Error("PEM and JWKS of the same CA differ")
	}
	if d.matches(td, jwksB) {
		t.Error("bundles of different CAs match")
	}

	s, err := parseBundle(td, jwksA7)
	if err != nil {
		t.Fatal(err)
	}
	if !s.sequenced {
		t.Fatal("spiffe_sequence not seen")
	}
	if doc, _ := s.document(&meshfedv1.Bundle{Sequence: 3}); !s.matches(td, doc) {
		t.Error("a sequenced document must be sent with its own sequence")
	}
	other, _ := s.document(nil)
	var m map[string]any
	_ = json.Unmarshal(other, &m)
	m["spiffe_sequence"] = 8
	changed, _ := json.Marshal(m)
	if s.matches(td, changed) {
		t.Error("a different stored sequence matches a document that gives its own")
	}
}

func TestBundleJWTKeysCompareByValue(t *testing.T) {
	const td = "eu-1.example.org"
	id := spiffeid.RequireTrustDomainFromString(td)
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(keys map[string]*ecdsa.PrivateKey) []byte {
		sb := spiffebundle.New(id)
		for kid, k := range keys {
			if err := sb.AddJWTAuthority(kid, k.Public()); err != nil {
				t.Fatal(err)
			}
		}
		doc, err := sb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	d, err := parseBundle(td, mk(map[string]*ecdsa.PrivateKey{"a": k1, "b": k2}))
	if err != nil {
		t.Fatal(err)
	}
	if !d.matches(td, mk(map[string]*ecdsa.PrivateKey{"b": k2, "a": k1})) {
		t.Error("same keys in another order differ")
	}
	if d.matches(td, mk(map[string]*ecdsa.PrivateKey{"a": k2, "b": k1})) {
		t.Error("swapped key IDs match")
	}
}

func TestParseBundleErrors(t *testing.T) {
	const td = "eu-1.example.org"
	for doc, want := range map[string]string{
		"":        "is empty",
		"garbage": "is neither a SPIFFE bundle document (JWKS) nor PEM certificates",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n": "holds PEM blocks but no CERTIFICATE",
		`{"keys":[]}`: "holds no keys",
		`{"keys":[{"kty":"oct","k":"c2VjcmV0","use":"jwt-svid","kid":"a"}]}`: "private or symmetric key material",
		strings.Repeat(" ", schema.MaxBundleBytes+1):                         "more than the",
	} {
		if _, err := parseBundle(td, []byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseBundle(%.30q) = %v, want %q", doc, err, want)
		}
	}
}

func FuzzParseBundle(f *testing.F) {
	pemDoc, jwks := testCA(f, "eu-1.example.org", 3)
	f.Add(pemDoc)
	f.Add(jwks)
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseBundle("eu-1.example.org", data)
		if err != nil {
			return
		}
		doc, err := d.document(&meshfedv1.Bundle{Sequence: 2})
		if err != nil {
			t.Fatalf("accepted bundle cannot be encoded: %v", err)
		}
		if !d.matches("eu-1.example.org", doc) {
			t.Fatalf("accepted bundle does not match its own document %s", doc)
		}
		if _, err := schema.CanonicalBundle(&meshfedv1.Bundle{TrustDomain: "eu-1.example.org", Jwks: doc}, "admin"); err != nil {
			t.Fatalf("the control plane would refuse what the plan accepted: %v", err)
		}
	})
}

func FuzzParsePolicyID(f *testing.F) {
	for _, s := range []string{"demo/api", "demo", "a/b/c", "/", "Demo/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		ns, name, err := parsePolicyID(id)
		if err != nil {
			return
		}
		if policyRef(ns, name) != id || !schema.IsDNSLabel(ns) || !schema.IsDNSLabel(name) {
			t.Fatalf("parsePolicyID(%q) = %q, %q", id, ns, name)
		}
	})
}

func FuzzDocumentFieldPath(f *testing.F) {
	for _, s := range []string{"targets[0].region", "never[1]", "weights key", "allow[2]", "targets[-1]", "targets[99999999999999999999]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		p, ok := documentFieldPath(field)
		if !ok && !p.Equal(path.Empty()) {
			t.Fatalf("documentFieldPath(%q) = %v without ok", field, p)
		}
	})
}
