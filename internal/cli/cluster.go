package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newClusterCommand(a *app) *cobra.Command {
	return group("cluster", "Add, list, inspect and remove clusters",
		`A cluster is one Kubernetes cluster or host group in the clusterset: a
name, the SPIFFE trust domain of its workloads, where it runs, and the
addresses of its east-west gateways.

Draining a cluster (or one service's copy in it) moves traffic away from
it, at once or gradually, until it is undrained.`,
		`  meshfed cluster add eu-1 --trust-domain eu-1.example.org --provider aws --region eu-west-1 --zone eu-west-1a
  meshfed cluster list
  meshfed cluster drain eu-1 --period 10m`,
		newClusterAddCommand(a), newClusterListCommand(a), newClusterGetCommand(a), newClusterRemoveCommand(a),
		newClusterDrainCommand(a), newClusterUndrainCommand(a), newClusterDrainsCommand(a))
}

func newClusterAddCommand(a *app) *cobra.Command {
	var (
		c                    meshfedv1.Cluster
		loc                  meshfedv1.Locality
		labelArgs, addresses []string
		bundleFile           string
		discover             discovery
	)
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a new cluster",
		Long: `Register a new cluster with the control plane. It fails if a cluster of
that name exists. NAME is a DNS-1123 label. The record is validated before
the control plane is contacted.

With --bundle, the trust bundle of the cluster's trust domain is set from
FILE afterwards, as ` + "`meshfed trust set`" + ` does.

When --region or --zone is left out, the provider's plugin
(meshfed-provider-PROVIDER in --plugin-dir) is asked where this host runs,
from the cloud's instance metadata; flags that are given always win. With
--gateway-port and no --gateway-address, the plugin also gives this host's
addresses. A provider without a plugin (onprem, say) needs --region.`,
		Example: `  meshfed cluster add eu-1 --trust-domain eu-1.example.org \
      --provider aws --region eu-west-1 --zone eu-west-1a \
      --label env=prod --gateway-address gw.eu-1.example.org:15443 \
      --bundle eu-1-bundle.json

  # On an EC2 instance: region and zone from instance metadata.
  meshfed cluster add eu-1 --trust-domain eu-1.example.org --provider aws`,
		Args: positional("NAME"),
	}
	out := addOutputFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&c.TrustDomain, "trust-domain", "", "SPIFFE trust domain of the cluster's workloads (required)")
	f.StringVar(&loc.Provider, "provider", "", "cloud or site, e.g. aws, gcp, azure, onprem (required)")
	f.StringVar(&loc.Region, "region", "", "region, e.g. eu-west-1 (default: from the provider plugin)")
	f.StringVar(&loc.Zone, "zone", "", "zone, e.g. eu-west-1a (default: from the provider plugin)")
	f.StringArrayVar(&labelArgs, "label", nil, "label key=value; repeat for several")
	f.StringArrayVar(&addresses, "gateway-address", nil, "east-west gateway address host:port; repeat for several")
	discover.addFlags(f)
	f.StringVar(&bundleFile, "bundle", "", "trust bundle of the cluster's trust domain: SPIFFE bundle (JWKS) or PEM CA certificates")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := requireFlags(cmd, "trust-domain", "provider"); err != nil {
			return err
		}
		lbls, err := parseLabels(labelArgs)
		if err != nil {
			return err
		}
		// Refuse a bad name before a plugin is started.
		if err := schema.ValidateName("", "cluster name", args[0]); err != nil {
			return err
		}
		if err := schema.ValidateTrustDomain(fmt.Sprintf("cluster %q", args[0]), "trust_domain", c.TrustDomain); err != nil {
			return err
		}
		if err := discover.fill(cmd.Context(), &loc, &addresses); err != nil {
			return err
		}
		c.Name, c.Locality, c.Labels, c.GatewayAddresses = args[0], &loc, lbls, addresses
		if err := schema.ValidateCluster(&c); err != nil {
			return err
		}
		var bundle *meshfedv1.Bundle
		if bundleFile != "" {
			if bundle, err = readBundle(a.streams.In, c.TrustDomain, bundleFile, 0); err != nil {
				return err
			}
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.PutCluster(ctx, &meshfedv1.PutClusterRequest{Cluster: &c, CreateOnly: true})
			if err != nil {
				return s.fail(err, fmt.Sprintf("cluster %q", c.Name))
			}
			if bundle != nil {
				if _, err := s.admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: bundle}); err != nil {
					return fmt.Errorf("cluster %q added, but its trust bundle was not set (retry with `meshfed trust set %s -f %s`): %w",
						c.Name, c.TrustDomain, bundleFile, s.fail(err, fmt.Sprintf("bundle %q", c.TrustDomain)))
				}
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) {
				fmt.Fprintf(w, "cluster %q added\n", c.Name)
				if bundle != nil {
					fmt.Fprintf(w, "trust bundle of %q set (sequence %d)\n", c.TrustDomain, bundle.GetSequence())
				}
			})
		})
	}
	return cmd
}

// parseLabels turns repeated key=value flags into a map; the keys and
// values themselves are checked by schema.ValidateCluster.
func parseLabels(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(args))
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--label %q: want key=value, for example env=prod", kv)
		}
		if _, dup := m[k]; dup {
			return nil, usagef("--label %q: key %q is given twice", kv, k)
		}
		m[k] = v
	}
	return m, nil
}

func newClusterListCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List clusters and whether their gateways are live",
		Long: `List every cluster with its locality, the number of live gateways (those
holding a presence lease) and its age. LIVE is "yes" when at least one
gateway is live.`,
		Example: `  meshfed cluster list
  meshfed cluster list -o json | jq -r '.clusters[] | select(.live != true) | .cluster.name'`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListClusters(ctx, &meshfedv1.ListClustersRequest{})
			if err != nil {
				return s.fail(err, "")
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { clusterTable(w, resp, a.now()) })
		})
	}
	return cmd
}

func clusterTable(w io.Writer, resp *meshfedv1.ListClustersResponse, now time.Time) {
	row(w, "NAME", "TRUST DOMAIN", "PROVIDER", "REGION", "ZONE", "GATEWAYS", "LIVE", "AGE")
	for _, cs := range resp.GetClusters() {
		c, l := cs.GetCluster(), cs.GetCluster().GetLocality()
		row(w, c.GetName(), c.GetTrustDomain(), l.GetProvider(), l.GetRegion(), orNone(l.GetZone()),
			strconv.Itoa(len(cs.GetGateways())), yesNo(cs.GetLive()), age(c.GetCreatedAt(), now))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newClusterGetCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one cluster and its live gateways",
		Long:  `Show a cluster's record and the gateways that currently hold a presence lease.`,
		Example: `  meshfed cluster get eu-1
  meshfed cluster get eu-1 -o yaml`,
		Args: positional("NAME"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := args[0]
		if err := schema.ValidateName("", "cluster name", name); err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: name})
			if err != nil {
				return s.fail(err, fmt.Sprintf("cluster %q", name))
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { clusterDetail(w, resp, a.now()) })
		})
	}
	return cmd
}

func clusterDetail(w io.Writer, resp *meshfedv1.GetClusterResponse, now time.Time) {
	c, l := resp.GetCluster(), resp.GetCluster().GetLocality()
	row(w, "Name:", c.GetName())
	row(w, "Trust domain:", c.GetTrustDomain())
	row(w, "Locality:", fmt.Sprintf("%s/%s/%s", l.GetProvider(), l.GetRegion(), orNone(l.GetZone())))
	row(w, "Labels:", labels(c.GetLabels()))
	row(w, "Gateway addresses:", orNone(strings.Join(c.GetGatewayAddresses(), ",")))
	row(w, "Created:", fmt.Sprintf("%s (%s ago)", timestamp(c.GetCreatedAt()), age(c.GetCreatedAt(), now)))
	if len(resp.GetGateways()) == 0 {
		row(w, "Live gateways:", "<none>")
		return
	}
	row(w, "Live gateways:")
	row(w, "  GATEWAY", "SPIFFE ID", "ADDRESSES", "REGISTERED")
	for _, g := range resp.GetGateways() {
		row(w, "  "+schema.PresenceName(g.GetGateway(), g.GetInstance()), g.GetSpiffeId(), orNone(strings.Join(g.GetAddresses(), ",")), age(g.GetRegisteredAt(), now))
	}
}

func newClusterRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"delete"},
		Short:   "Remove a cluster and all of its exports",
		Long: `Remove a cluster from the clusterset. This also removes every service the
cluster exports (other clusters stop routing to it), the presence of its
gateways and its drains. The trust bundle of its trust domain is kept.`,
		Example: `  meshfed cluster remove eu-1`,
		Args:    positional("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := schema.ValidateName("", "cluster name", name); err != nil {
				return err
			}
			what := fmt.Sprintf("cluster %q", name)
			return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
				got, err := s.admin.GetCluster(ctx, &meshfedv1.GetClusterRequest{Name: name})
				if err != nil {
					return s.fail(err, what)
				}
				exports, err := s.admin.ListExports(ctx, &meshfedv1.ListExportsRequest{Cluster: name})
				if err != nil {
					return s.fail(err, "exports of "+what)
				}
				if _, err := s.admin.DeleteCluster(ctx, &meshfedv1.DeleteClusterRequest{Name: name}); err != nil {
					return s.fail(err, what)
				}
				w := a.streams.Out
				fmt.Fprintf(w, "cluster %q removed (trust domain %s, %d live gateways)\n",
					name, got.GetCluster().GetTrustDomain(), len(got.GetGateways()))
				var refs []string
				for _, e := range exports.GetExports() {
					refs = append(refs, e.GetNamespace()+"/"+e.GetName())
				}
				fmt.Fprintf(w, "removed %d exports: %s\n", len(refs), orNone(strings.Join(refs, ", ")))
				return nil
			})
		},
	}
}
