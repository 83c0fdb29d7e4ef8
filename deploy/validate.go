package deploy

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/meshfed/federation/schema"
)

// ErrInvalid is matched (errors.Is) by the error of [Values.Validate].
var ErrInvalid = errors.New("deploy: invalid values")

// Ports the gateway always listens on, besides the inbound port.
const (
	OutboundPort     = 15001 // HTTP forward proxy for local clients
	GatewayAdminPort = 15021 // /healthz, /readyz, /metrics
	AgentAdminPort   = 15022 // /healthz, /readyz
)

// maxAdvertise bounds gateway.advertise like the control plane bounds a
// gateway's addresses.
const maxAdvertise = schema.MaxGatewayAddrs

// FieldError is one bad value: the field (its Helm values path, also the
// key of `meshfed install --set`), the value, and what to do.
type FieldError struct {
	Field  string // e.g. "gateway.inboundPort"
	Value  string
	Reason string // what is wrong and how to fix it
}

func (e FieldError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}

// ValuesError lists every bad value found by [Values.Validate].
type ValuesError struct {
	Fields []FieldError
}

func (e *ValuesError) Error() string {
	if len(e.Fields) == 1 {
		return "deploy: " + e.Fields[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "deploy: %d invalid values:", len(e.Fields))
	for _, f := range e.Fields {
		b.WriteString("\n  - " + f.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValuesError) Is(target error) bool { return target == ErrInvalid }

// Validate checks v after its defaults are applied and returns a
// *ValuesError naming every bad field, or nil.
func (v Values) Validate() error {
	v = v.WithDefaults()
	var errs []FieldError
	bad := func(fieldName string, value any, reason string, args ...any) {
		s := fmt.Sprint(value)
		if len(s) > 80 {
			s = s[:80] + "..."
		}
		errs = append(errs, FieldError{Field: fieldName, Value: s, Reason: fmt.Sprintf(reason, args...)})
	}
	const label = "is not a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)"
	if v.Cluster == "" {
		bad("cluster", v.Cluster, "is required: set it to this cluster's name in the clusterset, as given to `meshfed cluster add`")
	} else if !schema.IsDNSLabel(v.Cluster) {
		bad("cluster", v.Cluster, "%s: use the cluster's name in the clusterset, e.g. east-1", label)
	}
	if !schema.IsDNSLabel(v.Namespace) {
		bad("namespace", v.Namespace, "%s: choose another namespace, e.g. %s", label, DefaultNamespace)
	}
	if strings.ContainsAny(v.Image, " \t\r\n\"'\\") {
		bad("image", v.Image, "is not an image reference (no spaces or quotes), e.g. %s", DefaultImage)
	}
	if !slices.Contains(pullPolicies, v.ImagePullPolicy) {
		bad("imagePullPolicy", v.ImagePullPolicy, "must be one of %s", joinQuoted(pullPolicies))
	}
	v.validateControlPlane(bad)
	v.validateGateway(bad)
	v.validateAgent(bad)
	validatePorts(v, bad)
	if msgs := validation.IsDNS1123Subdomain(v.ClusterDomain); len(msgs) > 0 {
		bad("clusterDomain", v.ClusterDomain, "is not a DNS domain (%s): set it to the cluster's DNS domain, normally %s", strings.Join(msgs, "; "), DefaultClusterDomain)
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValuesError{Fields: errs}
}

var (
	pullPolicies = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	serviceTypes = []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP}
)

func joinQuoted[S ~string](values []S) string {
	q := make([]string, len(values))
	for i, s := range values {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

type badFunc func(field string, value any, reason string, args ...any)

func (v Values) validateControlPlane(bad badFunc) {
	cp := v.ControlPlane
	if cp.Address == "" {
		bad("controlPlane.address", cp.Address, "is required: set it to the control plane's gRPC host:port as reachable from this cluster's pods")
	} else if err := schema.ValidateAddress("", "controlPlane.address", cp.Address); err != nil {
		bad("controlPlane.address", cp.Address, "is not a host:port address (e.g. controlplane.example.com:15012): set it to the control plane's gRPC address as reachable from this cluster's pods")
	}
	if err := checkCertificates(cp.CA); err != nil {
		bad("controlPlane.ca", cp.CA, "%v: set it to the PEM of the control plane's CA (ca.pem in its data directory)", err)
	}
	if id, err := spiffeid.FromString(cp.ServerID); err != nil || id.Path() == "" || id.String() != cp.ServerID {
		bad("controlPlane.serverID", cp.ServerID, "is not a SPIFFE ID with a path: set it to the control plane's ID, e.g. %s", DefaultServerID)
	}
}

// checkCertificates requires one or more PEM CERTIFICATE blocks that
// parse, and nothing else.
func checkCertificates(data string) error {
	if data == "" {
		return errors.New("is required")
	}
	rest := []byte(data)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a PEM %q block; only CERTIFICATE blocks are allowed", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return errors.New("holds text that is not PEM")
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

func (v Values) validateGateway(bad badFunc) {
	g := v.Gateway
	if !schema.IsDNSLabel(g.Name) {
		bad("gateway.name", g.Name, "is not a DNS-1123 label: it is the last segment of the gateway's SPIFFE ID, e.g. %s", DefaultGatewayName)
	}
	if g.Replicas < 1 {
		bad("gateway.replicas", g.Replicas, "must be at least 1 (0 means the default, %d)", DefaultGatewayReplicas)
	}
	if len(g.Advertise) > maxAdvertise {
		bad("gateway.advertise", len(g.Advertise), "addresses are more than the %d allowed", maxAdvertise)
	}
	for i, a := range g.Advertise {
		if err := schema.ValidateAddress("", "", a); err != nil {
			bad(fmt.Sprintf("gateway.advertise[%d]", i), a, "is not a host:port address peers can dial, e.g. 203.0.113.7:%d", g.InboundPort)
		}
	}
	if !slices.Contains(serviceTypes, g.Service.Type) {
		bad("gateway.service.type", g.Service.Type, "must be one of %s", joinQuoted(serviceTypes))
	}
	validateAnnotations(bad, "gateway.service.annotations", g.Service.Annotations)
	validateSecretName(bad, "gateway.identitySecret", g.IdentitySecret)
	validateResources(bad, "gateway.resources", g.Resources)
	validateAnnotations(bad, "gateway.serviceAccount.annotations", g.ServiceAccount.Annotations)
	validatePodLabels(bad, "gateway.podLabels", "gateway", g.PodLabels)
	validateAnnotations(bad, "gateway.podAnnotations", g.PodAnnotations)
}

func (v Values) validateAgent(bad badFunc) {
	a := v.Agent
	if a.Replicas < 1 {
		bad("agent.replicas", a.Replicas, "must be at least 1 (0 means the default, %d)", DefaultAgentReplicas)
	}
	validateSecretName(bad, "agent.identitySecret", a.IdentitySecret)
	validateResources(bad, "agent.resources", a.Resources)
	validateAnnotations(bad, "agent.serviceAccount.annotations", a.ServiceAccount.Annotations)
	validatePodLabels(bad, "agent.podLabels", "agent", a.PodLabels)
	validateAnnotations(bad, "agent.podAnnotations", a.PodAnnotations)
}

// keyHint says what a label key or annotation name looks like.
const keyHint = "use NAME or PREFIX/NAME, NAME being at most 63 characters and PREFIX a DNS subdomain, e.g. example.com/team"

// k8sReasons joins the API machinery's messages without their examples
// and regular expressions, which the hints that follow them replace.
func k8sReasons(msgs []string) string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], _, _ = strings.Cut(m, " (e.g. ")
	}
	return strings.Join(out, "; ")
}

// validateAnnotations checks annotations as the API server does: every
// name a qualified name (in any case), all of them together at most
// 256 KiB.
func validateAnnotations(bad badFunc, fieldName string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if msgs := validation.IsQualifiedName(strings.ToLower(k)); len(msgs) > 0 {
			bad(fieldName, k, "is not an annotation name (%s): %s", k8sReasons(msgs), keyHint)
		}
	}
	if err := apivalidation.ValidateAnnotationsSize(m); err != nil {
		size := 0
		for k, val := range m {
			size += len(k) + len(val)
		}
		bad(fieldName, fmt.Sprintf("%d bytes", size), "are more than the %d bytes (256 KiB) Kubernetes allows for an object's annotations, names and values together: shorten or remove some",
			apivalidation.TotalAnnotationSizeLimitB)
	}
}

// validatePodLabels checks labels for a component's pods as the API
// server does, and refuses those that would replace the chart's own.
func validatePodLabels(bad badFunc, fieldName, component string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		val := m[k]
		if slices.Contains(chartLabels, k) {
			bad(fieldName+"."+setKey(k), val, "is a label the chart sets on the %s pods (%s selects them): remove it from %s, or use another key",
				component, labelName, fieldName)
			continue
		}
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			bad(fieldName, k, "is not a label key (%s): %s", k8sReasons(msgs), keyHint)
		}
		if msgs := validation.IsValidLabelValue(val); len(msgs) > 0 {
			bad(fieldName+"."+setKey(k), val, "is not a label value (%s): use at most 63 such characters, e.g. \"true\" or \"v1.2\"", k8sReasons(msgs))
		}
	}
}

// setKey escapes the dots of a map key as the key of --set wants them.
func setKey(k string) string { return strings.ReplaceAll(k, ".", `\.`) }

func validateSecretName(bad badFunc, fieldName, name string) {
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		bad(fieldName, name, "is not a Secret name (%s)", strings.Join(msgs, "; "))
	}
}

// validateResources refuses requests above limits, which the API server
// would only refuse when the Deployment creates its pods.
func validateResources(bad badFunc, fieldName string, r corev1.ResourceRequirements) {
	for name, req := range r.Requests {
		if limit, ok := r.Limits[name]; ok && req.Cmp(limit) > 0 {
			bad(fieldName+".requests."+string(name), req.String(), "is more than the limit %s: lower the request or raise the limit", limit.String())
		}
	}
	if len(r.Claims) > 0 {
		bad(fieldName+".claims", len(r.Claims), "resource claims are not supported: remove them")
	}
}

// validatePorts checks the inbound port and the import range against each
// other and the gateway's fixed ports.
func validatePorts(v Values, bad badFunc) {
	in, r := v.Gateway.InboundPort, v.ImportPorts
	if in < 1 || in > 65535 {
		bad("gateway.inboundPort", in, "is not a port (1-65535): set the port peers dial, e.g. %d", DefaultInboundPort)
	} else if in == OutboundPort || in == GatewayAdminPort {
		bad("gateway.inboundPort", in, "is taken by the gateway's outbound proxy (%d) or admin port (%d): choose another", OutboundPort, GatewayAdminPort)
	}
	switch {
	case r.First < 1024 || r.Last > 65535 || r.First > r.Last:
		bad("importPorts", r.String(), "is not a port range FIRST-LAST within 1024-65535 with FIRST <= LAST, e.g. %d-%d", DefaultImportPortFirst, DefaultImportPortLast)
	case within(r, in) || within(r, OutboundPort) || within(r, GatewayAdminPort):
		bad("importPorts", r.String(), "overlaps a port of the gateway (inbound %d, outbound %d, admin %d): move the range, e.g. %d-%d", in, OutboundPort, GatewayAdminPort, DefaultImportPortFirst, DefaultImportPortLast)
	}
}

func within(r PortRange, port int32) bool { return port >= r.First && port <= r.Last }
