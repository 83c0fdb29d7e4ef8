package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
)

// imdsV2 stands in for the EC2 instance metadata service, which cannot be
// reached from here. It follows the documented IMDSv2 wire format: a PUT
// to /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds returns a
// token; every GET must carry it in X-aws-ec2-metadata-token.
func imdsV2(t *testing.T, region, zone string) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	tokens := map[string]bool{}
	files := map[string]string{
		"/latest/dynamic/instance-identity/document": `{"accountId":"123456789012","availabilityZone":"` + zone + `","instanceId":"i-0abc","region":"` + region + `"}`,
		"/latest/meta-data/public-ipv4":              "203.0.113.10",
		"/latest/meta-data/local-ipv4":               "10.0.1.17",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "missing TTL", http.StatusBadRequest)
				return
			}
			tok := "token-" + strings.Repeat("x", len(tokens)+1)
			tokens[tok] = true
			w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
			w.Write([]byte(tok))
			return
		}
		if !tokens[r.Header.Get("X-aws-ec2-metadata-token")] {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestClusterAddDiscoversLocalityFromTheAWSPlugin walks `meshfed cluster
// add --provider aws` with a real meshfed-provider-aws subprocess:
//
//  1. build the plugin into a plugin directory;
//  2. add a cluster with neither --region nor --zone: both come from the
//     instance identity document, and --gateway-port registers the
//     instance's addresses;
//  3. add one with --zone: the flag wins over the plugin;
//  4. a provider with no plugin needs --region.
func TestClusterAddDiscoversLocalityFromTheAWSPlugin(t *testing.T) {
	pluginDir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "meshfed-provider-aws"), "github.com/meshfed/meshfed/cmd/meshfed-provider-aws")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	imds := imdsV2(t, "eu-central-1", "eu-central-1b")
	cfgFile := writeFile(t, t.TempDir(), "aws.yaml", "imds_endpoint: "+imds.URL+"\n")
	srv := controlplanetest.Start(t, controlplane.Config{})
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, "", append([]string{"--config", srv.ConfigPath}, args...)...)
	}

	// 2.
	code, _, errOut := cli("cluster", "add", "eu-1", "--trust-domain", "eu-1.example.org", "--provider", "aws",
		"--plugin-dir", pluginDir, "--provider-config", cfgFile, "--gateway-port", "15443")
	if code != 0 {
		t.Fatalf("cluster add: exit %d: %s", code, errOut)
	}
	got := getCluster(t, cli, "eu-1")
	if got.Locality.Region != "eu-central-1" || got.Locality.Zone != "eu-central-1b" {
		t.Fatalf("locality %+v, want eu-central-1 / eu-central-1b from instance metadata", got.Locality)
	}
	if strings.Join(got.GatewayAddresses, ",") != "203.0.113.10:15443,10.0.1.17:15443" {
		t.Fatalf("gateway addresses %v", got.GatewayAddresses)
	}

	// 3.
	code, _, errOut = cli("cluster", "add", "eu-2", "--trust-domain", "eu-2.example.org", "--provider", "aws", "--zone", "eu-central-1c",
		"--plugin-dir", pluginDir, "--provider-config", cfgFile)
	if code != 0 {
		t.Fatalf("cluster add --zone: exit %d: %s", code, errOut)
	}
	if got := getCluster(t, cli, "eu-2"); got.Locality.Region != "eu-central-1" || got.Locality.Zone != "eu-central-1c" {
		t.Fatalf("locality %+v, want the region discovered and the zone from the flag", got.Locality)
	}

	// 4.
	code, _, errOut = cli("cluster", "add", "dc-1", "--trust-domain", "dc-1.example.org", "--provider", "onprem", "--plugin-dir", pluginDir)
	if code != 2 || !strings.Contains(errOut, `--region is required: provider "onprem" has no plugin`) {
		t.Fatalf("onprem without --region: exit %d: %s", code, errOut)
	}
}

type clusterJSON struct {
	Locality struct {
		Region string `json:"region"`
		Zone   string `json:"zone"`
	} `json:"locality"`
	GatewayAddresses []string `json:"gateway_addresses"`
}

func getCluster(t *testing.T, cli func(...string) (int, string, string), name string) clusterJSON {
	t.Helper()
	code, out, errOut := cli("cluster", "get", name, "-o", "json")
	if code != 0 {
		t.Fatalf("cluster get %s: exit %d: %s", name, code, errOut)
	}
	var resp struct {
		Cluster clusterJSON `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return resp.Cluster
}
