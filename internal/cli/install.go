package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/kube/mcsapi"
)

// installFlags are the flags of `meshfed install`.
type installFlags struct {
	kubeconfig, context     string
	cluster, namespace      string
	image                   string
	valuesFiles, sets       []string
	cpConfig, cpAddress     string
	gatewayCert, gatewayKey string
	gatewayBundle           string
	agentCert, agentKey     string
	dryRun, uninstall       bool
	forceConflicts          bool
	wait                    time.Duration
	output                  *enumFlag
}

func newInstallCommand(s Streams) *cobra.Command {
	f := &installFlags{}
	cmd := &cobra.Command{
		Use:   "install --cluster NAME [--kubeconfig FILE] [--controlplane-config FILE]",
		Short: "Install the gateway and the agent into a Kubernetes cluster (server-side apply)",
		Long: `Install meshfed into one Kubernetes cluster: the Multi-Cluster Services
CRDs (ServiceExport, ServiceImport), service accounts with least-privilege
RBAC, the east-west gateway and the agent (Deployments, ConfigMaps,
Services). The objects are those of the Helm chart and the plain manifests
in deploy/; --values takes the chart's values file and --set its keys.

Every object is applied with server-side apply (field manager "meshfed"),
so running it again changes only what differs; it prints one line per
object: created, configured or unchanged. It waits for the CRDs to be
established before applying the rest.

The control plane's address, CA and SPIFFE ID come from
--controlplane-config (a meshfed.yaml as written by ` + "`meshfed controlplane`" + `;
default $MESHFED_CONFIG), unless --values or --set give them. Its address is
often a loopback one: give the address pods reach with
--controlplane-address. The global connection flags (--server, --ca, ...)
are not used.

Identities: the gateway and the agent read their X.509-SVIDs from Secrets.
With --gateway-cert/--gateway-key/--gateway-bundle and
--agent-cert/--agent-key (PEM files, e.g. from ` + "`meshfed ca issue`" + `), install
checks them (SPIFFE IDs spiffe://TD/meshfed/gateway/CLUSTER/GATEWAY and
.../CLUSTER/agent, key matching, chain to the bundle) and applies the
Secrets; without them it expects the Secrets to exist and says so if not.

Fields we manage are taken over from other managers (force), except on the
CRDs, which other Multi-Cluster Services implementations may own: a
conflict there is an error unless --force-conflicts.

--uninstall deletes the objects, but keeps the namespace (with the identity
Secrets) and the CRDs, whose deletion would delete every ServiceExport and
ServiceImport of the cluster. It also removes the agent's finalizer from
every ServiceExport, which nothing would remove once the agent is gone; the
cluster's exports stay in the control plane until ` + "`meshfed cluster remove`" + `.`,
		Example: `  meshfed install --cluster east --controlplane-config /var/lib/meshfed/meshfed.yaml \
      --controlplane-address cp.example.com:15012 \
      --gateway-cert gw.pem --gateway-key gw-key.pem --gateway-bundle east-ca/ca.pem \
      --agent-cert agent.pem --agent-key agent-key.pem
  meshfed install --cluster east --context kind-east --set gateway.service.type=NodePort
  meshfed install --cluster east --dry-run -o yaml > meshfed-east.yaml
  meshfed install --uninstall --context kind-east`,
		Args: noArgs,
	}
	f.output = &enumFlag{value: formatYAML, allowed: []string{formatYAML, formatJSON}}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context (default its current context)")
	fl.StringVar(&f.cluster, "cluster", "", "this cluster's name in the clusterset, as given to `meshfed cluster add` (required)")
	fl.StringVarP(&f.namespace, "namespace", "n", deploy.DefaultNamespace, "namespace of the gateway and the agent")
	fl.StringVar(&f.image, "image", "", "meshfed container image (default "+deploy.DefaultImage+")")
	fl.StringArrayVarP(&f.valuesFiles, "values", "f", nil, "values file in the Helm chart's format; repeat to layer several")
	fl.StringArrayVar(&f.sets, "set", nil, "set a value, KEY=VALUE with KEY a chart values path (gateway.replicas=2); repeatable")
	fl.StringVar(&f.cpConfig, "controlplane-config", "", "meshfed.yaml to read the control plane's server, ca and server_id from (default $"+client.EnvConfig+")")
	fl.StringVar(&f.cpAddress, "controlplane-address", "", "control plane host:port as reachable from the cluster's pods (overrides the config's server)")
	fl.StringVar(&f.gatewayCert, "gateway-cert", "", "gateway X.509-SVID certificate chain (PEM) to store in the gateway's Secret")
	fl.StringVar(&f.gatewayKey, "gateway-key", "", "private key of --gateway-cert (PEM)")
	fl.StringVar(&f.gatewayBundle, "gateway-bundle", "", "CA certificates (PEM) of the cluster's trust domain, e.g. ca.pem of `meshfed ca init`")
	fl.StringVar(&f.agentCert, "agent-cert", "", "agent X.509-SVID certificate chain (PEM) to store in the agent's Secret")
	fl.StringVar(&f.agentKey, "agent-key", "", "private key of --agent-cert (PEM)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the objects instead of applying them (see -o); needs no cluster")
	fl.VarP(f.output, "output", "o", "format of --dry-run: yaml or json")
	fl.BoolVar(&f.uninstall, "uninstall", false, "delete what install applied, except the namespace and the CRDs")
	fl.BoolVar(&f.forceConflicts, "force-conflicts", false, "take over CRD fields that another field manager owns")
	fl.DurationVar(&f.wait, "wait", 2*time.Minute, "time limit for the whole install, including waiting for the CRDs")
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		if f.wait <= 0 {
			return usagef("--wait %s must be positive", f.wait)
		}
		ctx, cancel := context.WithTimeout(c.Context(), f.wait)
		defer cancel()
		if f.uninstall {
			return runUninstall(ctx, s, f)
		}
		if err := requireFlags(c, "cluster"); err != nil {
			return err
		}
		return runInstall(ctx, s, f)
	}
	return cmd
}

func runInstall(ctx context.Context, s Streams, f *installFlags) error {
	v, err := f.values()
	if err != nil {
		return err
	}
	if err := v.Validate(); err != nil {
		return err
	}
	v = v.WithDefaults()
	warnLoopback(s.Err, v.ControlPlane.Address)
	secrets, err := f.identitySecrets(v)
	if err != nil {
		return err
	}
	objs, err := deploy.Objects(v)
	if err != nil {
		return err
	}
	objs = withSecrets(objs, v.Namespace, secrets)
	if f.dryRun {
		if len(secrets) > 0 {
			fmt.Fprintf(s.Err, "note: the output holds %d Secret(s) with private keys\n", len(secrets))
		}
		return printObjects(s.Out, f.output.value, objs)
	}
	a, host, err := newKubeApplier(f.kubeconfig, f.context, s.Out)
	if err != nil {
		return err
	}
	defer a.close()
	fmt.Fprintf(s.Out, "installing meshfed for cluster %q into %s, namespace %s\n", v.Cluster, host, v.Namespace)
	start := time.Now()
	counts, err := a.applyAll(ctx, objs, f.forceConflicts)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	for _, id := range secrets {
		given[id.secret] = true
	}
	a.checkSecrets(ctx, s.Err, v, given)
	fmt.Fprintf(s.Out, "meshfed installed: %d objects (%d created, %d configured, %d unchanged) in %s\n",
		len(objs), counts[resultCreated], counts[resultConfigured], counts[resultUnchanged], time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(s.Out, "next: kubectl -n %s get pods; export a Service with a ServiceExport (docs/kubernetes.md)\n", v.Namespace)
	return nil
}

func runUninstall(ctx context.Context, s Streams, f *installFlags) error {
	if f.dryRun {
		return usagef("--dry-run does not go with --uninstall")
	}
	objs, err := deploy.Inventory(f.namespace)
	if err != nil {
		return err
	}
	a, host, err := newKubeApplier(f.kubeconfig, f.context, s.Out)
	if err != nil {
		return err
	}
	defer a.close()
	fmt.Fprintf(s.Out, "uninstalling meshfed from %s, namespace %s\n", host, f.namespace)
	for i := len(objs) - 1; i >= 0; i-- {
		obj := objs[i]
		if k := obj.GetKind(); k == "Namespace" || k == "CustomResourceDefinition" {
			continue
		}
		if err := a.delete(ctx, obj); err != nil {
			return err
		}
	}
	// With the agent gone, nothing would remove its finalizer: deleting
	// a ServiceExport would hang.
	released, err := a.releaseExportFinalizers(ctx)
	if err != nil {
		return err
	}
	if released > 0 {
		cluster := f.cluster
		if cluster == "" {
			cluster = "CLUSTER"
		}
		fmt.Fprintf(s.Out, "released %d ServiceExport(s) from the finalizer %s; their exports stay in the control plane until `meshfed cluster remove %s` or a new agent withdraws them\n",
			released, mcsapi.Finalizer, cluster)
	}
	fmt.Fprintf(s.Out, "kept namespace %s (it holds the identity Secrets and the agent's Lease) and the MCS CRDs "+
		"(deleting them deletes every ServiceExport and ServiceImport); delete them with kubectl if you mean to\n", f.namespace)
	return nil
}

// values assembles the values: the defaults, then the --values files
// (layered as Helm layers them: maps merge, other values replace), the
// control plane's config file, the dedicated flags, then --set.
func (f *installFlags) values() (deploy.Values, error) {
	layered := map[string]any{}
	for _, path := range f.valuesFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return deploy.Values{}, fmt.Errorf("--values: %w", err)
		}
		if _, err := deploy.ParseValues(data); err != nil { // strict: unknown keys, types
			return deploy.Values{}, fmt.Errorf("--values %s: %w", path, err)
		}
		var layer map[string]any
		if err := yaml.Unmarshal(data, &layer); err != nil {
			return deploy.Values{}, fmt.Errorf("--values %s: %w", path, err)
		}
		layered = mergeMaps(layered, layer)
	}
	merged, err := json.Marshal(layered)
	if err != nil {
		return deploy.Values{}, fmt.Errorf("--values: %w", err)
	}
	v, err := deploy.ParseValues(merged)
	if err != nil {
		return deploy.Values{}, fmt.Errorf("--values: %w", err)
	}
	v.Cluster = f.cluster
	if f.image != "" {
		v.Image = f.image
	}
	v.Namespace = f.namespace // not a chart value: Helm's is the release's
	for _, s := range f.sets {
		if err := v.Set(s); err != nil {
			return v, usagef("%v", err)
		}
	}
	cp := &v.ControlPlane
	if f.cpConfig != "" || cp.Address == "" || cp.CA == "" || cp.ServerID == "" {
		if err := f.readControlPlane(cp); err != nil {
			return v, err
		}
	}
	if f.cpAddress != "" {
		cp.Address = f.cpAddress
	}
	return v, nil
}

// mergeMaps returns a with b over it: maps merge key by key, any other
// value of b replaces a's.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, bv := range b {
		bm, bIsMap := bv.(map[string]any)
		am, aIsMap := out[k].(map[string]any)
		if bIsMap && aIsMap {
			out[k] = mergeMaps(am, bm)
			continue
		}
		out[k] = bv
	}
	return out
}

// readControlPlane fills cp from the control plane's client config:
// everything when --controlplane-config is given, else what is empty.
func (f *installFlags) readControlPlane(cp *deploy.ControlPlane) error {
	path := f.cpConfig
	if path == "" {
		path = client.DefaultPath()
	}
	cfg, err := client.Load(path)
	if err != nil {
		return fmt.Errorf("--controlplane-config: %w (or give controlPlane.address, .ca and .serverID with --values)", err)
	}
	ca, err := os.ReadFile(cfg.CA)
	if err != nil {
		return fmt.Errorf("--controlplane-config %s: read its ca: %w", path, err)
	}
	explicit := f.cpConfig != ""
	for _, field := range []struct {
		dst *string
		val string
	}{{&cp.Address, cfg.Server}, {&cp.CA, string(ca)}, {&cp.ServerID, cfg.ServerID}} {
		if explicit || *field.dst == "" {
			*field.dst = field.val
		}
	}
	return nil
}

// warnLoopback warns when the control plane's address cannot be reached
// from pods.
func warnLoopback(w io.Writer, addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	ip, err := netip.ParseAddr(host)
	if host == "localhost" || (err == nil && ip.IsLoopback()) {
		fmt.Fprintf(w, "warning: controlPlane.address %s is a loopback address, which pods cannot reach; pass --controlplane-address HOST:PORT\n", addr)
	}
}

// identity is one Secret to create from PEM files.
type identity struct {
	secret string
	data   map[string][]byte
}

// identitySecrets reads and checks the identity files given on the
// command line and returns the Secrets to apply.
func (f *installFlags) identitySecrets(v deploy.Values) ([]identity, error) {
	var out []identity
	var td spiffeid.TrustDomain
	if f.gatewayCert != "" || f.gatewayKey != "" || f.gatewayBundle != "" {
		if f.gatewayCert == "" || f.gatewayKey == "" || f.gatewayBundle == "" {
			return nil, usagef("--gateway-cert, --gateway-key and --gateway-bundle go together")
		}
		want := "/meshfed/gateway/" + v.Cluster + "/" + v.Gateway.Name
		svid, data, err := readSVID("--gateway-cert", f.gatewayCert, f.gatewayKey, want)
		if err != nil {
			return nil, err
		}
		bundle, err := os.ReadFile(f.gatewayBundle)
		if err != nil {
			return nil, fmt.Errorf("--gateway-bundle: %w", err)
		}
		if err := verifyChain(svid, f.gatewayCert, f.gatewayBundle, bundle); err != nil {
			return nil, err
		}
		data["bundle.pem"] = bundle
		td = svid.ID.TrustDomain()
		out = append(out, identity{secret: v.Gateway.IdentitySecret, data: data})
	}
	if f.agentCert != "" || f.agentKey != "" {
		if f.agentCert == "" || f.agentKey == "" {
			return nil, usagef("--agent-cert and --agent-key go together")
		}
		svid, data, err := readSVID("--agent-cert", f.agentCert, f.agentKey, "/meshfed/gateway/"+v.Cluster+"/agent")
		if err != nil {
			return nil, err
		}
		if !td.IsZero() && svid.ID.TrustDomain() != td {
			return nil, fmt.Errorf("--agent-cert %s: trust domain %q differs from the gateway's %q: issue both from the cluster's CA", f.agentCert, svid.ID.TrustDomain(), td)
		}
		out = append(out, identity{secret: v.Agent.IdentitySecret, data: data})
	}
	return out, nil
}

// readSVID loads an X.509-SVID and its key, checks that the key matches
// and that the SPIFFE ID's path is want.
func readSVID(flag, certFile, keyFile, want string) (*x509svid.SVID, map[string][]byte, error) {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flag, err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s key: %w", flag, err)
	}
	svid, err := x509svid.Parse(cert, key)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s with key %s: %w (want PEM files, the key the certificate's)", flag, certFile, keyFile, err)
	}
	if svid.ID.Path() != want {
		return nil, nil, fmt.Errorf("%s %s: SPIFFE ID %s does not have the path %s: issue one with `meshfed ca issue --spiffe-id spiffe://%s%s`",
			flag, certFile, svid.ID, want, svid.ID.TrustDomain(), want)
	}
	return svid, map[string][]byte{"tls.crt": cert, "tls.key": key}, nil
}

// verifyChain checks that the SVID chains to the bundle, so that peers
// holding the bundle will accept the gateway.
func verifyChain(svid *x509svid.SVID, certFile, bundleFile string, bundle []byte) error {
	td := svid.ID.TrustDomain()
	b, err := x509bundle.Parse(td, bundle)
	if err != nil {
		return fmt.Errorf("--gateway-bundle %s: %w (want the PEM CA certificates of trust domain %s)", bundleFile, err, td)
	}
	if _, _, err := x509svid.Verify(svid.Certificates, b); err != nil {
		return fmt.Errorf("--gateway-cert %s does not chain to --gateway-bundle %s: %w", certFile, bundleFile, err)
	}
	return nil
}

// withSecrets returns objs with the identity Secrets inserted before the
// ConfigMaps (after the namespace, the CRDs and the service accounts).
func withSecrets(objs []*unstructured.Unstructured, ns string, ids []identity) []*unstructured.Unstructured {
	if len(ids) == 0 {
		return objs
	}
	var out []*unstructured.Unstructured
	inserted := false
	for _, o := range objs {
		if !inserted && o.GetKind() == "ConfigMap" {
			for _, id := range ids {
				out = append(out, secretObject(ns, id))
			}
			inserted = true
		}
		out = append(out, o)
	}
	return out
}

func secretObject(ns string, id identity) *unstructured.Unstructured {
	data := map[string]any{}
	for k, v := range id.data {
		data[k] = base64.StdEncoding.EncodeToString(v)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata": map[string]any{
			"name":      id.secret,
			"namespace": ns,
			"labels":    map[string]any{"app.kubernetes.io/part-of": "meshfed"},
		},
		"type": "kubernetes.io/tls",
		"data": data,
	}}
}

// printObjects writes objs as YAML documents or as one JSON List.
func printObjects(w io.Writer, format string, objs []*unstructured.Unstructured) error {
	if format == formatJSON {
		items := make([]any, len(objs))
		for i, o := range objs {
			items[i] = o.Object
		}
		data, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("encode %s: %w", kubeObjectRef(o), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}
