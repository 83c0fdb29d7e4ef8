package cli_test

import (
	"strings"
	"testing"
)

// TestAgentBadFlags checks `meshfed agent` refuses bad flags with a
// message naming them, before touching Kubernetes or the control plane.
func TestAgentBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenOnly := writeFile(t, dir, "meshfed.yaml", "server: 127.0.0.1:1\nca: ca.pem\nserver_id: spiffe://meshfed.local/meshfed/controlplane\ntoken: x\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"agent", "--cluster", "east"}, 2, "--controlplane-config is required"},
		{[]string{"agent", "--cluster", "east", "--controlplane-config", tokenOnly, "--import-ports", "9-1"}, 2, "--import-ports"},
		{[]string{"agent", "--cluster", "east", "--controlplane-config", tokenOnly, "--log-level", "loud"}, 2, `--log-level "loud"`},
		{[]string{"agent", "--cluster", "east", "--controlplane-config", tokenOnly}, 1, "has no cert/key"},
		{[]string{"agent", "--cluster", "east", "--controlplane-config", dir + "/missing.yaml"}, 1, "--controlplane-config"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("meshfed %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}
