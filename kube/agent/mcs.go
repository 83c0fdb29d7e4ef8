package agent

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

// Labels, annotations and the finalizer the agent uses.
const (
	// LabelManagedBy marks every object the agent creates.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on the agent's objects.
	ManagedBy = "meshfed-agent"
	// LabelServiceName and LabelSourceCluster are the MCS API's labels
	// on derived EndpointSlices.
	LabelServiceName   = mcsv1beta1.LabelServiceName
	LabelSourceCluster = mcsv1beta1.LabelSourceCluster
	// AnnotationGatewayPorts, on a ServiceImport, maps each port (by name,
	// or "PORT/PROTOCOL" when unnamed) to the local gateway's port for
	// it: "http=17000,grpc=17001".
	AnnotationGatewayPorts = "multicluster.meshfed.io/gateway-ports"
	// AnnotationExportPorts, on a ServiceExport, limits the export to
	// some of the Service's ports: a comma-separated list of port names
	// or numbers ("http,9090").
	AnnotationExportPorts = "multicluster.meshfed.io/export-ports"
	// Finalizer holds a ServiceExport until its export is withdrawn.
	Finalizer = "multicluster.meshfed.io/export"
	// endpointSliceManagedBy is the EndpointSlice controller label value
	// that keeps Kubernetes' own controller away from derived slices.
	endpointSliceManagedBy = "agent.meshfed.io"
)

// Reasons the agent uses besides the MCS API's own.
const (
	ReasonInvalidAnnotation = "InvalidAnnotation"
	ReasonPortsExhausted    = "GatewayPortsExhausted"
	ReasonNoGateway         = "NoReadyGateway"
	ReasonNamespaceMissing  = "NamespaceMissing"
)

// Group is the MCS API group.
const Group = "multicluster.x-k8s.io"

// mcsResources are the GVRs of ServiceExport and ServiceImport in one
// served version.
type mcsResources struct {
	version          string
	exports, imports schema.GroupVersionResource
}

func resourcesFor(version string) mcsResources {
	gv := schema.GroupVersion{Group: Group, Version: version}
	return mcsResources{version: version, exports: gv.WithResource("serviceexports"), imports: gv.WithResource("serviceimports")}
}

func (r mcsResources) apiVersion() string { return Group + "/" + r.version }

// discoverVersion picks the MCS API version to use: want when set (it must
// be served), else v1beta1 when served, else v1alpha1.
func discoverVersion(dc discovery.DiscoveryInterface, want string) (string, error) {
	served := map[string]bool{}
	for _, v := range []string{"v1beta1", "v1alpha1"} {
		list, err := dc.ServerResourcesForGroupVersion(Group + "/" + v)
		if err != nil {
			continue
		}
		var exports, imports bool
		for _, r := range list.APIResources {
			exports = exports || r.Name == "serviceexports"
			imports = imports || r.Name == "serviceimports"
		}
		served[v] = exports && imports
	}
	switch {
	case want != "" && served[want]:
		return want, nil
	case want != "":
		return "", fmt.Errorf("the MCS API version %s/%s is not served by this cluster (install the CRDs with `meshfed install`, or drop --mcs-version)", Group, want)
	case served["v1beta1"]:
		return "v1beta1", nil
	case served["v1alpha1"]:
		return "v1alpha1", nil
	}
	return "", fmt.Errorf("the cluster serves no ServiceExport/ServiceImport API (%s v1beta1 or v1alpha1): install the MCS CRDs with `meshfed install` first", Group)
}

// v1alpha1 and v1beta1 of mcs-api v0.5 have the same schema, so the agent
// reads and writes both through the v1beta1 Go types.

func toExport(obj any) (*mcsv1beta1.ServiceExport, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", obj)
	}
	out := new(mcsv1beta1.ServiceExport)
	return out, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

func toImport(obj any) (*mcsv1beta1.ServiceImport, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", obj)
	}
	out := new(mcsv1beta1.ServiceImport)
	return out, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

func (r mcsResources) unstructured(obj runtime.Object, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(r.apiVersion())
	u.SetKind(kind)
	return u, nil
}

// managed reports whether the agent created obj.
func managed(obj metav1.Object) bool { return obj.GetLabels()[LabelManagedBy] == ManagedBy }
