package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// maxPolicyFileBytes bounds a policy file before conversion; YAML may be
// larger than the JSON it becomes, which schema.MaxPolicyBytes bounds.
const maxPolicyFileBytes = 4 * schema.MaxPolicyBytes

func newPolicyCommand(a *app) *cobra.Command {
	return group("policy", "Manage per-service failover and authorization policies",
		`A policy is a JSON document attached to an exported service
(NAMESPACE/NAME) of one kind:

  failover       the order in which regions or clusters take over, clusters
                 that must never receive the service, weights, and how fast
                 traffic may shift;
  authorization  which callers (trust domain, cluster, SPIFFE ID) may reach
                 the service through a gateway. An empty allow list denies
                 everybody.`,
		`  meshfed policy put demo/api --kind failover -f failover.yaml
  meshfed policy list`,
		newPolicyGetCommand(a), newPolicyPutCommand(a), newPolicyDeleteCommand(a), newPolicyListCommand(a))
}

func addKindFlag(c *cobra.Command) *enumFlag {
	k := &enumFlag{allowed: []string{schema.PolicyFailover, schema.PolicyAuthorization}}
	c.Flags().Var(k, "kind", "policy kind: failover or authorization (required)")
	return k
}

// policyRef parses and validates NAMESPACE/NAME.
func policyRef(arg string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(arg, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", usagef("%q is not NAMESPACE/NAME (for example demo/api)", arg)
	}
	if err := schema.ValidateName("policy", "namespace", namespace); err != nil {
		return "", "", err
	}
	if err := schema.ValidateName("policy "+namespace, "name", name); err != nil {
		return "", "", err
	}
	return namespace, name, nil
}

func describePolicy(namespace, name, kind string) string {
	return fmt.Sprintf("%s policy %s/%s", kind, namespace, name)
}

func newPolicyGetCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAMESPACE/NAME --kind KIND",
		Short: "Show one policy",
		Long: `Show a policy and its document. With -o json or yaml the document is in
the "document" field, base64-encoded.`,
		Example: `  meshfed policy get demo/api --kind failover
  meshfed policy get demo/api --kind authorization -o json | jq -r .policy.document | base64 -d > authz.json`,
		Args: positional("NAMESPACE/NAME"),
	}
	out := addOutputFlag(cmd)
	kind := addKindFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ns, name, err := policyRef(args[0])
		if err != nil {
			return err
		}
		if err := requireFlags(cmd, "kind"); err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.GetPolicy(ctx, &meshfedv1.GetPolicyRequest{Namespace: ns, Name: name, Kind: kind.value})
			if err != nil {
				return s.fail(err, describePolicy(ns, name, kind.value))
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { policyDetail(w, resp.GetPolicy()) })
		})
	}
	return cmd
}

func policyDetail(w io.Writer, p *meshfedv1.Policy) {
	row(w, "Policy:", p.GetNamespace()+"/"+p.GetName())
	row(w, "Kind:", p.GetKind())
	row(w, "Updated:", timestamp(p.GetUpdatedAt()))
	row(w, "Document:")
	var doc bytes.Buffer
	if err := json.Indent(&doc, p.GetDocument(), "  ", "  "); err != nil {
		doc.Reset()
		doc.Write(p.GetDocument())
	}
	fmt.Fprintf(w, "  %s\n", bytes.TrimSpace(doc.Bytes()))
}

func newPolicyPutCommand(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "put NAMESPACE/NAME --kind KIND -f FILE",
		Short: "Create or replace a policy",
		Long: `Create or replace the policy of one kind for service NAMESPACE/NAME. FILE
holds the policy document as JSON or YAML ("-" reads standard input). It
is checked strictly before the control plane is contacted: unknown fields
and wrong types are errors.`,
		Example: `  cat > failover.yaml <<EOF
  targets:
    - region: eu-west-1
    - cluster: us-1
  never: [lab-1]
  max_shift_per_second: 0.1
  EOF
  meshfed policy put demo/api --kind failover -f failover.yaml

  echo '{"allow":[{"trust_domain":"eu-1.example.org"}]}' | meshfed policy put demo/api --kind authorization -f -`,
		Args: positional("NAMESPACE/NAME"),
	}
	out := addOutputFlag(cmd)
	kind := addKindFlag(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", `policy document, JSON or YAML; "-" reads standard input (required)`)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ns, name, err := policyRef(args[0])
		if err != nil {
			return err
		}
		if err := requireFlags(cmd, "kind", "file"); err != nil {
			return err
		}
		doc, err := readPolicyFile(a.streams.In, file)
		if err != nil {
			return err
		}
		p := &meshfedv1.Policy{Namespace: ns, Name: name, Kind: kind.value, Document: doc}
		if err := schema.ValidatePolicy(p); err != nil {
			return fmt.Errorf("policy file %s: %w", displayName(file), err)
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.PutPolicy(ctx, &meshfedv1.PutPolicyRequest{Policy: p})
			if err != nil {
				return s.fail(err, describePolicy(ns, name, kind.value))
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) {
				fmt.Fprintf(w, "%s saved\n", describePolicy(ns, name, kind.value))
			})
		})
	}
	return cmd
}

// readPolicyFile reads a JSON or YAML document and returns it as JSON.
// Duplicate keys are refused, since only one of them would take effect.
func readPolicyFile(in io.Reader, path string) ([]byte, error) {
	data, err := readInput(in, path, maxPolicyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	doc, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("policy file %s is neither JSON nor YAML: %w", displayName(path), err)
	}
	return doc, nil
}

func newPolicyDeleteCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAMESPACE/NAME --kind KIND",
		Short:   "Delete a policy",
		Long:    `Delete the policy of one kind for service NAMESPACE/NAME. The service then has no policy of that kind.`,
		Example: `  meshfed policy delete demo/api --kind failover`,
		Args:    positional("NAMESPACE/NAME"),
	}
	kind := addKindFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ns, name, err := policyRef(args[0])
		if err != nil {
			return err
		}
		if err := requireFlags(cmd, "kind"); err != nil {
			return err
		}
		what := describePolicy(ns, name, kind.value)
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			if _, err := s.admin.DeletePolicy(ctx, &meshfedv1.DeletePolicyRequest{Namespace: ns, Name: name, Kind: kind.value}); err != nil {
				return s.fail(err, what)
			}
			fmt.Fprintf(a.streams.Out, "%s deleted\n", what)
			return nil
		})
	}
	return cmd
}

func newPolicyListCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List policies",
		Long:    `List every policy: the service it applies to, its kind and when it last changed.`,
		Example: `  meshfed policy list`,
		Args:    noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListPolicies(ctx, &meshfedv1.ListPoliciesRequest{})
			if err != nil {
				return s.fail(err, "")
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { policyTable(w, resp) })
		})
	}
	return cmd
}

func policyTable(w io.Writer, resp *meshfedv1.ListPoliciesResponse) {
	row(w, "NAMESPACE", "NAME", "KIND", "UPDATED")
	for _, p := range resp.GetPolicies() {
		row(w, p.GetNamespace(), p.GetName(), p.GetKind(), timestamp(p.GetUpdatedAt()))
	}
}
