package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubediscovery "k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/backoff"
	"github.com/meshfed/meshfed/kube/mcsapi"
)

// fieldManager owns the fields `meshfed install` applies.
const fieldManager = "meshfed"

// What applying one object did.
type applyResult string

const (
	resultCreated    applyResult = "created"
	resultConfigured applyResult = "configured"
	resultUnchanged  applyResult = "unchanged"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// kubeApplier applies objects to one cluster with server-side apply and
// prints one line per object. It is used by one command at a time.
type kubeApplier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	hc     *http.Client
	out    io.Writer
}

// newKubeApplier connects to the cluster of the kubeconfig (default rules:
// $KUBECONFIG, then ~/.kube/config) and returns the kubeApplier and a
// description of where it points.
func newKubeApplier(kubeconfig, kubeContext string, out io.Writer) (*kubeApplier, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w (pass --kubeconfig FILE and --context NAME, or set KUBECONFIG)", err)
	}
	if kubeContext == "" {
		if raw, err := cc.RawConfig(); err == nil {
			kubeContext = raw.CurrentContext
		}
	}
	cfg.UserAgent = "meshfed-install"
	cfg.QPS, cfg.Burst = 50, 100 // a few dozen requests; client-go's 5 QPS would make them take seconds
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	disc, err := kubediscovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	a := &kubeApplier{
		dyn:    dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		hc:     hc,
		out:    out,
	}
	return a, fmt.Sprintf("%s (context %q)", cfg.Host, kubeContext), nil
}

// close releases the connections.
func (a *kubeApplier) close() { a.hc.CloseIdleConnections() }

// kubeObjectRef names an object the way kubectl does: kind/name (namespace).
func kubeObjectRef(obj *unstructured.Unstructured) string {
	s := strings.ToLower(obj.GetKind()) + "/" + obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		s += " (" + ns + ")"
	}
	return s
}

// explainKubeError adds what to do to the API errors a person can fix.
func explainKubeError(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (installing needs rights to create namespaces, CRDs, ClusterRoles and their bindings: use a cluster-admin kubeconfig)", err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w (the kubeconfig's credentials were refused: refresh them)", err)
	}
	return err
}

// resource returns the client for obj's kind, from discovery.
func (a *kubeApplier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset() // discovery may predate a CRD
		mapping, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the API server does not serve %s: %w", kubeObjectRef(obj), gvk, explainKubeError(err))
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return a.dyn.Resource(mapping.Resource), nil
}

// apply applies obj with server-side apply. force takes over fields other
// managers own; without it such a conflict is an error.
func (a *kubeApplier) apply(ctx context.Context, obj *unstructured.Unstructured, force bool) (applyResult, error) {
	r, err := a.resource(obj)
	if err != nil {
		return "", err
	}
	var oldVersion string
	switch old, err := r.Get(ctx, obj.GetName(), metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return "", fmt.Errorf("read %s: %w", kubeObjectRef(obj), explainKubeError(err))
	default:
		oldVersion = old.GetResourceVersion()
	}
	got, err := r.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: force})
	switch {
	case apierrors.IsConflict(err) && !force:
		return "", fmt.Errorf("apply %s: another field manager owns fields meshfed sets: %v; rerun with --force-conflicts to take them over", kubeObjectRef(obj), err)
	case err != nil:
		return "", fmt.Errorf("apply %s: %w", kubeObjectRef(obj), explainKubeError(err))
	case oldVersion == "":
		return resultCreated, nil
	case got.GetResourceVersion() == oldVersion: // a no-op apply writes nothing
		return resultUnchanged, nil
	}
	return resultConfigured, nil
}

// applyAll applies objs in order, printing a line for each, and waits for
// the CRDs among them to be established before applying what follows
// them. Objects are forced, CRDs only with forceCRDs: they may belong to
// another Multi-Cluster Services implementation.
func (a *kubeApplier) applyAll(ctx context.Context, objs []*unstructured.Unstructured, forceCRDs bool) (map[applyResult]int, error) {
	counts := map[applyResult]int{}
	var crds []*unstructured.Unstructured
	for _, obj := range objs {
		isCRD := obj.GetKind() == "CustomResourceDefinition"
		if !isCRD && len(crds) > 0 {
			if err := a.waitEstablished(ctx, crds); err != nil {
				return counts, err
			}
			crds = nil
		}
		res, err := a.apply(ctx, obj, !isCRD || forceCRDs)
		if err != nil {
			return counts, err
		}
		fmt.Fprintf(a.out, "%s %s\n", kubeObjectRef(obj), res)
		counts[res]++
		if isCRD {
			crds = append(crds, obj)
		}
	}
	return counts, a.waitEstablished(ctx, crds)
}

// waitEstablished polls the CRDs until each has Established=True; it says
// so if that takes more than a second.
func (a *kubeApplier) waitEstablished(ctx context.Context, crds []*unstructured.Unstructured) error {
	start := time.Now()
	said := false
	for _, crd := range crds {
		for {
			state, err := a.established(ctx, crd.GetName())
			if err == nil && state == "" {
				break
			}
			if err != nil {
				state = err.Error()
			}
			if !said && time.Since(start) > time.Second {
				fmt.Fprintf(a.out, "waiting for %s to be established ...\n", kubeObjectRef(crd))
				said = true
			}
			if !backoff.Sleep(ctx, 200*time.Millisecond) {
				return fmt.Errorf("%s not established after %s (%s): check the API server's log, or raise --wait",
					kubeObjectRef(crd), time.Since(start).Round(time.Second), state)
			}
		}
	}
	if said {
		fmt.Fprintf(a.out, "CRDs established after %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// established returns "" once the CRD is established, else its
// conditions.
func (a *kubeApplier) established(ctx context.Context, name string) (string, error) {
	crd, err := a.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", explainKubeError(err)
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	var states []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return "", nil
		}
		states = append(states, fmt.Sprintf("%v=%v", m["type"], m["status"]))
	}
	return "conditions: " + strings.Join(states, ", "), nil
}

// delete deletes obj (its dependents in the background) and prints what
// happened.
func (a *kubeApplier) delete(ctx context.Context, obj *unstructured.Unstructured) error {
	r, err := a.resource(obj)
	if err != nil {
		return err
	}
	policy := metav1.DeletePropagationBackground
	err = r.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
	switch {
	case apierrors.IsNotFound(err):
		fmt.Fprintf(a.out, "%s not found\n", kubeObjectRef(obj))
	case err != nil:
		return fmt.Errorf("delete %s: %w", kubeObjectRef(obj), explainKubeError(err))
	default:
		fmt.Fprintf(a.out, "%s deleted\n", kubeObjectRef(obj))
	}
	return nil
}

// checkSecrets warns about identity Secrets the pods will wait for, but
// those install just applied.
func (a *kubeApplier) checkSecrets(ctx context.Context, w io.Writer, v deploy.Values, applied map[string]bool) {
	secrets := a.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(v.Namespace)
	for _, s := range []struct {
		name, who, flags string
		keys             []string
	}{
		{v.Gateway.IdentitySecret, "gateway", "--gateway-cert, --gateway-key and --gateway-bundle", []string{"tls.crt", "tls.key", "bundle.pem"}},
		{v.Agent.IdentitySecret, "agent", "--agent-cert and --agent-key", []string{"tls.crt", "tls.key"}},
	} {
		if applied[s.name] {
			continue
		}
		got, err := secrets.Get(ctx, s.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			fmt.Fprintf(w, "warning: secret/%s (%s) does not exist: the %s's pods wait for it; create it with %s, or with kubectl (docs/kubernetes.md)\n",
				s.name, v.Namespace, s.who, s.flags)
			continue
		}
		if err != nil {
			fmt.Fprintf(w, "warning: cannot read secret/%s (%s): %v\n", s.name, v.Namespace, err)
			continue
		}
		data, _, _ := unstructured.NestedMap(got.Object, "data")
		for _, k := range s.keys {
			if _, ok := data[k]; !ok {
				fmt.Fprintf(w, "warning: secret/%s (%s) has no %s: the %s will not start; recreate it with %s\n", s.name, v.Namespace, k, s.who, s.flags)
			}
		}
	}
}

// releaseExportFinalizers removes the agent's finalizer from every
// ServiceExport (in each served MCS version's view; they are the same
// objects) and returns how many it changed. Each write carries the
// object's resourceVersion, so a concurrent change is retried, not lost.
func (a *kubeApplier) releaseExportFinalizers(ctx context.Context) (int, error) {
	n := 0
	for _, v := range []string{"v1beta1", "v1alpha1"} {
		res := mcsapi.ResourcesFor(v).Exports
		list, err := a.dyn.Resource(res).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("listing ServiceExports (%s): %w", v, err)
		}
		for _, item := range list.Items {
			for attempt := 0; ; attempt++ {
				fins := item.GetFinalizers()
				kept := slices.DeleteFunc(slices.Clone(fins), func(f string) bool { return f == mcsapi.Finalizer })
				if len(kept) == len(fins) {
					break
				}
				item.SetFinalizers(kept)
				_, err := a.dyn.Resource(res).Namespace(item.GetNamespace()).Update(ctx, &item, metav1.UpdateOptions{FieldManager: fieldManager})
				if err == nil {
					n++
					break
				}
				if apierrors.IsNotFound(err) {
					break
				}
				if !apierrors.IsConflict(err) || attempt == 4 {
					return n, fmt.Errorf("removing the finalizer of ServiceExport %s/%s: %w", item.GetNamespace(), item.GetName(), err)
				}
				cur, err := a.dyn.Resource(res).Namespace(item.GetNamespace()).Get(ctx, item.GetName(), metav1.GetOptions{})
				if err != nil {
					if apierrors.IsNotFound(err) {
						break
					}
					return n, err
				}
				item = *cur
			}
		}
		break // one served version lists every ServiceExport
	}
	return n, nil
}
