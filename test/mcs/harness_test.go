package mcs_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
	mcs "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
	"github.com/meshfed/meshfed/internal/etcdtest"
	"github.com/meshfed/meshfed/kube/agent"
	"github.com/meshfed/meshfed/kube/mcsapi"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/test/kubetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// world is a control plane and n clusters, each a real API server.
type world struct {
	t        *testing.T
	fed      *gatewaytest.Federation
	clusters map[string]*cluster
}

type cluster struct {
	name string
	api  *kubetest.Cluster
	kube kubernetes.Interface
	mcs  mcs.Interface
	gw   string // the gateway address written into derived slices (TEST-NET-1: the API server refuses loopback)
}

func newWorld(t *testing.T, names ...string) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiservers; skipped with -short")
	}
	kubetest.Binary(t)
	apis := kubetest.Start(t, len(names))
	w := &world{t: t, clusters: map[string]*cluster{}}
	var specs []gatewaytest.ClusterSpec
	for _, n := range names {
		specs = append(specs, gatewaytest.ClusterSpec{Name: n})
	}
	w.fed = gatewaytest.New(t, specs...)
	for i, n := range names {
		c := &cluster{name: n, api: apis[i], gw: fmt.Sprintf("192.0.2.%d", 10+i)}
		var err error
		if c.kube, err = kubernetes.NewForConfig(apis[i].Config()); err != nil {
			t.Fatal(err)
		}
		if c.mcs, err = mcs.NewForConfig(apis[i].Config()); err != nil {
			t.Fatal(err)
		}
		w.clusters[n] = c
		c.namespace(t, "meshfed-system")
	}
	return w
}

func (c *cluster) namespace(t *testing.T, ns string) {
	t.Helper()
	_, err := c.kube.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// runningAgent is an agent started by startAgent.
type runningAgent struct {
	*agent.Agent
	stop func()
	// done is closed when Run returned, with its result in runErr.
	done   chan struct{}
	runErr error
	// expectErr makes stop accept an error from Run.
	expectErr bool
}

// startAgent runs an agent for cluster name, calling the control plane
// with the SVID spiffe://NAME.test/meshfed/gateway/NAME/agent.
func (w *world) startAgent(name string, mod func(*agent.Config)) *runningAgent {
	t := w.t
	t.Helper()
	c := w.clusters[name]
	fc := w.fed.Clusters[name]
	id := spiffeid.RequireFromPath(fc.TD, "/meshfed/gateway/"+name+"/agent")
	certPath, keyPath := fc.IssueSVID(t, "agent", id, time.Hour)
	svid, err := x509svid.Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	serverID := spiffeid.RequireFromString(w.fed.CP.Config.ServerID)
	bundle, err := x509bundle.Load(serverID.TrustDomain(), w.fed.CP.Config.CA)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.DialTLS(w.fed.CP.CP.Addr(), tlsconfig.MTLSClientConfig(svid, bundle, tlsconfig.AuthorizeID(serverID)))
	if err != nil {
		t.Fatal(err)
	}
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("agent", name)
	}
	cfg := agent.Config{
		Cluster: name, Kube: c.api.Config(), ControlPlane: []meshfedv1.GatewayServiceClient{conn.Gateway},
		GatewayAddresses: []string{c.gw}, Logger: log,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{Agent: a, done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		ra.runErr = a.Run(runCtx)
	}()
	var stopped bool
	ra.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-ra.done:
			if ra.runErr != nil && !ra.expectErr {
				t.Errorf("agent %s: %v", name, ra.runErr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("agent %s did not stop within 30s", name)
		}
		conn.Close()
	}
	t.Cleanup(ra.stop)
	return ra
}

// eventually polls f every 50 ms for up to 30 s until it returns nil.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// service creates a Service with the given ports ("name:port") and, unless
// headless or ExternalName, an EndpointSlice with ready endpoints in
// zones.
func (c *cluster) service(t *testing.T, ns, name string, spec corev1.ServiceSpec) {
	t.Helper()
	_, err := c.kube.CoreV1().Services(ns).Create(ctx(t), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// endpoints writes the Service's EndpointSlice NAME-1 with one endpoint per
// zone entry (ready unless listed in notReady).
func (c *cluster) endpoints(t *testing.T, ns, name string, ports []discoveryv1.EndpointPort, zones []string, notReady int) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	for i, z := range zones {
		ready := i >= notReady
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.1.0.%d", i+1)},
			Zone:       ptr(z),
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		})
	}
	cur, err := c.kube.DiscoveryV1().EndpointSlices(ns).Get(ctx(t), s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.kube.DiscoveryV1().EndpointSlices(ns).Create(ctx(t), s, metav1.CreateOptions{})
	} else if err == nil {
		s.ResourceVersion = cur.ResourceVersion
		_, err = c.kube.DiscoveryV1().EndpointSlices(ns).Update(ctx(t), s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) export(t *testing.T, ns, name string, annotations map[string]string) {
	t.Helper()
	se := &mcsv1beta1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations}}
	if _, err := c.mcs.MulticlusterV1beta1().ServiceExports(ns).Create(ctx(t), se, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// condition returns the ServiceExport's condition of type typ.
func (c *cluster) condition(t *testing.T, ns, name, typ string) (*metav1.Condition, error) {
	se, err := c.mcs.MulticlusterV1beta1().ServiceExports(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cond := meta.FindStatusCondition(se.Status.Conditions, typ)
	if cond == nil {
		return nil, fmt.Errorf("ServiceExport %s/%s has no %s condition yet (has %v)", ns, name, typ, se.Status.Conditions)
	}
	return cond, nil
}

// waitCondition waits for the ServiceExport's condition to have status and
// reason, and a message containing msg.
func (c *cluster) waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason, msg string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, fmt.Sprintf("%s: ServiceExport %s/%s condition %s=%s %s", c.name, ns, name, typ, status, reason), func() error {
		cond, err := c.condition(t, ns, name, typ)
		if err != nil {
			return err
		}
		if cond.Status != status || cond.Reason != reason || !strings.Contains(cond.Message, msg) {
			return fmt.Errorf("have %s %s %q", cond.Status, cond.Reason, cond.Message)
		}
		got = cond
		return nil
	})
	return got
}

// imported returns the cluster's managed objects of namespace/name: the
// ServiceImport, the derived Service and the EndpointSlices.
func (c *cluster) imported(t *testing.T, ns, name string) (*mcsv1beta1.ServiceImport, *corev1.Service, []discoveryv1.EndpointSlice, error) {
	si, err := c.mcs.MulticlusterV1beta1().ServiceImports(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := c.kube.CoreV1().Services(ns).Get(ctx(t), agent.DerivedName(name), metav1.GetOptions{})
	if err != nil {
		return si, nil, nil, err
	}
	list, err := c.kube.DiscoveryV1().EndpointSlices(ns).List(ctx(t), metav1.ListOptions{LabelSelector: mcsapi.LabelServiceName + "=" + name})
	if err != nil {
		return si, svc, nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return si, svc, list.Items, nil
}

// managedCount counts the agent's ServiceImports, Services and
// EndpointSlices in ns.
func (c *cluster) managedCount(t *testing.T, ns string) (imports, services, slices int) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: mcsapi.LabelManagedBy + "=" + mcsapi.ManagedBy}
	si, err := c.mcs.MulticlusterV1beta1().ServiceImports(ns).List(ctx(t), sel)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := c.kube.CoreV1().Services(ns).List(ctx(t), sel)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := c.kube.DiscoveryV1().EndpointSlices(ns).List(ctx(t), sel)
	if err != nil {
		t.Fatal(err)
	}
	return len(si.Items), len(svcs.Items), len(sl.Items)
}

// controlPlaneImport reads the clusterset import of ns/name through the
// admin API.
func (w *world) controlPlaneImport(t *testing.T, ns, name string) *meshfedv1.Import {
	resp, err := w.fed.Admin.Admin.ListImports(ctx(t), &meshfedv1.ListImportsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range resp.GetImports() {
		if imp.GetNamespace() == ns && imp.GetName() == name {
			return imp
		}
	}
	return nil
}

func readyOf(imp *meshfedv1.Import, cluster string) int {
	for _, c := range imp.GetClusters() {
		if c.GetCluster() == cluster {
			return int(c.GetReady())
		}
	}
	return -1
}

func ptr[T any](v T) *T { return &v }
