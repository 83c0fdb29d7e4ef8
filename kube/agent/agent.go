package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/kube/mcsapi"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Defaults for Config.
const (
	DefaultLeaseNamespace = "meshfed-system"
	DefaultLeaseName      = "meshfed-agent"
	DefaultLeaseDuration  = 15 * time.Second
	DefaultRenewDeadline  = 10 * time.Second
	DefaultRetryPeriod    = 2 * time.Second
	DefaultResync         = 10 * time.Minute
)

// Config configures an Agent.
type Config struct {
	// Cluster is this cluster's name in the clusterset (required).
	Cluster string
	// Kube is the cluster's API server (required).
	Kube *rest.Config
	// ControlPlane is the control plane's gateway API, called with an
	// SVID spiffe://TD/meshfed/gateway/CLUSTER/NAME (required). More than
	// one client means replicas to try in turn.
	ControlPlane []meshfedv1.GatewayServiceClient

	// LeaseNamespace and LeaseName name the Lease replicas elect a
	// leader with; Identity is this replica's holder identity (default
	// the host name plus a random suffix).
	LeaseNamespace, LeaseName, Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election
	// (defaults 15 s, 10 s, 2 s, as in Kubernetes' own controllers).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// GatewayAddresses are the local gateway's pod IPs, written into
	// derived EndpointSlices. When empty, GatewayService ("namespace/
	// name") names a Service whose ready EndpointSlice addresses are used.
	GatewayAddresses []string
	GatewayService   string
	// ImportPorts is the range of gateway ports for imported service
	// ports (default 17000-17999).
	ImportPorts PortRange
	// CreateNamespaces lets the agent create an imported service's
	// namespace when it does not exist; by default the import waits
	// for the namespace.
	CreateNamespaces bool
	// MCSVersion forces "v1alpha1" or "v1beta1"; empty picks what the
	// CRDs serve (v1beta1 first).
	MCSVersion string
	// Resync is the informers' resync period (default 10 min).
	Resync time.Duration

	Logger *slog.Logger
	// Metrics, if set, registers the agent's metrics.
	Metrics prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.LeaseNamespace == "" {
		c.LeaseNamespace = DefaultLeaseNamespace
	}
	if c.LeaseName == "" {
		c.LeaseName = DefaultLeaseName
	}
	if c.Identity == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Identity = host + "_" + hex.EncodeToString(b[:])
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = DefaultRenewDeadline
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	if c.ImportPorts == (PortRange{}) {
		c.ImportPorts = DefaultImportPorts
	}
	if c.Resync == 0 {
		c.Resync = DefaultResync
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration, naming the bad setting.
func (c *Config) Validate() error {
	if err := schema.ValidateName("agent", "cluster", c.Cluster); err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	if c.Kube == nil {
		return errors.New("agent: no Kubernetes API server configured (--kubeconfig)")
	}
	if len(c.ControlPlane) == 0 {
		return errors.New("agent: no control plane configured (--controlplane-config)")
	}
	if err := c.ImportPorts.Validate(); err != nil {
		return fmt.Errorf("--import-ports: %w", err)
	}
	if c.GatewayService != "" {
		ns, name, ok := strings.Cut(c.GatewayService, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("--gateway-service %q is not NAMESPACE/NAME", c.GatewayService)
		}
	}
	if len(c.GatewayAddresses) == 0 && c.GatewayService == "" {
		return errors.New("agent: say where the gateway is: --gateway-service NAMESPACE/NAME or --gateway-address IP")
	}
	for _, a := range c.GatewayAddresses {
		if ip := net.ParseIP(a); ip == nil {
			return fmt.Errorf("--gateway-address %q is not an IP address", a)
		} else if ip.IsLoopback() || ip.IsUnspecified() {
			return fmt.Errorf("--gateway-address %s: EndpointSlices cannot hold loopback or unspecified addresses; give the gateway pod's IP", a)
		}
	}
	if c.MCSVersion != "" && c.MCSVersion != "v1alpha1" && c.MCSVersion != "v1beta1" {
		return fmt.Errorf("--mcs-version %q is not v1alpha1 or v1beta1", c.MCSVersion)
	}
	if c.LeaseDuration <= c.RenewDeadline || c.RenewDeadline <= c.RetryPeriod {
		return fmt.Errorf("leader election needs lease duration (%s) > renew deadline (%s) > retry period (%s)", c.LeaseDuration, c.RenewDeadline, c.RetryPeriod)
	}
	return nil
}

// Agent runs the export and import controllers of one cluster.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	kube kubernetes.Interface
	dyn  dynamic.Interface
	m    *metrics

	leading atomic.Bool
	synced  atomic.Bool
	// firstState is set once the term's control-plane state arrived.
	firstState atomic.Bool

	// Set per leadership term by lead.
	res       mcsapi.Resources
	exports   cache.SharedIndexInformer
	imports   cache.SharedIndexInformer
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	sliceIdx  cache.Indexer
	nsLister  corelisters.NamespaceLister
	exportQ   workqueue.TypedRateLimitingInterface[string]
	importQ   workqueue.TypedRateLimitingInterface[string]
	ports     *allocator
	published map[string]*meshfedv1.Export // by namespace/name; export worker only

	stateMu sync.Mutex
	state   *client.State
}

// New checks cfg and builds the Kubernetes clients.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg.Kube)
	if err != nil {
		return nil, fmt.Errorf("agent: Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg.Kube)
	if err != nil {
		return nil, fmt.Errorf("agent: Kubernetes client: %w", err)
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("cluster", cfg.Cluster), kube: kube, dyn: dyn, m: newMetrics(cfg.Metrics)}, nil
}

// Leading reports whether this replica holds the Lease.
func (a *Agent) Leading() bool { return a.leading.Load() }

// Ready reports whether the agent can serve: a standby replica always is;
// the leader once its caches are synced and it has the control plane's
// state.
func (a *Agent) Ready() bool { return !a.leading.Load() || a.synced.Load() }

// errLostLease ends a term: the Lease could not be renewed (another
// replica took it, or the API server was unreachable for longer than the
// renew deadline).
var errLostLease = errors.New("agent: lost the leader lease")

// Run campaigns for the Lease and, while leading, runs the controllers.
// A lost Lease ends the term and starts a new campaign with fresh caches.
// Run returns nil when ctx ends, or the error that stopped a term (the
// cluster serves no MCS API, say).
func (a *Agent) Run(ctx context.Context) error {
	for {
		err := a.campaign(ctx)
		if !errors.Is(err, errLostLease) {
			return err
		}
		a.log.Warn("lost the leader lease; campaigning again", "lease", a.cfg.LeaseNamespace+"/"+a.cfg.LeaseName)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.cfg.RetryPeriod):
		}
	}
}

// campaign runs one leader election until ctx ends or the term is lost.
func (a *Agent) campaign(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: a.cfg.LeaseNamespace, Name: a.cfg.LeaseName},
		Client:     a.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: a.cfg.Identity},
	}
	// The elector calls OnStartedLeading on a goroutine of its own; hand
	// the term's context to this one instead, so Run can wait for lead.
	terms := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   a.cfg.LeaseDuration,
		RenewDeadline:   a.cfg.RenewDeadline,
		RetryPeriod:     a.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            a.cfg.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { terms <- ctx },
			OnStoppedLeading: func() {
				a.m.leader.Set(0)
				a.log.Info("stopped leading", "identity", a.cfg.Identity)
			},
			OnNewLeader: func(id string) {
				if id != a.cfg.Identity {
					a.log.Info("another replica leads", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("agent: leader election: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		le.Run(runCtx)
	}()
	var leadErr error
	select {
	case term := <-terms:
		a.leading.Store(true)
		a.m.leader.Set(1)
		a.log.Info("leading", "lease", a.cfg.LeaseNamespace+"/"+a.cfg.LeaseName, "identity", a.cfg.Identity)
		if err := a.lead(term); err != nil && term.Err() == nil {
			// lead failed (no CRDs, say): give the lease up.
			leadErr = err
			cancel()
		}
		a.leading.Store(false)
	case <-done:
	}
	<-done
	switch {
	case leadErr != nil:
		return leadErr
	case ctx.Err() != nil:
		return nil
	}
	return errLostLease
}

// lead runs the controllers until ctx ends (the term is over).
func (a *Agent) lead(term context.Context) error {
	version, err := a.discoverVersion(term)
	if err != nil || term.Err() != nil {
		return err
	}
	a.res = mcsapi.ResourcesFor(version)
	a.log.Info("using the MCS API", "version", a.res.APIVersion())
	a.synced.Store(false)
	a.state = client.NewState()
	a.published = map[string]*meshfedv1.Export{}
	a.firstState.Store(false)
	a.ports = newAllocator(a.cfg.ImportPorts)
	limiter := func() workqueue.TypedRateLimiter[string] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second)
	}
	a.exportQ = workqueue.NewTypedRateLimitingQueueWithConfig(limiter(), workqueue.TypedRateLimitingQueueConfig[string]{Name: "exports"})
	a.importQ = workqueue.NewTypedRateLimitingQueueWithConfig(limiter(), workqueue.TypedRateLimitingQueueConfig[string]{Name: "imports"})

	// ctx ends with the term or when the control-plane watch gives up;
	// everything below is started with it, and the deferred function
	// stops it in order: cancel, queues, workers, informers.
	ctx, cancel := context.WithCancel(term)
	kinf := informers.NewSharedInformerFactory(a.kube, a.cfg.Resync)
	dinf := dynamicinformer.NewDynamicSharedInformerFactory(a.dyn, a.cfg.Resync)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		a.exportQ.ShutDown()
		a.importQ.ShutDown()
		wg.Wait()
		kinf.Shutdown()
		dinf.Shutdown()
	}()
	a.exports = dinf.ForResource(a.res.Exports).Informer()
	a.imports = dinf.ForResource(a.res.Imports).Informer()
	svcInf := kinf.Core().V1().Services()
	sliceInf := kinf.Discovery().V1().EndpointSlices()
	nsInf := kinf.Core().V1().Namespaces()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{byServiceIndex: sliceServiceKey}); err != nil {
		return err
	}
	a.services, a.slices, a.nsLister = svcInf.Lister(), sliceInf.Lister(), nsInf.Lister()
	a.sliceIdx = sliceInf.Informer().GetIndexer()
	a.addHandlers(svcInf.Informer(), sliceInf.Informer(), nsInf.Informer())
	kinf.Start(ctx.Done())
	dinf.Start(ctx.Done())
	for _, s := range []cache.InformerSynced{a.exports.HasSynced, a.imports.HasSynced, svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced, nsInf.Informer().HasSynced} {
		if !cache.WaitForCacheSync(ctx.Done(), s) {
			return nil
		}
	}
	// Ports held by imports from an earlier term stay theirs.
	for _, obj := range a.imports.GetStore().List() {
		si, err := toImport(obj)
		if err != nil || !mcsapi.Managed(si) {
			continue
		}
		if ports, err := mcsapi.ParseGatewayPorts(si.Annotations[mcsapi.AnnotationGatewayPorts]); err == nil {
			a.ports.reserve(si.Namespace+"/"+si.Name, ports)
		}
	}
	for _, key := range a.exports.GetStore().ListKeys() {
		a.exportQ.Add(key)
	}

	firstState := make(chan struct{})
	var once sync.Once
	watchErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := client.Follow(ctx, client.FollowConfig{
			Cluster: a.cfg.Cluster, Clients: a.cfg.ControlPlane, State: a.state, Lock: &a.stateMu,
			OnUpdate: func(resp *meshfedv1.WatchResponse) {
				a.onState(resp)
				once.Do(func() {
					a.firstState.Store(true)
					close(firstState)
				})
			},
			OnError: func(replica int, err error) {
				a.log.Warn("control plane watch failed; retrying", "replica", replica, "error", err)
			},
		})
		if err != nil && ctx.Err() == nil {
			// PermissionDenied (a wrong SVID) or a control plane whose
			// history went backwards: give the term up, with the reason.
			watchErr <- fmt.Errorf("agent: the control plane's watch stopped: %w", err)
			cancel()
		}
	}()
	run := func(q workqueue.TypedRateLimitingInterface[string], name string, sync func(context.Context, string) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a.process(ctx, q, name, sync) {
			}
		}()
	}
	run(a.exportQ, "export", a.syncExport)
	// Imports wait for the control plane's state: with none, every import
	// would look withdrawn.
	select {
	case <-firstState:
		for _, obj := range a.imports.GetStore().List() {
			if si, err := toImport(obj); err == nil && mcsapi.Managed(si) {
				a.importQ.Add(si.Namespace + "/" + si.Name)
			}
		}
		run(a.importQ, "import", a.syncImport)
		a.synced.Store(true)
		<-ctx.Done()
	case <-ctx.Done():
	}
	a.synced.Store(false)
	select {
	case err := <-watchErr:
		return err
	default:
		return nil
	}
}

// discoverVersion finds the MCS API version the CRDs serve, retrying
// while the API server cannot answer (a term often starts right after an
// outage); it fails at once when the API is simply not served.
func (a *Agent) discoverVersion(ctx context.Context) (string, error) {
	wait := 500 * time.Millisecond
	for {
		version, err := mcsapi.DiscoverVersion(a.kube.Discovery(), a.cfg.MCSVersion)
		if err == nil || errors.Is(err, mcsapi.ErrNotServed) {
			return version, err
		}
		a.log.Warn("cannot ask the API server which MCS API versions it serves; retrying", "error", err)
		select {
		case <-ctx.Done():
			return "", nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// process handles one key; it returns false once the queue shuts down.
func (a *Agent) process(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], name string, sync func(context.Context, string) error) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	err := sync(ctx, key)
	switch {
	case err == nil:
		q.Forget(key)
		a.m.reconciles.WithLabelValues(name, "ok").Inc()
	case ctx.Err() != nil:
	case apierrors.IsConflict(err):
		// Another writer changed the object since the cache saw it: the
		// watch brings the new version; try again with it.
		a.m.reconciles.WithLabelValues(name, "conflict").Inc()
		a.log.Debug("reconcile raced another writer; retrying", "controller", name, "key", key)
		q.AddRateLimited(key)
	default:
		a.m.reconciles.WithLabelValues(name, "error").Inc()
		a.log.Warn("reconcile failed; retrying", "controller", name, "key", key, "retries", q.NumRequeues(key), "error", err)
		q.AddRateLimited(key)
	}
	return true
}

// onState runs after each watch response is applied: it queues the
// services whose import changed. A full snapshot (the first, or after
// the control plane lost its history) queues everything and forgets what
// was published, so exports are written again.
func (a *Agent) onState(resp *meshfedv1.WatchResponse) {
	if resp.GetSnapshot() != nil {
		a.exportQ.Add(resetKey)
		a.stateMu.Lock()
		keys := make([]string, 0, len(a.state.Imports))
		for k := range a.state.Imports {
			keys = append(keys, k)
		}
		a.stateMu.Unlock()
		for _, k := range keys {
			a.importQ.Add(k)
			a.exportQ.Add(k)
		}
		for _, key := range a.exports.GetStore().ListKeys() {
			a.exportQ.Add(key)
		}
		return
	}
	for _, c := range resp.GetChanges() {
		switch c.GetKind() {
		case meshfedv1.Change_KIND_IMPORT:
			a.importQ.Add(c.GetKey())
			a.exportQ.Add(c.GetKey())
		case meshfedv1.Change_KIND_CLUSTER:
			// A cluster removed from the clusterset takes its exports
			// (this cluster's too, if it is added back: re-publish).
			a.enqueueAllImports()
			for _, key := range a.exports.GetStore().ListKeys() {
				a.exportQ.Add(key)
			}
		}
	}
}

// resetKey, on the export queue, clears the published cache.
const resetKey = "\x00reset"

// importOf returns the clusterset import of namespace/name, if any.
func (a *Agent) importOf(key string) *meshfedv1.Import {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	return a.state.Imports[key]
}

func (a *Agent) enqueueAllImports() {
	a.stateMu.Lock()
	for k := range a.state.Imports {
		a.importQ.Add(k)
	}
	a.stateMu.Unlock()
	for _, obj := range a.imports.GetStore().List() {
		if si, err := toImport(obj); err == nil && mcsapi.Managed(si) {
			a.importQ.Add(si.Namespace + "/" + si.Name)
		}
	}
}

const byServiceIndex = "byService"

// sliceServiceKey indexes EndpointSlices by the namespace/name of the
// Service they belong to.
func sliceServiceKey(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
		return []string{s.Namespace + "/" + name}, nil
	}
	return nil, nil
}

func (a *Agent) addHandlers(svcs, slices, nss cache.SharedIndexInformer) {
	handler := func(f func(obj any)) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    f,
			UpdateFunc: func(_, obj any) { f(obj) },
			DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				f(obj)
			},
		}
	}
	mustAdd := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			a.log.Error("adding an event handler", "error", err)
		}
	}
	exportKey := func(obj any) {
		if m, ok := obj.(metav1.Object); ok {
			a.exportQ.Add(m.GetNamespace() + "/" + m.GetName())
		}
	}
	exports := handler(exportKey)
	exports.UpdateFunc = func(old, obj any) {
		// The agent's own status writes come back as updates: only what
		// the agent reads (annotations, finalizers, deletion) matters.
		// A resync (same resourceVersion) still reconciles.
		o, ok1 := old.(metav1.Object)
		n, ok2 := obj.(metav1.Object)
		if ok1 && ok2 && o.GetResourceVersion() != n.GetResourceVersion() && o.GetGeneration() == n.GetGeneration() && equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) &&
			equality.Semantic.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) && (o.GetDeletionTimestamp() == nil) == (n.GetDeletionTimestamp() == nil) {
			return
		}
		exportKey(obj)
	}
	mustAdd(a.exports, exports)
	mustAdd(a.imports, handler(func(obj any) {
		if m, ok := obj.(metav1.Object); ok && mcsapi.Managed(m) {
			a.importQ.Add(m.GetNamespace() + "/" + m.GetName())
		}
	}))
	mustAdd(svcs, handler(func(obj any) {
		s, ok := obj.(*corev1.Service)
		if !ok {
			return
		}
		if mcsapi.Managed(s) {
			if name := s.Labels[mcsapi.LabelServiceName]; name != "" {
				a.importQ.Add(s.Namespace + "/" + name)
			}
			return
		}
		a.exportQ.Add(s.Namespace + "/" + s.Name)
	}))
	mustAdd(slices, handler(func(obj any) {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		if mcsapi.Managed(s) {
			if name := s.Labels[mcsapi.LabelServiceName]; name != "" {
				a.importQ.Add(s.Namespace + "/" + name)
			}
			return
		}
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			return
		}
		if s.Namespace+"/"+svc == a.cfg.GatewayService && len(a.cfg.GatewayAddresses) == 0 {
			a.enqueueAllImports()
		}
		a.exportQ.Add(s.Namespace + "/" + svc)
	}))
	mustAdd(nss, cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return
		}
		a.stateMu.Lock()
		for k, imp := range a.state.Imports {
			if imp.GetNamespace() == ns.Name {
				a.importQ.Add(k)
			}
		}
		a.stateMu.Unlock()
	}})
}

func splitKey(key string) (namespace, name string) {
	namespace, name, _ = strings.Cut(key, "/")
	return namespace, name
}
