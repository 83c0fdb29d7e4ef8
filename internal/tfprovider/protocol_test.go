package tfprovider_test

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/meshfed/meshfed/internal/tfprovider"
)

// The tests in this file talk to the provider the way Terraform does,
// over the plugin protocol (tfprotov6), in process.

// server returns the provider's protocol server and its schemas.
func server(t *testing.T) (tfprotov6.ProviderServer, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	srv := providerserver.NewProtocol6(tfprovider.New("test")())()
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d := errorsOf(resp.Diagnostics); len(d) > 0 {
		t.Fatalf("GetProviderSchema: %v", d)
	}
	return srv, resp
}

// value converts a Go value to a tftypes.Value of type typ: nil is null,
// map[string]any an object or map, []any a list or set, string, bool,
// int and float64 the primitives. Object attributes left out are null.
func value(t *testing.T, typ tftypes.Type, v any) tftypes.Value {
	t.Helper()
	if v == nil {
		return tftypes.NewValue(typ, nil)
	}
	if _, ok := v.(unknown); ok {
		return tftypes.NewValue(typ, tftypes.UnknownValue)
	}
	switch typ := typ.(type) {
	case tftypes.Object:
		m := v.(map[string]any)
		for k := range m {
			if _, ok := typ.AttributeTypes[k]; !ok {
				t.Fatalf("attribute %q is not in the schema", k)
			}
		}
		vals := map[string]tftypes.Value{}
		for name, at := range typ.AttributeTypes {
			vals[name] = value(t, at, m[name])
		}
		return tftypes.NewValue(typ, vals)
	case tftypes.Map:
		vals := map[string]tftypes.Value{}
		for k, e := range v.(map[string]any) {
			vals[k] = value(t, typ.ElementType, e)
		}
		return tftypes.NewValue(typ, vals)
	case tftypes.List:
		var vals []tftypes.Value
		for _, e := range v.([]any) {
			vals = append(vals, value(t, typ.ElementType, e))
		}
		return tftypes.NewValue(typ, vals)
	case tftypes.Set:
		var vals []tftypes.Value
		for _, e := range v.([]any) {
			vals = append(vals, value(t, typ.ElementType, e))
		}
		return tftypes.NewValue(typ, vals)
	}
	switch x := v.(type) {
	case int:
		return tftypes.NewValue(typ, big.NewFloat(float64(x)))
	case float64:
		return tftypes.NewValue(typ, big.NewFloat(x))
	default:
		return tftypes.NewValue(typ, x)
	}
}

// unknown stands for a value known only after apply.
type unknown struct{}

func dynamic(t *testing.T, s *tfprotov6.Schema, config map[string]any) *tfprotov6.DynamicValue {
	t.Helper()
	typ := s.ValueType()
	dv, err := tfprotov6.NewDynamicValue(typ, value(t, typ, config))
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// diagnostic is a diagnostic in a form tests compare: severity, the
// attribute path as HCL writes it (targets[0].region), summary and detail.
type diagnostic struct {
	Path, Summary, Detail string
}

func (d diagnostic) String() string {
	return fmt.Sprintf("[%s] %s: %s", d.Path, d.Summary, d.Detail)
}

func errorsOf(ds []*tfprotov6.Diagnostic) []diagnostic {
	var out []diagnostic
	for _, d := range ds {
		if d.Severity != tfprotov6.DiagnosticSeverityError {
			continue
		}
		out = append(out, diagnostic{Path: hclPath(d.Attribute), Summary: d.Summary, Detail: d.Detail})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func hclPath(p *tftypes.AttributePath) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range p.Steps() {
		switch s := s.(type) {
		case tftypes.AttributeName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(s))
		case tftypes.ElementKeyInt:
			fmt.Fprintf(&b, "[%d]", s)
		case tftypes.ElementKeyString:
			fmt.Fprintf(&b, "[%q]", string(s))
		case tftypes.ElementKeyValue:
			b.WriteString("[*]")
		}
	}
	return b.String()
}

func validateResource(t *testing.T, typeName string, config map[string]any) []diagnostic {
	t.Helper()
	srv, schemas := server(t)
	s, ok := schemas.ResourceSchemas[typeName]
	if !ok {
		t.Fatalf("no resource %s", typeName)
	}
	resp, err := srv.ValidateResourceConfig(context.Background(), &tfprotov6.ValidateResourceConfigRequest{
		TypeName: typeName, Config: dynamic(t, s, config),
	})
	if err != nil {
		t.Fatal(err)
	}
	return errorsOf(resp.Diagnostics)
}

func validateDataSource(t *testing.T, typeName string, config map[string]any) []diagnostic {
	t.Helper()
	srv, schemas := server(t)
	s, ok := schemas.DataSourceSchemas[typeName]
	if !ok {
		t.Fatalf("no data source %s", typeName)
	}
	resp, err := srv.ValidateDataResourceConfig(context.Background(), &tfprotov6.ValidateDataResourceConfigRequest{
		TypeName: typeName, Config: dynamic(t, s, config),
	})
	if err != nil {
		t.Fatal(err)
	}
	return errorsOf(resp.Diagnostics)
}

func validateProvider(t *testing.T, config map[string]any) []diagnostic {
	t.Helper()
	srv, schemas := server(t)
	resp, err := srv.ValidateProviderConfig(context.Background(), &tfprotov6.ValidateProviderConfigRequest{
		Config: dynamic(t, schemas.Provider, config),
	})
	if err != nil {
		t.Fatal(err)
	}
	return errorsOf(resp.Diagnostics)
}

// configureProvider configures the provider as Terraform does before a
// plan, and returns the errors.
func configureProvider(t *testing.T, config map[string]any) []diagnostic {
	t.Helper()
	srv, schemas := server(t)
	resp, err := srv.ConfigureProvider(context.Background(), &tfprotov6.ConfigureProviderRequest{
		TerraformVersion: "1.5.7", Config: dynamic(t, schemas.Provider, config),
	})
	if err != nil {
		t.Fatal(err)
	}
	return errorsOf(resp.Diagnostics)
}
