package kubetest

import (
	"context"
	"fmt"
	"slices"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	mcscrd "sigs.k8s.io/mcs-api/config/crd"
	"sigs.k8s.io/yaml"
)

// mcsCRDs returns the ServiceExport and ServiceImport CRDs embedded in
// sigs.k8s.io/mcs-api.
func mcsCRDs() [][]byte {
	return [][]byte{mcscrd.ServiceExportCRD, mcscrd.ServiceImportCRD}
}

// installCRDs creates the CRDs given as YAML and waits until each is
// established and every served version appears in discovery, so typed
// clients can use them at once.
func installCRDs(ctx context.Context, cfg *rest.Config, docs [][]byte) error {
	ext, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, len(docs))
	for i, doc := range docs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return fmt.Errorf("decode CRD: %w", err)
		}
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
		crds[i] = crd
	}
	for _, crd := range crds {
		if err := poll(ctx, "CRD "+crd.Name+" established", func(ctx context.Context) error {
			return crdReady(ctx, ext, cs, crd)
		}); err != nil {
			return err
		}
	}
	return nil
}

func crdReady(ctx context.Context, ext apiextensions.Interface, cs kubernetes.Interface, want *apiextensionsv1.CustomResourceDefinition) error {
	got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(got.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
		return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
	}) {
		return fmt.Errorf("not established: %v", got.Status.Conditions)
	}
	for _, v := range want.Spec.Versions {
		if !v.Served {
			continue
		}
		gv := want.Spec.Group + "/" + v.Name
		list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			return fmt.Errorf("discovery of %s: %w", gv, err)
		}
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == want.Spec.Names.Plural }) {
			return fmt.Errorf("discovery of %s lacks %s", gv, want.Spec.Names.Plural)
		}
	}
	return nil
}
