package mcs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"

	"github.com/meshfed/meshfed/kube/agent"
	"github.com/meshfed/meshfed/kube/mcsapi"
)

var echoPorts = []corev1.ServicePort{
	{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, AppProtocol: ptr("http")},
	{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP},
}

var echoSlicePorts = []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}, {Name: ptr("grpc"), Port: ptr(int32(9090))}}

// TestScenarios runs the Kubernetes issue's scenarios in order on three
// clusters (three API servers) and one control plane: east and south
// export, west imports; south's agent speaks MCS v1alpha1, the others
// v1beta1; west runs two agent replicas.
func TestScenarios(t *testing.T) {
	w := newWorld(t, "east", "west", "south")
	east, west, south := w.clusters["east"], w.clusters["west"], w.clusters["south"]
	for _, c := range []*cluster{east, west, south} {
		c.namespace(t, "demo")
	}
	w.startAgent("east", nil)
	w1 := w.startAgent("west", func(c *agent.Config) { c.Identity = "west-1" })
	w2 := w.startAgent("west", func(c *agent.Config) { c.Identity = "west-2" })
	w.startAgent("south", func(c *agent.Config) { c.MCSVersion = "v1alpha1"; c.CreateNamespaces = true })

	t.Run("export appears as ServiceImport and derived objects elsewhere", func(t *testing.T) {
		east.service(t, "demo", "echo", corev1.ServiceSpec{Ports: echoPorts})
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1", "z1", "z2"}, 0)
		east.export(t, "demo", "echo", nil)
		east.waitCondition(t, "demo", "echo", "Valid", metav1.ConditionTrue, "Valid", "")
		east.waitCondition(t, "demo", "echo", "Ready", metav1.ConditionTrue, "Exported", "2 port(s), 3 ready endpoint(s)")
		east.waitCondition(t, "demo", "echo", "Conflict", metav1.ConditionFalse, "NoConflicts", "")
		for _, c := range []*cluster{west, south, east} {
			checkEchoImport(t, c, []string{"east"})
		}
		se, err := east.mcs.MulticlusterV1beta1().ServiceExports("demo").Get(ctx(t), "echo", metav1.GetOptions{})
		if err != nil || !slices.Contains(se.Finalizers, mcsapi.Finalizer) {
			t.Fatalf("ServiceExport finalizers = %v (%v), want %s", se.Finalizers, err, mcsapi.Finalizer)
		}
	})

	t.Run("scaling endpoints changes the control plane's counts", func(t *testing.T) {
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1", "z1", "z2", "z2", "z3"}, 0)
		eventually(t, "control plane sees 5 ready endpoints of east", func() error {
			imp := w.controlPlaneImport(t, "demo", "echo")
			if n := readyOf(imp, "east"); n != 5 {
				return fmt.Errorf("east ready = %d", n)
			}
			if z := imp.GetClusters()[0].GetEndpoints(); len(z) != 3 || z[0].GetZone() != "z1" || z[0].GetReady() != 2 || z[2].GetZone() != "z3" {
				return fmt.Errorf("zones = %v", z)
			}
			return nil
		})
		// None ready: importers mark the derived endpoints not ready.
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1", "z1"}, 2)
		eventually(t, "west's derived endpoints not ready", func() error {
			_, _, sl, err := west.imported(t, "demo", "echo")
			if err != nil {
				return err
			}
			if len(sl) != 1 || len(sl[0].Endpoints) != 1 || *sl[0].Endpoints[0].Conditions.Ready {
				return fmt.Errorf("slices = %+v", sl)
			}
			return nil
		})
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1", "z1", "z2"}, 0)
		eventually(t, "control plane sees 3 ready endpoints of east", func() error {
			if n := readyOf(w.controlPlaneImport(t, "demo", "echo"), "east"); n != 3 {
				return fmt.Errorf("east ready = %d", n)
			}
			return nil
		})
	})

	t.Run("a port conflict marks the newer export and keeps the older definition", func(t *testing.T) {
		south.service(t, "demo", "echo", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP, AppProtocol: ptr("http")}}})
		south.endpoints(t, "demo", "echo", []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}}, []string{"s1"}, 0)
		// south's agent and this client speak v1alpha1.
		_, err := south.mcs.MulticlusterV1alpha1().ServiceExports("demo").Create(ctx(t), &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "echo"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "south's v1alpha1 ServiceExport has Conflict=True", func() error {
			se, err := south.mcs.MulticlusterV1alpha1().ServiceExports("demo").Get(ctx(t), "echo", metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range se.Status.Conditions {
				if c.Type == "Conflict" && c.Status == metav1.ConditionTrue && c.Reason == "PortConflict" &&
					strings.Contains(c.Message, `port "http": cluster "south" exports 8080/TCP (http), but the oldest export (cluster "east") defines 80/TCP (http)`) {
					return nil
				}
			}
			return fmt.Errorf("conditions = %+v", se.Status.Conditions)
		})
		east.waitCondition(t, "demo", "echo", "Conflict", metav1.ConditionFalse, "NoConflicts", "")
		checkEchoImport(t, west, []string{"east", "south"})

		// With east at 0 ready and south ready, every derived slice keeps
		// the gateway ready: kube-proxy merges their endpoints, and the
		// gateway picks south.
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1"}, 1)
		eventually(t, "west's slices stay ready while south serves", func() error {
			if n := readyOf(w.controlPlaneImport(t, "demo", "echo"), "east"); n != 0 {
				return fmt.Errorf("east ready = %d", n)
			}
			_, _, sl, err := west.imported(t, "demo", "echo")
			if err != nil {
				return err
			}
			for _, s := range sl {
				if len(s.Endpoints) != 1 || !*s.Endpoints[0].Conditions.Ready {
					return fmt.Errorf("slice %s endpoints %+v", s.Name, s.Endpoints)
				}
			}
			return nil
		})
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1", "z1", "z2"}, 0)
	})

	t.Run("bad input gets clear conditions and leaves other exports alone", func(t *testing.T) {
		east.export(t, "demo", "nosvc", nil)
		east.waitCondition(t, "demo", "nosvc", "Valid", metav1.ConditionFalse, "NoService", "Service demo/nosvc does not exist")
		east.waitCondition(t, "demo", "nosvc", "Ready", metav1.ConditionFalse, "Failed", "")

		east.service(t, "demo", "ext", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"})
		east.export(t, "demo", "ext", nil)
		east.waitCondition(t, "demo", "ext", "Valid", metav1.ConditionFalse, "InvalidServiceType", "ExternalName")

		east.service(t, "demo", "multi", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "a", Port: 1000}, {Name: "b", Port: 2000}}})
		east.export(t, "demo", "multi", map[string]string{mcsapi.AnnotationExportPorts: "a,zzz"})
		east.waitCondition(t, "demo", "multi", "Valid", metav1.ConditionFalse, "InvalidAnnotation", `"zzz" is not a port name or number`)

		east.service(t, "demo", "only-b", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "a", Port: 1000}, {Name: "b", Port: 2000}}})
		east.export(t, "demo", "only-b", map[string]string{mcsapi.AnnotationExportPorts: "2000"})
		east.waitCondition(t, "demo", "only-b", "Ready", metav1.ConditionTrue, "Exported", "1 port(s)")

		east.service(t, "demo", "hl", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "tcp", Port: 5000}}})
		east.export(t, "demo", "hl", nil)
		east.waitCondition(t, "demo", "hl", "Valid", metav1.ConditionTrue, "Valid", "headless")
		eventually(t, "west imports hl as Headless", func() error {
			si, svc, sl, err := west.imported(t, "demo", "hl")
			if err != nil {
				return err
			}
			if si.Spec.Type != mcsv1beta1.Headless || len(si.Spec.IPs) != 0 || svc.Spec.ClusterIP != corev1.ClusterIPNone || len(sl) != 1 {
				return fmt.Errorf("type %s ips %v clusterIP %s slices %d", si.Spec.Type, si.Spec.IPs, svc.Spec.ClusterIP, len(sl))
			}
			return nil
		})
		eventually(t, "west imports only-b with port b only", func() error {
			si, _, _, err := west.imported(t, "demo", "only-b")
			if err != nil {
				return err
			}
			if len(si.Spec.Ports) != 1 || si.Spec.Ports[0].Name != "b" {
				return fmt.Errorf("ports %v", si.Spec.Ports)
			}
			return nil
		})
		for _, name := range []string{"nosvc", "ext", "multi"} {
			if _, err := west.mcs.MulticlusterV1beta1().ServiceImports("demo").Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("west has a ServiceImport for invalid export %s (err %v)", name, err)
			}
		}
		// Fixing the Service fixes the export.
		east.service(t, "demo", "nosvc", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 7000}}})
		east.waitCondition(t, "demo", "nosvc", "Ready", metav1.ConditionTrue, "Exported", "")
		checkEchoImport(t, west, []string{"east", "south"})
	})

	t.Run("an import waits for its namespace unless the agent may create it", func(t *testing.T) {
		east.namespace(t, "shop")
		east.service(t, "shop", "cart", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}})
		east.export(t, "shop", "cart", nil)
		// south runs with CreateNamespaces; west does not.
		eventually(t, "south creates namespace shop and imports cart", func() error {
			_, _, _, err := south.imported(t, "shop", "cart")
			return err
		})
		time.Sleep(time.Second)
		if _, err := west.mcs.MulticlusterV1beta1().ServiceImports("shop").Get(ctx(t), "cart", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("west imported into a namespace it was not allowed to create (err %v)", err)
		}
		west.namespace(t, "shop")
		eventually(t, "west imports cart once shop exists", func() error {
			_, _, _, err := west.imported(t, "shop", "cart")
			return err
		})
		if err := east.mcs.MulticlusterV1beta1().ServiceExports("shop").Delete(ctx(t), "cart", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*cluster{west, south} {
			eventually(t, c.name+" drops cart", func() error {
				if i, s, sl := c.managedCount(t, "shop"); i+s+sl != 0 {
					return fmt.Errorf("managed imports/services/slices = %d/%d/%d", i, s, sl)
				}
				return nil
			})
		}
	})

	t.Run("a standby replica takes over when the leader stops", func(t *testing.T) {
		leader, standby := w1, w2
		if !w1.Leading() {
			leader, standby = w2, w1
		}
		if leader.Leading() == standby.Leading() {
			t.Fatalf("leading: %v and %v; want exactly one leader", w1.Leading(), w2.Leading())
		}
		leader.stop()
		eventually(t, "the standby leads", func() error {
			if !standby.Leading() || !standby.Ready() {
				return fmt.Errorf("standby leading=%v ready=%v", standby.Leading(), standby.Ready())
			}
			return nil
		})
		east.service(t, "demo", "late", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 6000}}})
		east.export(t, "demo", "late", nil)
		eventually(t, "the new leader imports late", func() error {
			_, _, _, err := west.imported(t, "demo", "late")
			return err
		})
		standby.stop()
	})

	t.Run("the agent restarts and converges without duplicates or orphans", func(t *testing.T) {
		// west's agents are down. Damage west and withdraw hl in east.
		if err := west.kube.DiscoveryV1().EndpointSlices("demo").Delete(ctx(t), agent.SliceName("echo", "east", discoveryv1.AddressTypeIPv4), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := west.kube.CoreV1().Services("demo").Delete(ctx(t), agent.DerivedName("late"), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := east.mcs.MulticlusterV1beta1().ServiceExports("demo").Delete(ctx(t), "hl", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the control plane drops hl", func() error {
			if imp := w.controlPlaneImport(t, "demo", "hl"); imp != nil {
				return fmt.Errorf("still imported: %v", imp)
			}
			return nil
		})
		si, _, _, _ := west.imported(t, "demo", "echo")
		portsBefore := si.Annotations[mcsapi.AnnotationGatewayPorts]

		w.startAgent("west", nil)
		// echo (east, south), nosvc, only-b, late: 4 imports, 4 derived
		// Services, 5 EndpointSlices; hl gone.
		eventually(t, "west converges", func() error {
			imports, services, slices := west.managedCount(t, "demo")
			if imports != 4 || services != 4 || slices != 5 {
				return fmt.Errorf("managed imports/services/slices = %d/%d/%d, want 4/4/5", imports, services, slices)
			}
			if _, err := west.mcs.MulticlusterV1beta1().ServiceImports("demo").Get(ctx(t), "hl", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("hl still imported (err %v)", err)
			}
			_, _, _, err := west.imported(t, "demo", "late")
			return err
		})
		checkEchoImport(t, west, []string{"east", "south"})
		si, _, _, _ = west.imported(t, "demo", "echo")
		if got := si.Annotations[mcsapi.AnnotationGatewayPorts]; got != portsBefore {
			t.Errorf("gateway ports changed across the restart: %q, then %q", portsBefore, got)
		}
	})

	// The API server restarts under the agent. (kubetest reports through
	// the top-level test, so this step is not a subtest.)
	east.api.Stop()
	time.Sleep(500 * time.Millisecond) // the agent's watches fail meanwhile
	east.api.Restart()
	t.Run("the agent recovers after its API server restarted", func(t *testing.T) {
		east.endpoints(t, "demo", "echo", echoSlicePorts, []string{"z1", "z1", "z2", "z2"}, 0)
		eventually(t, "control plane sees 4 ready endpoints of east", func() error {
			if n := readyOf(w.controlPlaneImport(t, "demo", "echo"), "east"); n != 4 {
				return fmt.Errorf("east ready = %d", n)
			}
			return nil
		})
	})

	t.Run("an agent whose SVID may not act for its cluster gives up its term", func(t *testing.T) {
		// east's SVID, configured as south: the control plane refuses the
		// watch (PermissionDenied), and Run returns saying so instead of
		// holding a Lease while doing nothing.
		wrong := w.startAgent("east", func(c *agent.Config) { c.Cluster = "south"; c.LeaseName = "wrong-identity" })
		wrong.expectErr = true
		select {
		case <-wrong.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the agent kept running with a refused identity")
		}
		if wrong.runErr == nil || !strings.Contains(wrong.runErr.Error(), "PermissionDenied") {
			t.Fatalf("Run = %v, want the control plane's PermissionDenied", wrong.runErr)
		}
	})

	t.Run("deleting exports cleans everything", func(t *testing.T) {
		for _, name := range []string{"echo", "nosvc", "ext", "multi", "only-b", "late"} {
			if err := east.mcs.MulticlusterV1beta1().ServiceExports("demo").Delete(ctx(t), name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// Deleting the Service (not the ServiceExport) withdraws too.
		if err := south.kube.CoreV1().Services("demo").Delete(ctx(t), "echo", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		south.waitCondition(t, "demo", "echo", "Valid", metav1.ConditionFalse, "NoService", "")
		for _, c := range []*cluster{east, west, south} {
			eventually(t, c.name+" has no imports left", func() error {
				if i, s, sl := c.managedCount(t, "demo"); i+s+sl != 0 {
					return fmt.Errorf("managed imports/services/slices = %d/%d/%d", i, s, sl)
				}
				return nil
			})
		}
		eventually(t, "east's ServiceExports are gone (finalizer removed)", func() error {
			list, err := east.mcs.MulticlusterV1beta1().ServiceExports("demo").List(ctx(t), metav1.ListOptions{})
			if err != nil || len(list.Items) != 0 {
				return fmt.Errorf("%d left (%v)", len(list.Items), err)
			}
			return nil
		})
		resp, err := w.fed.Admin.Admin.ListImports(ctx(t), nil)
		if err != nil || len(resp.GetImports()) != 0 {
			t.Fatalf("control plane imports = %v (%v)", resp.GetImports(), err)
		}
	})
}

// checkEchoImport checks c's ServiceImport demo/echo and derived objects:
// http 80 and grpc 9090 on gateway ports, one slice per exporting cluster.
func checkEchoImport(t *testing.T, c *cluster, from []string) {
	t.Helper()
	eventually(t, c.name+" imports demo/echo from "+strings.Join(from, ","), func() error {
		si, svc, sl, err := c.imported(t, "demo", "echo")
		if err != nil {
			return err
		}
		if si.Spec.Type != mcsv1beta1.ClusterSetIP || len(si.Spec.Ports) != 2 || si.Spec.Ports[0].Name != "http" || si.Spec.Ports[0].Port != 80 ||
			si.Spec.Ports[1].Name != "grpc" || si.Spec.Ports[1].Port != 9090 || si.Spec.Ports[0].AppProtocol == nil || *si.Spec.Ports[0].AppProtocol != "http" {
			return fmt.Errorf("ServiceImport spec = %+v", si.Spec)
		}
		gw := si.Annotations[mcsapi.AnnotationGatewayPorts]
		if gw != "grpc=17001,http=17000" {
			return fmt.Errorf("gateway ports annotation = %q", gw)
		}
		if len(si.Spec.IPs) != 1 || si.Spec.IPs[0] != svc.Spec.ClusterIP {
			return fmt.Errorf("ips %v, derived Service ClusterIP %s", si.Spec.IPs, svc.Spec.ClusterIP)
		}
		if svc.Spec.Ports[0].TargetPort.IntValue() != 17000 || svc.Spec.Ports[1].TargetPort.IntValue() != 17001 || len(svc.Spec.Selector) != 0 {
			return fmt.Errorf("derived Service spec = %+v", svc.Spec)
		}
		if len(svc.OwnerReferences) != 1 || svc.OwnerReferences[0].UID != si.UID {
			return fmt.Errorf("derived Service owners = %v", svc.OwnerReferences)
		}
		var clusters []string
		for _, st := range si.Status.Clusters {
			clusters = append(clusters, st.Cluster)
		}
		if !slices.Equal(clusters, from) {
			return fmt.Errorf("status.clusters = %v", clusters)
		}
		if len(sl) != len(from) {
			return fmt.Errorf("%d EndpointSlices, want one per exporting cluster %v", len(sl), from)
		}
		for i, s := range sl {
			if s.Name != agent.SliceName("echo", from[i], discoveryv1.AddressTypeIPv4) || s.Labels[mcsapi.LabelSourceCluster] != from[i] || s.Labels[discoveryv1.LabelServiceName] != svc.Name ||
				s.Labels[discoveryv1.LabelManagedBy] == "endpointslice-controller.k8s.io" || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID {
				return fmt.Errorf("EndpointSlice %s labels %v owners %v", s.Name, s.Labels, s.OwnerReferences)
			}
			if len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != c.gw || len(s.Ports) != 2 || *s.Ports[0].Port != 17000 || *s.Ports[1].Port != 17001 {
				return fmt.Errorf("EndpointSlice %s endpoints %+v ports %+v", s.Name, s.Endpoints, s.Ports)
			}
		}
		return nil
	})
}
