package mcsapi

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// ImportPort is one port of an imported service and the gateway port the
// agent allocated for it.
type ImportPort struct {
	Namespace, Name string
	// Port is the service's port; GatewayPort is where the gateway
	// accepts its connections.
	Port        uint32
	GatewayPort int
}

// WatchImportPorts watches the cluster's ServiceImports managed by the
// agent and calls onChange with every import port (sorted) at start and
// whenever they change, until ctx ends. Gateways in Kubernetes mode open
// a listener per ImportPort. When onChange fails (a port in use), it is
// called again with the same ports every 5 s until it succeeds. Until the
// cluster serves the MCS API it retries every 10 s, logging why.
func WatchImportPorts(ctx context.Context, kube *rest.Config, onChange func([]ImportPort) error, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dc, err := NewResourceLister(kube)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(kube)
	if err != nil {
		return err
	}
	var version string
	for {
		if version, err = DiscoverVersion(dc, ""); err == nil {
			break
		}
		log.Warn("not opening import ports yet", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
		}
	}
	res := ResourcesFor(version)
	// A plain informer over the dynamic client: dynamicinformer would
	// link every typed informer of client-go into the gateway binary.
	sel := LabelManagedBy + "=" + ManagedBy
	ri := dyn.Resource(res.Imports)
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return ri.Watch(ctx, o)
		},
	}, &unstructured.Unstructured{}, 10*time.Minute, cache.Indexers{})
	changed := make(chan struct{}, 1)
	kick := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: kick, UpdateFunc: func(_, o any) { kick(o) }, DeleteFunc: kick,
	}); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { defer close(done); inf.RunWithContext(ctx) }()
	defer func() { <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}
	kick(nil)
	var last string
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-retry:
			last = ""
		}
		ports := importPorts(inf.GetStore().List(), log)
		if key := portsKey(ports); key != last {
			last, retry = key, nil
			if err := onChange(ports); err != nil {
				retry = time.After(5 * time.Second)
			}
		}
	}
}

// importPorts lists the import ports of the ServiceImports in objs.
func importPorts(objs []any, log *slog.Logger) []ImportPort {
	var out []ImportPort
	for _, obj := range objs {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok || !Managed(u) {
			continue
		}
		key := u.GetNamespace() + "/" + u.GetName()
		gw, err := ParseGatewayPorts(u.GetAnnotations()[AnnotationGatewayPorts])
		if err != nil {
			log.Warn("ignoring a ServiceImport's gateway ports", "service", key, "annotation", AnnotationGatewayPorts, "error", err)
			continue
		}
		ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		for _, raw := range ports {
			p, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			name, _, _ := unstructured.NestedString(p, "name")
			proto, _, _ := unstructured.NestedString(p, "protocol")
			num, _, _ := unstructured.NestedInt64(p, "port")
			if gp, ok := gw[PortKey(name, num, proto)]; ok && num > 0 && num < 65536 {
				out = append(out, ImportPort{Namespace: u.GetNamespace(), Name: u.GetName(), Port: uint32(num), GatewayPort: gp})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GatewayPort < out[j].GatewayPort })
	return out
}

func portsKey(ps []ImportPort) string {
	b := make([]byte, 0, 32*len(ps))
	for _, p := range ps {
		b = append(b, p.Namespace...)
		b = append(b, '/')
		b = append(b, p.Name...)
		b = strconv.AppendUint(append(b, ':'), uint64(p.Port), 10)
		b = strconv.AppendInt(append(b, '='), int64(p.GatewayPort), 10)
		b = append(b, ',')
	}
	return string(b)
}

// LoadKubeConfig loads a client config: the kubeconfig file when given
// (with an optional context), else the pod's in-cluster credentials, else
// the default rules ($KUBECONFIG, ~/.kube/config).
func LoadKubeConfig(path, context string) (*rest.Config, error) {
	if path == "" && context == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}
