package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/federation/imports"
	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newExportCommand(a *app) *cobra.Command {
	return group("export", "Inspect the services clusters export",
		`An export says "service NAMESPACE/NAME on cluster C is offered to the
clusterset". Exports are published by each cluster's agent or gateway;
the CLI only reads them.`,
		`  meshfed export list --cluster eu-1`,
		newExportListCommand(a))
}

func newExportListCommand(a *app) *cobra.Command {
	var cluster, namespace string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List exported services",
		Long: `List exports, optionally only those of one cluster or namespace. READY
is the number of ready endpoints summed over the cluster's zones.`,
		Example: `  meshfed export list
  meshfed export list --cluster eu-1 --namespace demo -o yaml`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVar(&cluster, "cluster", "", "only exports of this cluster")
	cmd.Flags().StringVar(&namespace, "namespace", "", "only exports in this namespace")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if cluster != "" {
			if err := schema.ValidateName("--cluster", "cluster name", cluster); err != nil {
				return err
			}
		}
		if namespace != "" {
			if err := schema.ValidateName("--namespace", "namespace", namespace); err != nil {
				return err
			}
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListExports(ctx, &meshfedv1.ListExportsRequest{Cluster: cluster, Namespace: namespace})
			if err != nil {
				what := ""
				if cluster != "" {
					what = fmt.Sprintf("cluster %q", cluster)
				}
				return s.fail(err, what)
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { exportTable(w, resp) })
		})
	}
	return cmd
}

func exportTable(w io.Writer, resp *meshfedv1.ListExportsResponse) {
	row(w, "CLUSTER", "NAMESPACE", "NAME", "PORTS", "READY", "CREATED")
	for _, e := range resp.GetExports() {
		row(w, e.GetCluster(), e.GetNamespace(), e.GetName(), ports(e.GetPorts()),
			strconv.FormatUint(readySum(e.GetEndpoints()), 10), timestamp(e.GetCreatedAt()))
	}
}

func readySum(zones []*meshfedv1.ZoneEndpoints) uint64 {
	var n uint64
	for _, z := range zones {
		n += uint64(z.GetReady())
	}
	return n
}

func newImportCommand(a *app) *cobra.Command {
	return group("import", "Inspect the services the clusterset imports",
		`An import is the clusterset-wide view of service NAMESPACE/NAME: the union
of its exports, the clusters that serve it and their ready endpoints. When
exports disagree (ports or protocols), the oldest export wins and the
others are marked with a Conflict condition.`,
		`  meshfed import list --namespace demo`,
		newImportListCommand(a))
}

func newImportListCommand(a *app) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List imported services, their clusters and conflicts",
		Long: `List imports. CLUSTERS shows each serving cluster with its ready endpoint
count, e.g. eu-1(3),us-1(0). CONFLICT shows "yes: <message>" when exports
of the service conflict; the message says which cluster lost and why.`,
		Example: `  meshfed import list
  meshfed import list --namespace demo -o json`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVar(&namespace, "namespace", "", "only imports in this namespace")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if namespace != "" {
			if err := schema.ValidateName("--namespace", "namespace", namespace); err != nil {
				return err
			}
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListImports(ctx, &meshfedv1.ListImportsRequest{Namespace: namespace})
			if err != nil {
				return s.fail(err, "")
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { importTable(w, resp) })
		})
	}
	return cmd
}

func importTable(w io.Writer, resp *meshfedv1.ListImportsResponse) {
	row(w, "NAMESPACE", "NAME", "PORTS", "CLUSTERS", "CONFLICT")
	for _, im := range resp.GetImports() {
		clusters := make([]string, 0, len(im.GetClusters()))
		for _, c := range im.GetClusters() {
			clusters = append(clusters, fmt.Sprintf("%s(%d)", c.GetCluster(), c.GetReady()))
		}
		row(w, im.GetNamespace(), im.GetName(), ports(im.GetPorts()), orNone(strings.Join(clusters, ",")), conflict(im))
	}
}

// conflict shows the import's Conflict=True condition, or failing that the
// first such condition of one of its clusters.
func conflict(im *meshfedv1.Import) string {
	conds := im.GetConditions()
	for _, c := range im.GetClusters() {
		conds = slices.Concat(conds, c.GetConditions())
	}
	for _, c := range conds {
		if c.GetType() == imports.ConditionConflict && c.GetStatus() == "True" {
			msg := c.GetMessage()
			if msg == "" {
				msg = c.GetReason()
			}
			return "yes: " + msg
		}
	}
	return "no"
}
