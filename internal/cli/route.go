package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/globallb"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newRouteCommand(a *app) *cobra.Command {
	return group("route", "Explain how traffic to a clusterset service is routed",
		`Gateways choose the cluster that serves each request with locality-aware
global load balancing: priorities by distance (or a failover policy's
order), spill-over as a priority's healthy share drops, panic mode, drains.`,
		`  meshfed route explain echo.demo --from eu-1`,
		newRouteExplainCommand(a))
}

// routeExplanation is the JSON/YAML form of an explanation.
type routeExplanation struct {
	Service          string         `json:"service"`
	From             string         `json:"from"`
	Source           string         `json:"source"`
	Panic            bool           `json:"panic"`
	NormalizedHealth float64        `json:"normalized_health"`
	PriorityHealth   []float64      `json:"priority_health"`
	PriorityLoad     []float64      `json:"priority_load"`
	Targets          []globallb.Row `json:"targets"`
}

func newRouteExplainCommand(a *app) *cobra.Command {
	var from, gatewayURL string
	cmd := &cobra.Command{
		Use:   "explain NAME.NAMESPACE --from CLUSTER",
		Short: "Print the priority table for a service as seen from a cluster, and why",
		Long: `Print, for each cluster exporting the service: its priority and why, its
weight (ready endpoints x policy weight), its health and what affects it
(live gateway, ready endpoints, drains, the failover policy), and its
share of the traffic from --from's gateways. Below the table: each
priority's health and load, and whether panic mode is on.

By default the table is computed from the control plane's state, with the
same code the gateways run; it cannot include a gateway's own signals
(active probes, outlier ejections). With --gateway it is fetched from that
gateway's admin port (/debug/routes), which does.`,
		Example: `  meshfed route explain echo.demo --from eu-1
  meshfed route explain echo.demo --from eu-1 -o json
  meshfed route explain echo.demo --gateway http://127.0.0.1:15021`,
		Args: positional("NAME.NAMESPACE"),
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the calling cluster (required unless --gateway)")
	cmd.Flags().StringVar(&gatewayURL, "gateway", "", "ask this gateway's admin address (http://HOST:PORT) instead of the control plane")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		svc, err := gateway.ParseServiceName(args[0])
		if err != nil {
			return usagef("%v", err)
		}
		if gatewayURL != "" {
			return explainFromGateway(cmd.Context(), cmd.OutOrStdout(), gatewayURL, svc, out.value)
		}
		if from == "" {
			return usagef("--from CLUSTER is required (or --gateway ADMIN_URL)")
		}
		if err := schema.ValidateName("--from", "cluster name", from); err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			st, err := fetchState(ctx, s, from, func(st *client.State) bool {
				_, hasCluster := st.Clusters[from]
				_, hasService := st.Imports[svc.Key()]
				return hasCluster && hasService
			})
			if err != nil {
				return err
			}
			t, err := gateway.ExplainRoute(st, from, svc, globallb.Config{}, time.Now())
			if err != nil {
				return err
			}
			return printExplanation(cmd.OutOrStdout(), out.value, svc, from, "control plane (without gateway probes and ejections)", t)
		})
	}
	return cmd
}

// fetchState reads the control plane's whole state with one Watch: the
// first response is a snapshot. A replica's view trails etcd by a few
// milliseconds, so when the snapshot lacks what ready says must be
// there (a cluster or import just written), the changes that follow are
// applied for up to 2 s until it is.
func fetchState(ctx context.Context, s *session, from string, ready func(*client.State) bool) (*client.State, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.gateway.Watch(ctx, &meshfedv1.WatchRequest{Cluster: from})
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("cluster %q", from))
	}
	st := client.NewState()
	deadline := time.AfterFunc(2*time.Second, cancel)
	defer deadline.Stop()
	for {
		resp, err := stream.Recv()
		if err != nil {
			if st.Snapshots > 0 && ctx.Err() != nil {
				return st, nil // caught up as far as 2 s allow
			}
			return nil, s.fail(err, fmt.Sprintf("cluster %q", from))
		}
		if err := st.Apply(resp); err != nil {
			return nil, err
		}
		if ready == nil || ready(st) {
			return st, nil
		}
	}
}

func printExplanation(w io.Writer, format string, svc gateway.ServiceName, from, source string, t *globallb.Table) error {
	switch format {
	case formatJSON, formatYAML:
		e := routeExplanation{Service: svc.String(), From: from, Source: source, Panic: t.Panic, NormalizedHealth: t.NormalizedHealth,
			PriorityHealth: t.Health, PriorityLoad: t.Load, Targets: t.Rows}
		data, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return err
		}
		if format == formatYAML {
			if data, err = yaml.JSONToYAML(data); err != nil {
				return err
			}
		} else {
			data = append(data, '\n')
		}
		_, err = w.Write(data)
		return err
	}
	fmt.Fprintf(w, "%s from cluster %s (source: %s)\n\n%s", svc, from, source, globallb.Explain(t))
	return nil
}

// explainFromGateway prints a gateway's /debug/routes for svc.
func explainFromGateway(ctx context.Context, w io.Writer, base string, svc gateway.ServiceName, format string) error {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--gateway %q is not an admin URL such as http://127.0.0.1:15021", base)
	}
	q := url.Values{"service": {svc.String()}}
	if format == formatTable {
		q.Set("format", "text")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/debug/routes?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("gateway %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("gateway %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway %s: %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	if format == formatYAML {
		if body, err = yaml.JSONToYAML(body); err != nil {
			return err
		}
	}
	_, err = w.Write(body)
	return err
}
