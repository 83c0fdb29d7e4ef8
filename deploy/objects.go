package deploy

import (
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcscrd "sigs.k8s.io/mcs-api/config/crd"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
)

// Names of the objects; fixed, so that the agent finds the gateway and a
// second installation into the same cluster updates the first.
const (
	GatewayName = "meshfed-gateway" // Deployment, ServiceAccount, ClusterRole(Binding), ConfigMap, ClusterIP Service
	AgentName   = "meshfed-agent"   // Deployment, ServiceAccount, ClusterRole(Binding), Role(Binding), Lease
)

// Paths inside the containers.
const (
	configDir       = "/etc/meshfed/gateway"
	controlPlaneDir = "/etc/meshfed/controlplane"
	identityDir     = "/etc/meshfed/identity"
	dataDir         = "/var/lib/meshfed"
	gatewayConfig   = "gateway.yaml"
	clientConfig    = "meshfed.yaml"
	caFile          = "ca.pem"
	bundleFile      = "bundle.pem"
)

// Labels.
const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	labelPartOf    = "app.kubernetes.io/part-of"
	partOf         = "meshfed"
)

// nonRoot is the distroless "nonroot" user; any non-zero ID would do.
const nonRoot = 65532

// Objects validates v and returns the objects of an installation, with
// v's defaults applied, in the order they must be applied: the Namespace,
// the MCS CRDs (ServiceExport, ServiceImport), ServiceAccounts, RBAC,
// ConfigMaps, the Deployments and the Services. Secrets holding
// identities are not among them: they are made from files the operator
// has (`meshfed install --gateway-cert ...`, or kubectl). Each call returns
// new objects.
func Objects(v Values) ([]*unstructured.Unstructured, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return render(v.WithDefaults())
}

// render builds the objects of v, which has its defaults, without
// validating it: the chart generator renders placeholders through it.
func render(v Values) ([]*unstructured.Unstructured, error) {
	crds, err := CRDs()
	if err != nil {
		return nil, err
	}
	typed := []runtime.Object{&corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: v.Namespace, Labels: map[string]string{labelPartOf: partOf}},
	}}
	typed = append(typed,
		serviceAccount(v, GatewayName, "gateway", v.Gateway.ServiceAccount),
		serviceAccount(v, AgentName, "agent", v.Agent.ServiceAccount),
	)
	typed = append(typed, rbac(v)...)
	typed = append(typed,
		controlPlaneConfigMap(v),
		gatewayConfigMap(v),
		gatewayDeployment(v),
		agentDeployment(v),
		gatewayService(v),
		inboundService(v),
	)
	out := make([]*unstructured.Unstructured, 0, len(crds)+len(typed))
	for i, obj := range typed {
		u, err := toUnstructured(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
		if i == 0 { // the CRDs come right after the Namespace
			out = append(out, crds...)
		}
	}
	return out, nil
}

// CRDs returns the Multi-Cluster Services API CRDs embedded in
// sigs.k8s.io/mcs-api: ServiceExport and ServiceImport, both serving
// v1alpha1 and v1beta1.
func CRDs() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range [][]byte{mcscrd.ServiceExportCRD, mcscrd.ServiceImportCRD} {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("deploy: decode MCS CRD: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// toUnstructured converts a typed object, dropping what the typed structs
// cannot leave out: null creation timestamps and an empty status.
func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("deploy: convert %T: %w", obj, err)
	}
	prune(m)
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(m, "spec")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// prune removes null values from m, recursively.
func prune(m map[string]any) {
	for k, val := range m {
		switch val := val.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(val)
		case []any:
			for _, item := range val {
				if im, ok := item.(map[string]any); ok {
					prune(im)
				}
			}
		}
	}
}

func labels(name, component string) map[string]string {
	return map[string]string{labelName: name, labelComponent: component, labelPartOf: partOf}
}

// chartLabels are the labels the chart sets on every pod; podLabels may
// not replace them (app.kubernetes.io/name selects the pods).
var chartLabels = []string{labelName, labelComponent, labelPartOf}

func meta(v Values, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: v.Namespace, Labels: labels(name, component)}
}

func serviceAccount(v Values, name, component string, sa ServiceAccount) *corev1.ServiceAccount {
	m := meta(v, name, component)
	m.Annotations = sa.Annotations
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: m,
	}
}

func controlPlaneConfigMap(v Values) *corev1.ConfigMap {
	m := meta(v, DefaultControlPlaneMapName, "controlplane-client")
	delete(m.Labels, labelName)
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: m,
		Data: map[string]string{
			caFile:       v.ControlPlane.CA,
			clientConfig: agentClientConfig(v),
		},
	}
}

func gatewayConfigMap(v Values) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(v, GatewayName, "gateway"),
		Data:       map[string]string{gatewayConfig: gatewayConfigYAML(v)},
	}
}

// podSecurity is the restricted Pod Security Standard.
func podSecurity() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(nonRoot)),
		RunAsGroup:     new(int64(nonRoot)),
		FSGroup:        new(int64(nonRoot)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func containerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		RunAsNonRoot:             new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func probe(path string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
		PeriodSeconds:    10,
		TimeoutSeconds:   2,
		FailureThreshold: 3,
	}
}

func configMapVolume(name, configMap string, keys ...string) corev1.Volume {
	src := &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}
	for _, k := range keys {
		src.Items = append(src.Items, corev1.KeyToPath{Key: k, Path: k})
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: src}}
}

func secretVolume(name, secret string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName:  secret,
		DefaultMode: new(int32(0o440)), // group-readable: fsGroup is the container's group
	}}}
}

func readOnly(name, path string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true}
}

// deployment builds a Deployment whose pods carry the chart's labels plus
// podLabels (which Validate keeps from replacing them) and podAnnotations;
// neither reaches the Deployment's own metadata or its selector.
func deployment(v Values, name, component string, replicas int32, podLabels, podAnnotations map[string]string, pod corev1.PodSpec) *appsv1.Deployment {
	m := meta(v, name, component)
	tmplLabels := maps.Clone(podLabels)
	if tmplLabels == nil {
		tmplLabels = map[string]string{}
	}
	maps.Copy(tmplLabels, m.Labels)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: m,
		Spec: appsv1.DeploymentSpec{
			Replicas: new(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelName: name}},
			// Never below the desired count during a rollout.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: new(intstr.FromInt32(0)),
					MaxSurge:       new(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: tmplLabels, Annotations: podAnnotations},
				Spec:       pod,
			},
		},
	}
}

func gatewayDeployment(v Values) *appsv1.Deployment {
	return deployment(v, GatewayName, "gateway", v.Gateway.Replicas, v.Gateway.PodLabels, v.Gateway.PodAnnotations, corev1.PodSpec{
		ServiceAccountName: GatewayName,
		SecurityContext:    podSecurity(),
		Containers: []corev1.Container{{
			Name:            "gateway",
			Image:           v.Image,
			ImagePullPolicy: v.ImagePullPolicy,
			Command:         []string{"meshfed"},
			// Replicas share the gateway's name and SVID; each registers
			// its presence under its pod name.
			Args: []string{"gateway", "--config", configDir + "/" + gatewayConfig, "--instance", "$(POD_NAME)"},
			Env: []corev1.EnvVar{{
				Name:      "POD_NAME",
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			}},
			Ports: []corev1.ContainerPort{
				{Name: "inbound", ContainerPort: v.Gateway.InboundPort, Protocol: corev1.ProtocolTCP},
				{Name: "outbound", ContainerPort: OutboundPort, Protocol: corev1.ProtocolTCP},
				{Name: "admin", ContainerPort: GatewayAdminPort, Protocol: corev1.ProtocolTCP},
			},
			LivenessProbe:   probe("/healthz"),
			ReadinessProbe:  probe("/readyz"),
			Resources:       v.Gateway.Resources,
			SecurityContext: containerSecurity(),
			VolumeMounts: []corev1.VolumeMount{
				readOnly("config", configDir),
				readOnly("controlplane", controlPlaneDir),
				readOnly("identity", identityDir),
				{Name: "data", MountPath: dataDir},
			},
		}},
		Volumes: []corev1.Volume{
			configMapVolume("config", GatewayName),
			configMapVolume("controlplane", DefaultControlPlaneMapName, caFile),
			secretVolume("identity", v.Gateway.IdentitySecret),
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	})
}

func agentDeployment(v Values) *appsv1.Deployment {
	args := []string{
		"agent",
		"--cluster", v.Cluster,
		"--controlplane-config", controlPlaneDir + "/" + clientConfig,
		"--lease-namespace", "$(POD_NAMESPACE)",
		"--lease-name", AgentName,
		"--gateway-service", v.Namespace + "/" + DefaultGatewayServiceName,
		"--import-ports", v.ImportPorts.String(),
	}
	if v.Agent.CreateNamespaces {
		args = append(args, "--create-namespaces")
	}
	args = append(args, "--admin", fmt.Sprintf(":%d", AgentAdminPort))
	return deployment(v, AgentName, "agent", v.Agent.Replicas, v.Agent.PodLabels, v.Agent.PodAnnotations, corev1.PodSpec{
		ServiceAccountName: AgentName,
		SecurityContext:    podSecurity(),
		Containers: []corev1.Container{{
			Name:            "agent",
			Image:           v.Image,
			ImagePullPolicy: v.ImagePullPolicy,
			Command:         []string{"meshfed"},
			Args:            args,
			Env: []corev1.EnvVar{{
				Name:      "POD_NAMESPACE",
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
			}},
			Ports:           []corev1.ContainerPort{{Name: "admin", ContainerPort: AgentAdminPort, Protocol: corev1.ProtocolTCP}},
			LivenessProbe:   probe("/healthz"),
			ReadinessProbe:  probe("/readyz"),
			Resources:       v.Agent.Resources,
			SecurityContext: containerSecurity(),
			VolumeMounts: []corev1.VolumeMount{
				readOnly("controlplane", controlPlaneDir),
				readOnly("identity", identityDir),
			},
		}},
		Volumes: []corev1.Volume{
			configMapVolume("controlplane", DefaultControlPlaneMapName),
			secretVolume("identity", v.Agent.IdentitySecret),
		},
	})
}

// gatewayService is the ClusterIP Service through whose EndpointSlices the
// agent finds the gateway pods; local clients reach the outbound proxy
// through it too.
func gatewayService(v Values) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(v, DefaultGatewayServiceName, "gateway"),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{labelName: GatewayName},
			Ports: []corev1.ServicePort{
				{Name: "inbound", Port: v.Gateway.InboundPort, TargetPort: intstr.FromString("inbound"), Protocol: corev1.ProtocolTCP},
				{Name: "outbound", Port: OutboundPort, TargetPort: intstr.FromString("outbound"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// inboundService exposes the inbound mTLS port to the other clusters'
// gateways.
func inboundService(v Values) *corev1.Service {
	m := meta(v, DefaultInboundServiceName, "gateway")
	m.Annotations = v.Gateway.Service.Annotations
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: m,
		Spec: corev1.ServiceSpec{
			Type:     v.Gateway.Service.Type,
			Selector: map[string]string{labelName: GatewayName},
			Ports: []corev1.ServicePort{
				{Name: "inbound", Port: v.Gateway.InboundPort, TargetPort: intstr.FromString("inbound"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// Inventory returns the identity (apiVersion, kind, name, namespace) of
// every object [Objects] returns for an installation into namespace, in
// the same order: what to delete to uninstall. Names do not depend on
// other values.
func Inventory(namespace string) ([]*unstructured.Unstructured, error) {
	if !schema.IsDNSLabel(namespace) {
		return nil, &ValuesError{Fields: []FieldError{{Field: "namespace", Value: namespace,
			Reason: "is not a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)"}}}
	}
	v := ManifestValues()
	v.Namespace = namespace
	objs, err := render(v)
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		id := &unstructured.Unstructured{Object: map[string]any{}}
		id.SetAPIVersion(o.GetAPIVersion())
		id.SetKind(o.GetKind())
		id.SetName(o.GetName())
		id.SetNamespace(o.GetNamespace())
		out[i] = id
	}
	return out, nil
}
