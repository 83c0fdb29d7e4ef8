package mcsapi

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestImportPorts reads the ports the agent recorded, named and unnamed
// (the agent and the gateways share PortKey), and skips what is not the
// agent's or is malformed.
func TestImportPorts(t *testing.T) {
	t.Parallel()
	si := func(name string, labels map[string]any, ann string, ports ...map[string]any) any {
		ps := make([]any, len(ports))
		for i, p := range ports {
			ps[i] = p
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"namespace": "demo", "name": name, "labels": labels,
				"annotations": map[string]any{AnnotationGatewayPorts: ann}},
			"spec": map[string]any{"ports": ps},
		}}
	}
	ours := map[string]any{LabelManagedBy: ManagedBy}
	got := importPorts([]any{
		si("echo", ours, "http=17001,"+PortKey("", 9090, "")+"=17000",
			map[string]any{"name": "http", "port": int64(80)},
			map[string]any{"port": int64(9090), "protocol": "TCP"}),
		si("theirs", nil, "http=17005", map[string]any{"name": "http", "port": int64(80)}),
		si("broken", ours, "http", map[string]any{"name": "http", "port": int64(80)}),
	}, slog.New(slog.DiscardHandler))
	want := []ImportPort{{"demo", "echo", 9090, 17000}, {"demo", "echo", 80, 17001}}
	if len(got) != len(want) {
		t.Fatalf("importPorts = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("importPorts = %+v, want %+v", got, want)
		}
	}
	if k := PortKey("", 53, "UDP"); k != "53/UDP" {
		t.Fatalf("PortKey = %q", k)
	}
}
