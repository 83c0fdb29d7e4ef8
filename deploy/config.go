package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The configuration files inside the ConfigMaps are written by hand rather
// than marshalled: every string is double-quoted with %q and every list is
// JSON, which the Helm chart reproduces exactly (sprig's quote is %q and
// its toJson is encoding/json), so chart and Go render the same bytes.

// gatewayConfigYAML is the gateway's config file (gateway.yaml).
func gatewayConfigYAML(v Values) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: %q\n", v.Cluster)
	fmt.Fprintf(&b, "name: %q\n", v.Gateway.Name)
	fmt.Fprintf(&b, "data_dir: %q\n", dataDir)
	b.WriteString("controlplane:\n")
	fmt.Fprintf(&b, "  address: %q\n", v.ControlPlane.Address)
	fmt.Fprintf(&b, "  ca: %q\n", controlPlaneDir+"/"+caFile)
	fmt.Fprintf(&b, "  server_id: %q\n", v.ControlPlane.ServerID)
	b.WriteString("identity:\n")
	fmt.Fprintf(&b, "  cert: %q\n", identityDir+"/tls.crt")
	fmt.Fprintf(&b, "  key: %q\n", identityDir+"/tls.key")
	fmt.Fprintf(&b, "  bundle: %q\n", identityDir+"/"+bundleFile)
	b.WriteString("listen:\n")
	fmt.Fprintf(&b, "  inbound: \"0.0.0.0:%d\"\n", v.Gateway.InboundPort)
	if len(v.Gateway.Advertise) > 0 {
		list, _ := json.Marshal(v.Gateway.Advertise) // []string always marshals
		fmt.Fprintf(&b, "  advertise: %s\n", list)
	}
	fmt.Fprintf(&b, "  outbound: \"0.0.0.0:%d\"\n", OutboundPort)
	fmt.Fprintf(&b, "  admin: \"0.0.0.0:%d\"\n", GatewayAdminPort)
	b.WriteString("kubernetes:\n")
	fmt.Fprintf(&b, "  cluster_domain: %q\n", v.ClusterDomain)
	return b.String()
}

// agentClientConfig is the agent's control-plane client config
// (meshfed.yaml, the format of federation/client).
func agentClientConfig(v Values) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: %q\n", v.ControlPlane.Address)
	fmt.Fprintf(&b, "ca: %q\n", controlPlaneDir+"/"+caFile)
	fmt.Fprintf(&b, "server_id: %q\n", v.ControlPlane.ServerID)
	fmt.Fprintf(&b, "cert: %q\n", identityDir+"/tls.crt")
	fmt.Fprintf(&b, "key: %q\n", identityDir+"/tls.key")
	return b.String()
}
