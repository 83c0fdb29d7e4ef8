// Package mcsapi holds what meshfed's agent and its gateways share about
// the Multi-Cluster Services API (multicluster.x-k8s.io): the labels,
// annotations and finalizer meshfed uses, which API version a cluster
// serves, conversion of ServiceExport and ServiceImport objects (v1alpha1
// and v1beta1 of mcs-api v0.5 have the same schema, so both are read and
// written through the v1beta1 Go types), the gateway-ports annotation,
// and the gateway's watch of import ports. It depends on client-go's
// dynamic client only, which keeps the meshfed-gateway binary small.
package mcsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// Labels, annotations and the finalizer the agent uses.
const (
	// LabelManagedBy marks every object the agent creates.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on the agent's objects.
	ManagedBy = "meshfed-agent"
	// LabelServiceName and LabelSourceCluster are the MCS API's labels
	// on derived EndpointSlices.
	LabelServiceName   = "multicluster.kubernetes.io/service-name"
	LabelSourceCluster = "multicluster.kubernetes.io/source-cluster"
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
	// EndpointSliceManagedBy is the EndpointSlice controller label value
	// that keeps Kubernetes' own controller away from derived slices.
	EndpointSliceManagedBy = "agent.meshfed.io"
)

// Reasons the agent uses besides the MCS API's own.
const (
	ReasonInvalidAnnotation = "InvalidAnnotation"
	ReasonPortsExhausted    = "GatewayPortsExhausted"
	ReasonNoGateway         = "NoReadyGateway"
	ReasonNamespaceMissing  = "NamespaceMissing"
)

// ResourceLister lists the resources of an API group version; client-go's
// discovery client is one, and NewResourceLister a lighter one.
type ResourceLister interface {
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
}

// NewResourceLister returns a ResourceLister that GETs /apis/GROUP/VERSION
// with cfg's credentials. Unlike client-go's discovery client, it does not
// link the scheme of every built-in API into the binary.
func NewResourceLister(cfg *rest.Config) (ResourceLister, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &resourceLister{hc: hc, host: strings.TrimSuffix(cfg.Host, "/")}, nil
}

type resourceLister struct {
	hc   *http.Client
	host string
}

func (l *resourceLister) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	host := l.host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	resp, err := l.hc.Get(host + "/apis/" + gv)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: gv}, "")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /apis/%s: %s", gv, resp.Status)
	}
	list := new(metav1.APIResourceList)
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(list); err != nil {
		return nil, fmt.Errorf("GET /apis/%s: %w", gv, err)
	}
	return list, nil
}

// Group is the MCS API group.
const Group = "multicluster.x-k8s.io"

// Resources are the GVRs of ServiceExport and ServiceImport in one
// served version.
type Resources struct {
	Version          string
	Exports, Imports schema.GroupVersionResource
}

// ResourcesFor returns the resources of version.
func ResourcesFor(version string) Resources {
	gv := schema.GroupVersion{Group: Group, Version: version}
	return Resources{Version: version, Exports: gv.WithResource("serviceexports"), Imports: gv.WithResource("serviceimports")}
}

// APIVersion is "multicluster.x-k8s.io/VERSION".
func (r Resources) APIVersion() string { return Group + "/" + r.Version }

// ErrNotServed means the cluster serves no version of the MCS API (as
// opposed to an API server that could not answer).
var ErrNotServed = errors.New("MCS API not served")

// DiscoverVersion picks the MCS API version to use: want when set (it must
// be served), else v1beta1 when served, else v1alpha1.
func DiscoverVersion(dc ResourceLister, want string) (string, error) {
	served := map[string]bool{}
	for _, v := range []string{"v1beta1", "v1alpha1"} {
		list, err := dc.ServerResourcesForGroupVersion(Group + "/" + v)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("asking the API server for %s/%s: %w", Group, v, err)
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
		return "", fmt.Errorf("the MCS API version %s/%s is not served by this cluster (install the CRDs with `meshfed install`, or drop --mcs-version): %w", Group, want, ErrNotServed)
	case served["v1beta1"]:
		return "v1beta1", nil
	case served["v1alpha1"]:
		return "v1alpha1", nil
	}
	return "", fmt.Errorf("the cluster serves no ServiceExport/ServiceImport API (%s v1beta1 or v1alpha1): install the MCS CRDs with `meshfed install` first: %w", Group, ErrNotServed)
}

// Managed reports whether the agent created obj.
func Managed(obj metav1.Object) bool { return obj.GetLabels()[LabelManagedBy] == ManagedBy }
