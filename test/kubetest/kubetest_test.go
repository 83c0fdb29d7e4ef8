package kubetest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcs "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshfed/meshfed/internal/etcdtest"
	"github.com/meshfed/meshfed/test/kubetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoreGoroutines()...)
}

// TestTwoClusters starts two API servers, exports a Service in one, reads
// the export through both MCS API versions, and restarts the API server
// under a client that was built before the restart.
func TestTwoClusters(t *testing.T) {
	// 1. Start two independent clusters.
	kubetest.Binary(t) // the first run builds it: not part of the start time
	start := time.Now()
	clusters := kubetest.Start(t, 2)
	t.Logf("started %d API servers in %s", len(clusters), time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	east, west := clusters[0], clusters[1]
	kube := newKube(t, east.Config())
	exports := newMCS(t, east.Config())

	// 2. Export a Service in east through the v1alpha1 API.
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
		}},
	}
	if _, err := kube.CoreV1().Services("shop").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	export := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop"}}
	if _, err := exports.MulticlusterV1alpha1().ServiceExports("shop").Create(ctx, export, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create v1alpha1 ServiceExport: %v", err)
	}

	// 3. Read it back through v1alpha1 and v1beta1, the storage version.
	readExport := func(step string) {
		t.Helper()
		a, err := exports.MulticlusterV1alpha1().ServiceExports("shop").Get(ctx, "cart", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: get v1alpha1 ServiceExport: %v", step, err)
		}
		b, err := exports.MulticlusterV1beta1().ServiceExports("shop").Get(ctx, "cart", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: get v1beta1 ServiceExport: %v", step, err)
		}
		if a.UID != b.UID || a.UID == "" {
			t.Fatalf("%s: v1alpha1 UID %q, v1beta1 UID %q; want the same object", step, a.UID, b.UID)
		}
	}
	readExport("before restart")

	// 4. The other cluster is independent and does not see it.
	if _, err := newMCS(t, west.Config()).MulticlusterV1beta1().ServiceExports("shop").Get(ctx, "cart", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("west: get ServiceExport: got %v, want NotFound", err)
	}

	// 5. The kubeconfig file reaches the same API server.
	fromFile, err := clientcmd.BuildConfigFromFlags("", east.Kubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	if _, err := newKube(t, fromFile).CoreV1().Services("shop").Get(ctx, "cart", metav1.GetOptions{}); err != nil {
		t.Fatalf("get service through kubeconfig: %v", err)
	}

	// 6. Restart east's API server; the clients made before keep working.
	east.Stop()
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); err == nil {
		t.Fatal("get namespace with the API server stopped: no error")
	}
	start = time.Now()
	east.Restart()
	t.Logf("restarted %s in %s", east.Name(), time.Since(start).Round(time.Millisecond))
	readExport("after restart")
	if _, err := kube.CoreV1().Services("shop").Get(ctx, "cart", metav1.GetOptions{}); err != nil {
		t.Fatalf("after restart: get service: %v", err)
	}
}

func newKube(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func newMCS(t *testing.T, cfg *rest.Config) *mcs.Clientset {
	t.Helper()
	cs, err := mcs.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
