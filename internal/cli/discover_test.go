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

// gceMetadata stands in for the GCE metadata server: requests must carry
// "Metadata-Flavor: Google" (else 403), replies carry it too, values live
// under /computeMetadata/v1/, an undefined key is a 404.
func gceMetadata(t *testing.T, zone string) *httptest.Server {
	t.Helper()
	values := map[string]string{
		"instance/zone":      "projects/123456789/zones/" + zone,
		"project/project-id": "meshfed-prod",
		"instance/id":        "4520031799277581759",
		"instance/network-interfaces/0/access-configs/0/external-ip": "203.0.113.20",
		"instance/network-interfaces/0/ip":                           "10.132.0.7",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		if r.Header.Get("Metadata-Flavor") != "Google" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		v, ok := values[strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// azureIMDS stands in for the Azure Instance Metadata Service: GET
// /metadata/instance needs "Metadata: true" and an api-version query
// parameter (else 400 with a JSON error).
func azureIMDS(t *testing.T, location, zone string) *httptest.Server {
	t.Helper()
	doc := `{"compute":{"location":"` + location + `","zone":"` + zone + `","vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","subscriptionId":"8d10da13-8125-4ba9-a717-bf7490507b3d","name":"vm0"},
"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.224.0.4","publicIpAddress":"203.0.113.30"}]}}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case r.Header.Get("Metadata") != "true":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error": "Bad request. Required metadata header not specified"}`))
		case r.URL.Query().Get("api-version") == "":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error": "Bad request. api-version was not specified in the request."}`))
		case r.URL.Path != "/metadata/instance":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.Write([]byte(doc))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func buildPlugin(t *testing.T, dir, name string) {
	t.Helper()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "meshfed-provider-"+name), "github.com/meshfed/meshfed/cmd/meshfed-provider-"+name)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin %s: %v\n%s", name, err, out)
	}
}

// TestClusterAddDiscoversLocality walks `meshfed cluster add --provider P`
// with a real meshfed-provider-P subprocess for each cloud, against a
// local server that follows that cloud's documented metadata wire format
// (the clouds cannot be reached from here):
//
//  1. build the plugin into a plugin directory;
//  2. add a cluster with neither --region nor --zone: both come from the
//     instance metadata, and --gateway-port registers the instance's
//     addresses;
//  3. add one with --zone: the flag wins over the plugin.
func TestClusterAddDiscoversLocality(t *testing.T) {
	tests := []struct {
		provider  string
		config    func(t *testing.T) string // plugin config (YAML)
		region    string
		zone      string
		addresses string
		flagZone  string
	}{
		{"aws", func(t *testing.T) string { return "imds_endpoint: " + imdsV2(t, "eu-central-1", "eu-central-1b").URL },
			"eu-central-1", "eu-central-1b", "203.0.113.10:15443,10.0.1.17:15443", "eu-central-1c"},
		{"gcp", func(t *testing.T) string {
			return "metadata_host: " + strings.TrimPrefix(gceMetadata(t, "europe-west1-b").URL, "http://")
		}, "europe-west1", "europe-west1-b", "203.0.113.20:15443,10.132.0.7:15443", "europe-west1-c"},
		{"azure", func(t *testing.T) string { return "imds_endpoint: " + azureIMDS(t, "westeurope", "2").URL },
			"westeurope", "westeurope-2", "203.0.113.30:15443,10.224.0.4:15443", "westeurope-3"},
	}
	srv := controlplanetest.Start(t, controlplane.Config{})
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, "", append([]string{"--config", srv.ConfigPath}, args...)...)
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			// 1.
			pluginDir := t.TempDir()
			buildPlugin(t, pluginDir, tt.provider)
			cfgFile := writeFile(t, t.TempDir(), tt.provider+".yaml", tt.config(t)+"\n")

			// 2.
			name := tt.provider + "-1"
			code, _, errOut := cli("cluster", "add", name, "--trust-domain", name+".example.org", "--provider", tt.provider,
				"--plugin-dir", pluginDir, "--provider-config", cfgFile, "--gateway-port", "15443")
			if code != 0 {
				t.Fatalf("cluster add: exit %d: %s", code, errOut)
			}
			got := getCluster(t, cli, name)
			if got.Locality.Region != tt.region || got.Locality.Zone != tt.zone {
				t.Fatalf("locality %+v, want %s / %s from instance metadata", got.Locality, tt.region, tt.zone)
			}
			if strings.Join(got.GatewayAddresses, ",") != tt.addresses {
				t.Fatalf("gateway addresses %v, want %s", got.GatewayAddresses, tt.addresses)
			}

			// 3.
			name = tt.provider + "-2"
			code, _, errOut = cli("cluster", "add", name, "--trust-domain", name+".example.org", "--provider", tt.provider, "--zone", tt.flagZone,
				"--plugin-dir", pluginDir, "--provider-config", cfgFile)
			if code != 0 {
				t.Fatalf("cluster add --zone: exit %d: %s", code, errOut)
			}
			if got := getCluster(t, cli, name); got.Locality.Region != tt.region || got.Locality.Zone != tt.flagZone {
				t.Fatalf("locality %+v, want the region discovered and the zone from the flag", got.Locality)
			}
		})
	}
}

// TestClusterAddWithoutPluginNeedsRegion: a provider with no plugin (an
// on-premises site) cannot be asked, so --region is required.
func TestClusterAddWithoutPluginNeedsRegion(t *testing.T) {
	code, _, errOut := run(t, "", "--config", filepath.Join(t.TempDir(), "none.yaml"), "cluster", "add", "dc-1",
		"--trust-domain", "dc-1.example.org", "--provider", "onprem", "--plugin-dir", t.TempDir())
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
