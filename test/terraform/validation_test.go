package terraform_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/federation/controlplane"
	"github.com/meshfed/meshfed/federation/controlplane/controlplanetest"
)

// TestValidationErrorsNameTheAttribute checks that bad values fail the
// plan before anything is contacted, each error pointing at the line
// holding the value and saying what is allowed.
func TestValidationErrorsNameTheAttribute(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform")
	}
	t.Parallel()
	w := newWorkdir(t)
	// No control plane: a plan that got past validation would fail on the
	// missing config file instead.
	w.write("main.tf", header+`
provider "meshfed" {
  config_path = "`+filepath.Join(w.dir, "missing.yaml")+`"
}

resource "meshfed_cluster" "bad" {
  name         = "Bad_Name"
  trust_domain = "eu-1.example.org"
  locality = {
    provider = "aws"
    region   = "eu-west-1"
  }
}

resource "meshfed_failover_policy" "bad" {
  namespace = "demo"
  name      = "api"
  targets = [
    { region = "eu-west-1", cluster = "eu-1" },
  ]
}

resource "meshfed_trust_domain" "bad" {
  trust_domain = "eu-1.example.org"
  bundle_endpoint = {
    url     = "http://spire.example.org"
    profile = "https_web"
  }
}
`)
	code, _, errOut := w.run("plan", "-no-color", "-input=false")
	if code != 1 {
		t.Fatalf("plan with bad values exited %d, want 1:\n%s", code, errOut)
	}
	flat := oneLine(errOut) // Terraform wraps long messages
	for _, want := range []string{
		`with meshfed_cluster.bad,`,
		`name         = "Bad_Name"`,
		`name "Bad_Name" is not a valid DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit).`,
		`with meshfed_failover_policy.bad,`,
		`targets[0] sets region and cluster: set exactly one of region, cluster or labels.`,
		`with meshfed_trust_domain.bad,`,
		`bundle_endpoint.url "http://spire.example.org" is not an https URL with a host (for example https://spire.example.org:8443).`,
	} {
		if !strings.Contains(flat, oneLine(want)) {
			t.Errorf("the plan's errors do not contain %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "missing.yaml") {
		t.Errorf("the plan got as far as configuring the provider:\n%s", errOut)
	}
}

// TestRefusals checks what only the control plane can refuse: creating
// an object it already holds (import instead), and a cluster claiming the
// control plane's own trust domain, reported at that attribute.
func TestRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform against a control plane")
	}
	t.Parallel()
	cp := controlplanetest.Start(t, controlplane.Config{})
	meshfed(t, cp.ConfigPath, "", "cluster", "add", "eu-1", "--trust-domain", "eu-1.example.org",
		"--provider", "aws", "--region", "eu-west-1", "--zone", "eu-west-1a")

	w := newWorkdir(t)
	w.write("main.tf", header+`
provider "meshfed" {
  config_path = "`+cp.ConfigPath+`"
}

resource "meshfed_cluster" "taken" {
  name         = "eu-1"
  trust_domain = "eu-1.example.org"
  locality = {
    provider = "aws"
    region   = "eu-west-1"
  }
}

resource "meshfed_cluster" "own" {
  name         = "cp"
  trust_domain = "meshfed.local"
  locality = {
    provider = "aws"
    region   = "eu-west-1"
  }
}
`)
	code, _, errOut := w.run("apply", "-auto-approve", "-no-color", "-input=false")
	if code != 1 {
		t.Fatalf("apply exited %d, want 1:\n%s", code, errOut)
	}
	flat := oneLine(errOut)
	for _, want := range []string{
		"Error: Cluster already exists",
		`with meshfed_cluster.taken,`,
		`terraform import ADDRESS eu-1`,
		`Error: Cannot create cluster "cp"`,
		`with meshfed_cluster.own,`,
		`trust_domain = "meshfed.local"`,
		`is the control plane's own trust domain`,
	} {
		if !strings.Contains(flat, oneLine(want)) {
			t.Errorf("apply errors do not contain %q:\n%s", want, errOut)
		}
	}
}

// oneLine collapses runs of white space, so that text Terraform wrapped
// compares equal to the message as written.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
