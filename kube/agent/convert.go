package agent

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"

	"github.com/meshfed/meshfed/kube/mcsapi"
)

// v1alpha1 and v1beta1 of mcs-api v0.5 have the same schema, so the agent
// reads and writes both through the v1beta1 Go types.

// toExport converts an informer's object to a ServiceExport.
func toExport(obj any) (*mcsv1beta1.ServiceExport, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", obj)
	}
	out := new(mcsv1beta1.ServiceExport)
	return out, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

// toImport converts an informer's object to a ServiceImport.
func toImport(obj any) (*mcsv1beta1.ServiceImport, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", obj)
	}
	out := new(mcsv1beta1.ServiceImport)
	return out, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

// toUnstructured converts obj (a v1beta1 Go object) for the dynamic
// client in r's version.
func toUnstructured(r mcsapi.Resources, obj runtime.Object, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(r.APIVersion())
	u.SetKind(kind)
	return u, nil
}
