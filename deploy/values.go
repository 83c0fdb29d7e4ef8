package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Version is the version of these artefacts: the Helm chart's version and
// appVersion, and the tag of [DefaultImage].
const Version = "0.1.0"

// Defaults of [Values]. Object names are fixed ([GatewayName], [AgentName]), so one
// cluster holds one installation.
const (
	DefaultNamespace           = "meshfed-system"
	DefaultImage               = "ghcr.io/meshfed/meshfed:v" + Version
	DefaultImagePullPolicy     = corev1.PullIfNotPresent
	DefaultServerID            = "spiffe://meshfed.local/meshfed/controlplane"
	DefaultGatewayName         = "gw"
	DefaultGatewayReplicas     = 1
	DefaultInboundPort         = 15443
	DefaultServiceType         = corev1.ServiceTypeLoadBalancer
	DefaultGatewayIdentity     = "meshfed-gateway-identity"
	DefaultAgentReplicas       = 2
	DefaultAgentIdentity       = "meshfed-agent-identity"
	DefaultImportPortFirst     = 17000
	DefaultImportPortLast      = 17999
	DefaultClusterDomain       = "cluster.local"
	DefaultGatewayServiceName  = "meshfed-gateway"         // ClusterIP; the agent finds gateway pods through it
	DefaultInboundServiceName  = "meshfed-gateway-inbound" // of gateway.service.type; peers dial it
	DefaultControlPlaneMapName = "meshfed-controlplane"
)

// Values are the settings of one installation into one cluster. Their JSON
// names are the Helm chart's values (values.yaml) and the keys of
// `meshfed install --set`. The zero value of every field but Cluster and
// ControlPlane means its documented default; [Values.WithDefaults] fills
// them in.
type Values struct {
	// Cluster is this cluster's name in the clusterset, a DNS-1123 label
	// (required). It must match the cluster registered with
	// `meshfed cluster add` and the SPIFFE IDs of the identities.
	Cluster string `json:"cluster"`
	// Namespace holds every namespaced object; default meshfed-system. The
	// Helm chart uses the release namespace instead.
	Namespace string `json:"-"`
	// Image is the meshfed container image; default DefaultImage.
	Image string `json:"image"`
	// ImagePullPolicy is Always, IfNotPresent (default) or Never.
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy"`
	// ControlPlane is where the gateway and the agent find the control
	// plane (required).
	ControlPlane ControlPlane `json:"controlPlane"`
	// Gateway configures the east-west gateway.
	Gateway Gateway `json:"gateway"`
	// Agent configures the Kubernetes agent.
	Agent Agent `json:"agent"`
	// ImportPorts are the gateway ports the agent gives imported services;
	// default 17000-17999.
	ImportPorts PortRange `json:"importPorts"`
	// ClusterDomain is the cluster's DNS domain; default cluster.local.
	ClusterDomain string `json:"clusterDomain"`
}

// ControlPlane locates the control plane and says how to authenticate it.
type ControlPlane struct {
	// Address is the control plane's gRPC address, host:port, as reachable
	// from the cluster's pods (required).
	Address string `json:"address"`
	// CA is the PEM of the control plane's CA certificates (the ca.pem of
	// its data directory; required).
	CA string `json:"ca"`
	// ServerID is the control plane's SPIFFE ID; default
	// spiffe://meshfed.local/meshfed/controlplane.
	ServerID string `json:"serverID"`
}

// Gateway configures the east-west gateway Deployment and its Services.
type Gateway struct {
	// Name is the gateway's name within the cluster, the last segment of
	// its SPIFFE ID spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/NAME;
	// default gw.
	Name string `json:"name"`
	// Replicas is the number of gateway pods; default 1.
	Replicas int32 `json:"replicas"`
	// InboundPort is the east-west mTLS port, on the pods and on the
	// inbound Service; default 15443.
	InboundPort int32 `json:"inboundPort"`
	// Advertise are the host:port addresses peers dial, registered with
	// the control plane: the inbound Service's load balancer address, for
	// example. Empty means the gateway's own default.
	Advertise []string `json:"advertise"`
	// Service is the inbound Service, meshfed-gateway-inbound.
	Service Service `json:"service"`
	// IdentitySecret names the Secret holding the gateway's X.509-SVID
	// (tls.crt, tls.key) and its trust domain's bundle (bundle.pem);
	// default meshfed-gateway-identity.
	IdentitySecret string `json:"identitySecret"`
	// Resources of the gateway container. Each request and limit it
	// leaves out keeps its default (as Helm merges values): requests cpu
	// 100m, memory 64Mi; limits memory 512Mi.
	Resources corev1.ResourceRequirements `json:"resources"`
	// ServiceAccount is the gateway's ServiceAccount, meshfed-gateway,
	// under which the provider plugins it starts run: bind a cloud
	// workload identity to it with annotations.
	ServiceAccount ServiceAccount `json:"serviceAccount"`
	// PodLabels are added to the labels of the gateway's pods (not to
	// the Deployment's selector), e.g. azure.workload.identity/use. The
	// chart's own labels (app.kubernetes.io/name, component, part-of)
	// cannot be replaced.
	PodLabels map[string]string `json:"podLabels"`
	// PodAnnotations are the annotations of the gateway's pods.
	PodAnnotations map[string]string `json:"podAnnotations"`
}

// ServiceAccount configures a component's ServiceAccount.
type ServiceAccount struct {
	// Annotations are added to the ServiceAccount, e.g.
	// eks.amazonaws.com/role-arn (IRSA), iam.gke.io/gcp-service-account
	// (GKE Workload Identity) or azure.workload.identity/client-id.
	Annotations map[string]string `json:"annotations"`
}

// Service configures the gateway's inbound Service.
type Service struct {
	// Type is LoadBalancer (default), NodePort or ClusterIP.
	Type corev1.ServiceType `json:"type"`
	// Annotations are added to the Service, e.g. to choose a cloud load
	// balancer's kind.
	Annotations map[string]string `json:"annotations"`
}

// Agent configures the agent Deployment.
type Agent struct {
	// Replicas is the number of agent pods; default 2 (one leads through a
	// Lease, the other waits).
	Replicas int32 `json:"replicas"`
	// CreateNamespaces lets the agent create the namespace of an imported
	// service when it does not exist (and grants it that right). Off by
	// default: imports into missing namespaces wait.
	CreateNamespaces bool `json:"createNamespaces"`
	// IdentitySecret names the Secret holding the agent's X.509-SVID
	// (tls.crt, tls.key); default meshfed-agent-identity.
	IdentitySecret string `json:"identitySecret"`
	// Resources of the agent container; each request and limit it leaves
	// out keeps its default: requests cpu 50m, memory 64Mi; limits memory
	// 256Mi.
	Resources corev1.ResourceRequirements `json:"resources"`
	// ServiceAccount is the agent's ServiceAccount, meshfed-agent.
	ServiceAccount ServiceAccount `json:"serviceAccount"`
	// PodLabels are added to the labels of the agent's pods (not to the
	// Deployment's selector); the chart's own labels cannot be replaced.
	PodLabels map[string]string `json:"podLabels"`
	// PodAnnotations are the annotations of the agent's pods.
	PodAnnotations map[string]string `json:"podAnnotations"`
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	First int32 `json:"first"`
	Last  int32 `json:"last"`
}

// String returns "FIRST-LAST", the form of the agent's --import-ports.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// WithDefaults returns a copy of v with every zero field that has a default
// set to it. It does not validate.
func (v Values) WithDefaults() Values {
	setString(&v.Namespace, DefaultNamespace)
	setString(&v.Image, DefaultImage)
	setString((*string)(&v.ImagePullPolicy), string(DefaultImagePullPolicy))
	setString(&v.ControlPlane.ServerID, DefaultServerID)
	setString(&v.Gateway.Name, DefaultGatewayName)
	setInt(&v.Gateway.Replicas, DefaultGatewayReplicas)
	setInt(&v.Gateway.InboundPort, DefaultInboundPort)
	setString((*string)(&v.Gateway.Service.Type), string(DefaultServiceType))
	setString(&v.Gateway.IdentitySecret, DefaultGatewayIdentity)
	setInt(&v.Agent.Replicas, DefaultAgentReplicas)
	setString(&v.Agent.IdentitySecret, DefaultAgentIdentity)
	if v.ImportPorts == (PortRange{}) {
		v.ImportPorts = PortRange{First: DefaultImportPortFirst, Last: DefaultImportPortLast}
	}
	setString(&v.ClusterDomain, DefaultClusterDomain)
	v.Gateway.Resources = mergeResources(resources("100m", "64Mi", "512Mi"), v.Gateway.Resources)
	v.Agent.Resources = mergeResources(resources("50m", "64Mi", "256Mi"), v.Agent.Resources)
	// Copies, so that a caller changing the result cannot change v's
	// maps; never nil, so that they render as {} like values.yaml's.
	v.Gateway.Advertise = append([]string{}, v.Gateway.Advertise...)
	for _, m := range []*map[string]string{
		&v.Gateway.Service.Annotations,
		&v.Gateway.ServiceAccount.Annotations, &v.Gateway.PodLabels, &v.Gateway.PodAnnotations,
		&v.Agent.ServiceAccount.Annotations, &v.Agent.PodLabels, &v.Agent.PodAnnotations,
	} {
		*m = copyMap(*m)
	}
	return v
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int32, def int32) {
	if *p == 0 {
		*p = def
	}
}

// mergeResources returns def with every request and limit of r set over
// it, the way Helm merges a values file into the chart's defaults.
func mergeResources(def, r corev1.ResourceRequirements) corev1.ResourceRequirements {
	for name, q := range r.Requests {
		def.Requests[name] = q
	}
	for name, q := range r.Limits {
		def.Limits[name] = q
	}
	def.Claims = r.Claims
	return def
}

func resources(cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(memory),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

// ParseValues decodes a values document (YAML or JSON, the shape of the
// Helm chart's values.yaml) strictly: unknown fields and duplicate keys are
// errors. Fields it leaves out keep their zero value. It does not validate.
func ParseValues(data []byte) (Values, error) {
	var v Values
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return Values{}, fmt.Errorf("deploy: values: %w", err)
	}
	return v, nil
}

// helmValues returns v as the Helm chart's values: JSON-compatible maps in
// which every field is present (Namespace is the release's).
func helmValues(v Values) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("deploy: encode values: %w", err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("deploy: encode values: %w", err)
	}
	return m, nil
}

// HelmValues returns v, with its defaults, as a YAML values file for the
// Helm chart: `helm install -f` of it renders what [Objects] returns for v,
// without the Namespace (Helm's --namespace and --create-namespace do that).
func HelmValues(v Values) ([]byte, error) {
	m, err := helmValues(v.WithDefaults())
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(m)
}
