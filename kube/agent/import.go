package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"

	"github.com/meshfed/meshfed/federation/imports"
	"github.com/meshfed/meshfed/kube/mcsapi"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// DerivedName is the name of the derived Service (and the prefix of the
// EndpointSlices) of the imported service name: "mcs-NAME", shortened
// with a hash when that exceeds a DNS label.
func DerivedName(name string) string { return shorten("mcs-" + name) }

// SliceName is the name of the derived EndpointSlice of service name
// from cluster, for an address family: "mcs-NAME-CLUSTER-HASH", the hash
// of all three keeping names unique where the dashes are ambiguous
// (service api-eu from cluster west and service api from cluster eu-west).
func SliceName(name, cluster string, family discoveryv1.AddressType) string {
	sum := sha256.Sum256([]byte(name + "/" + cluster + "/" + string(family)))
	h := hex.EncodeToString(sum[:])[:6]
	n := "mcs-" + name + "-" + cluster
	if len(n) > 63-7 {
		n = n[:63-7]
	}
	return n + "-" + h
}

// shorten keeps s when it is a valid DNS label length, else cuts it and
// appends a hash of the whole.
func shorten(s string) string {
	if len(s) <= 63 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:52] + "-" + hex.EncodeToString(sum[:])[:10]
}

// portKey names a service port in mcsapi.AnnotationGatewayPorts.
func portKey(p *meshfedv1.ServicePort) string {
	return mcsapi.PortKey(p.GetName(), int64(p.GetPort()), p.GetProtocol())
}

// syncImport makes this cluster's ServiceImport, derived Service and
// EndpointSlices of namespace/name match the clusterset's import.
func (a *Agent) syncImport(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	imp := a.importOf(key)
	if imp == nil || len(imp.GetClusters()) == 0 {
		return a.removeImport(ctx, ns, name)
	}
	if _, err := a.nsLister.Get(ns); apierrors.IsNotFound(err) {
		if !a.cfg.CreateNamespaces {
			a.log.Info("not importing: the namespace does not exist (create it, or run the agent with --create-namespaces)", "service", key)
			return nil
		}
		_, err := a.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{mcsapi.LabelManagedBy: mcsapi.ManagedBy},
		}}, metav1.CreateOptions{FieldManager: mcsapi.ManagedBy})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}

	// The ServiceImport.
	var cur *mcsv1beta1.ServiceImport
	if obj, exists, err := a.imports.GetStore().GetByKey(key); err != nil {
		return err
	} else if exists {
		if cur, err = toImport(obj); err != nil {
			return err
		}
		if !mcsapi.Managed(cur) {
			a.log.Warn("not importing: a ServiceImport of that name exists and is not managed by meshfed", "service", key)
			return nil
		}
	}
	have := mcsapi.GatewayPorts{}
	if cur != nil {
		have, _ = mcsapi.ParseGatewayPorts(cur.Annotations[mcsapi.AnnotationGatewayPorts])
	}
	keys := make([]string, len(imp.GetPorts()))
	for i, p := range imp.GetPorts() {
		keys[i] = portKey(p)
	}
	gwPorts, allocErr := a.ports.assign(key, have, keys)
	if allocErr != nil {
		gwPorts = have // keep what it had; report below
	}
	want := a.desiredImport(imp, cur, gwPorts)
	si, err := a.applyImport(ctx, cur, want)
	if err != nil {
		return err
	}

	// The derived Service, owned by the ServiceImport.
	svc, err := a.applyDerivedService(ctx, si, imp, gwPorts)
	if err != nil {
		return err
	}
	// One EndpointSlice per exporting cluster and address family.
	addrs := a.gatewayAddresses()
	if err := a.applySlices(ctx, svc, imp, gwPorts, addrs); err != nil {
		return err
	}

	// ips and status.
	next := si.DeepCopy()
	if imp.GetType() != imports.TypeHeadless && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		next.Spec.IPs = append([]string(nil), svc.Spec.ClusterIPs...)
	} else {
		next.Spec.IPs = nil
	}
	if !equality.Semantic.DeepEqual(next.Spec.IPs, si.Spec.IPs) {
		if si, err = a.writeImport(ctx, next, false); err != nil {
			return err
		}
		next = si.DeepCopy()
	}
	next.Status.Clusters = nil
	for _, c := range imp.GetClusters() {
		next.Status.Clusters = append(next.Status.Clusters, mcsv1beta1.ClusterStatus{Cluster: c.GetCluster()})
	}
	next.Status.EndpointSliceObjects = "Present"
	ready := metav1.Condition{Type: string(mcsv1beta1.ServiceImportConditionReady), Status: metav1.ConditionTrue,
		Reason: string(mcsv1beta1.ServiceImportReasonReady), Message: fmt.Sprintf("reachable through the local gateway from %d cluster(s)", len(imp.GetClusters()))}
	switch {
	case allocErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, mcsapi.ReasonPortsExhausted, allocErr.Error()
	case len(addrs) == 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, mcsapi.ReasonNoGateway,
			"no ready gateway address: check the gateway pods behind --gateway-service "+a.cfg.GatewayService
	}
	meta.SetStatusCondition(&next.Status.Conditions, ready)
	if !equality.Semantic.DeepEqual(next.Status.Clusters, si.Status.Clusters) || next.Status.EndpointSliceObjects != si.Status.EndpointSliceObjects ||
		!conditionsEqual(next.Status.Conditions, si.Status.Conditions) {
		if _, err := a.writeImport(ctx, next, true); err != nil {
			return err
		}
	}
	return allocErr
}

// desiredImport is the ServiceImport the import should have, starting
// from cur (nil when there is none).
func (a *Agent) desiredImport(imp *meshfedv1.Import, cur *mcsv1beta1.ServiceImport, gwPorts mcsapi.GatewayPorts) *mcsv1beta1.ServiceImport {
	si := &mcsv1beta1.ServiceImport{}
	if cur != nil {
		si = cur.DeepCopy()
	}
	si.Namespace, si.Name = imp.GetNamespace(), imp.GetName()
	if si.Labels == nil {
		si.Labels = map[string]string{}
	}
	si.Labels[mcsapi.LabelManagedBy] = mcsapi.ManagedBy
	if si.Annotations == nil {
		si.Annotations = map[string]string{}
	}
	si.Annotations[mcsapi.AnnotationGatewayPorts] = gwPorts.String()
	si.Spec.Type = mcsv1beta1.ClusterSetIP
	if imp.GetType() == imports.TypeHeadless {
		si.Spec.Type = mcsv1beta1.Headless
	}
	si.Spec.Ports = nil
	for _, p := range imp.GetPorts() {
		sp := mcsv1beta1.ServicePort{Name: p.GetName(), Protocol: corev1.Protocol(p.GetProtocol()), Port: int32(p.GetPort())}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if ap := p.GetAppProtocol(); ap != "" {
			sp.AppProtocol = &ap
		}
		si.Spec.Ports = append(si.Spec.Ports, sp)
	}
	return si
}

// applyImport creates want, or updates it when its spec, labels or
// annotations differ from cur.
func (a *Agent) applyImport(ctx context.Context, cur, want *mcsv1beta1.ServiceImport) (*mcsv1beta1.ServiceImport, error) {
	if cur == nil {
		u, err := toUnstructured(a.res, want, "ServiceImport")
		if err != nil {
			return nil, err
		}
		out, err := a.dyn.Resource(a.res.Imports).Namespace(want.Namespace).Create(ctx, u, metav1.CreateOptions{FieldManager: mcsapi.ManagedBy})
		if err != nil {
			return nil, fmt.Errorf("creating ServiceImport %s/%s: %w", want.Namespace, want.Name, err)
		}
		a.log.Info("created ServiceImport", "service", want.Namespace+"/"+want.Name, "type", want.Spec.Type)
		return toImport(out)
	}
	want.Spec.IPs = cur.Spec.IPs // set after the derived Service exists
	if equality.Semantic.DeepEqual(cur.Spec, want.Spec) && equality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		equality.Semantic.DeepEqual(cur.Annotations, want.Annotations) {
		return cur, nil
	}
	return a.writeImport(ctx, want, false)
}

func (a *Agent) writeImport(ctx context.Context, si *mcsv1beta1.ServiceImport, status bool) (*mcsv1beta1.ServiceImport, error) {
	u, err := toUnstructured(a.res, si, "ServiceImport")
	if err != nil {
		return nil, err
	}
	c := a.dyn.Resource(a.res.Imports).Namespace(si.Namespace)
	opts := metav1.UpdateOptions{FieldManager: mcsapi.ManagedBy}
	if status {
		u, err = c.UpdateStatus(ctx, u, opts)
	} else {
		u, err = c.Update(ctx, u, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("updating ServiceImport %s/%s: %w", si.Namespace, si.Name, err)
	}
	return toImport(u)
}

// applyDerivedService keeps the selector-less Service whose ClusterIP is
// the import's IP and whose target ports are the gateway's.
func (a *Agent) applyDerivedService(ctx context.Context, si *mcsv1beta1.ServiceImport, imp *meshfedv1.Import, gwPorts mcsapi.GatewayPorts) (*corev1.Service, error) {
	name := DerivedName(imp.GetName())
	want := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Namespace: imp.GetNamespace(), Name: name,
		Labels: map[string]string{mcsapi.LabelManagedBy: mcsapi.ManagedBy, mcsapi.LabelServiceName: imp.GetName()},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: a.res.APIVersion(), Kind: "ServiceImport", Name: si.Name, UID: si.UID, Controller: ptr(true),
		}},
	}}
	if imp.GetType() == imports.TypeHeadless {
		want.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range imp.GetPorts() {
		sp := corev1.ServicePort{Name: p.GetName(), Protocol: corev1.Protocol(p.GetProtocol()), Port: int32(p.GetPort())}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if gp, ok := gwPorts[portKey(p)]; ok {
			sp.TargetPort = intstr.FromInt32(int32(gp))
		}
		if ap := p.GetAppProtocol(); ap != "" {
			sp.AppProtocol = &ap
		}
		want.Spec.Ports = append(want.Spec.Ports, sp)
	}
	cur, err := a.services.Services(want.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		out, err := a.kube.CoreV1().Services(want.Namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: mcsapi.ManagedBy})
		if err != nil {
			return nil, fmt.Errorf("creating derived Service %s/%s: %w", want.Namespace, name, err)
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if !mcsapi.Managed(cur) {
		return nil, fmt.Errorf("derived Service %s/%s exists and is not managed by meshfed: rename or delete it", want.Namespace, name)
	}
	headless := cur.Spec.ClusterIP == corev1.ClusterIPNone
	if headless != (imp.GetType() == imports.TypeHeadless) {
		// clusterIP is immutable: replace the Service.
		if err := a.kube.CoreV1().Services(want.Namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		return nil, fmt.Errorf("derived Service %s/%s changes type: recreating it", want.Namespace, name)
	}
	next := cur.DeepCopy()
	next.Labels, next.OwnerReferences = want.Labels, want.OwnerReferences
	next.Spec.Ports = want.Spec.Ports
	if sameService(cur, next) {
		return cur, nil
	}
	out, err := a.kube.CoreV1().Services(want.Namespace).Update(ctx, next, metav1.UpdateOptions{FieldManager: mcsapi.ManagedBy})
	if err != nil {
		return nil, fmt.Errorf("updating derived Service %s/%s: %w", want.Namespace, name, err)
	}
	return out, nil
}

func sameService(a, b *corev1.Service) bool {
	if !equality.Semantic.DeepEqual(a.Labels, b.Labels) || !equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences) || len(a.Spec.Ports) != len(b.Spec.Ports) {
		return false
	}
	for i := range a.Spec.Ports {
		p, q := a.Spec.Ports[i], b.Spec.Ports[i]
		if p.Name != q.Name || p.Protocol != q.Protocol || p.Port != q.Port || p.TargetPort != q.TargetPort || !equality.Semantic.DeepEqual(p.AppProtocol, q.AppProtocol) {
			return false
		}
	}
	return true
}

// gatewayAddresses are the ready local gateway pod IPs, sorted.
func (a *Agent) gatewayAddresses() []string {
	if len(a.cfg.GatewayAddresses) > 0 {
		return a.cfg.GatewayAddresses
	}
	objs, _ := a.sliceIdx.ByIndex(byServiceIndex, a.cfg.GatewayService)
	seen := map[string]bool{}
	var out []string
	for _, obj := range objs {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				if !seen[addr] {
					seen[addr] = true
					out = append(out, addr)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// applySlices keeps one EndpointSlice per exporting cluster and address
// family, owned by the derived Service, and deletes the rest.
func (a *Agent) applySlices(ctx context.Context, svc *corev1.Service, imp *meshfedv1.Import, gwPorts mcsapi.GatewayPorts, addrs []string) error {
	byFamily := map[discoveryv1.AddressType][]string{}
	for _, addr := range addrs {
		fam := discoveryv1.AddressTypeIPv4
		if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
			fam = discoveryv1.AddressTypeIPv6
		}
		byFamily[fam] = append(byFamily[fam], addr)
	}
	if len(byFamily) == 0 {
		byFamily[discoveryv1.AddressTypeIPv4] = nil
	}
	var ports []discoveryv1.EndpointPort
	for _, p := range imp.GetPorts() {
		gp, ok := gwPorts[portKey(p)]
		if !ok {
			continue
		}
		ep := discoveryv1.EndpointPort{Name: ptr(p.GetName()), Port: ptr(int32(gp)), Protocol: ptr(corev1.ProtocolTCP)}
		if ap := p.GetAppProtocol(); ap != "" {
			ep.AppProtocol = &ap
		}
		ports = append(ports, ep)
	}
	// Every slice lists the same gateway endpoints, and kube-proxy merges
	// endpoints by address across slices: their conditions must agree,
	// or a cluster without ready endpoints could hide the gateway. The
	// gateway itself picks a ready cluster per connection.
	ready := false
	for _, c := range imp.GetClusters() {
		ready = ready || c.GetReady() > 0
	}
	keep := map[string]bool{}
	for _, c := range imp.GetClusters() {
		for fam, list := range byFamily {
			name := SliceName(imp.GetName(), c.GetCluster(), fam)
			keep[name] = true
			want := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: svc.Namespace, Name: name,
					Labels: map[string]string{
						mcsapi.LabelManagedBy:        mcsapi.ManagedBy,
						mcsapi.LabelServiceName:      imp.GetName(),
						mcsapi.LabelSourceCluster:    c.GetCluster(),
						discoveryv1.LabelServiceName: svc.Name,
						discoveryv1.LabelManagedBy:   mcsapi.EndpointSliceManagedBy,
					},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: ptr(true)}},
				},
				AddressType: fam,
				Ports:       ports,
			}
			for _, addr := range list {
				want.Endpoints = append(want.Endpoints, discoveryv1.Endpoint{
					Addresses:  []string{addr},
					Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(ready), Terminating: ptr(false)},
				})
			}
			if err := a.applySlice(ctx, want); err != nil {
				return err
			}
		}
	}
	sel := labels.SelectorFromSet(labels.Set{mcsapi.LabelManagedBy: mcsapi.ManagedBy, mcsapi.LabelServiceName: imp.GetName()})
	have, err := a.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return err
	}
	for _, s := range have {
		if !keep[s.Name] {
			if err := a.deleteSlice(ctx, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Agent) applySlice(ctx context.Context, want *discoveryv1.EndpointSlice) error {
	c := a.kube.DiscoveryV1().EndpointSlices(want.Namespace)
	cur, err := a.slices.EndpointSlices(want.Namespace).Get(want.Name)
	if apierrors.IsNotFound(err) {
		_, err := c.Create(ctx, want, metav1.CreateOptions{FieldManager: mcsapi.ManagedBy})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("EndpointSlice %s/%s: created meanwhile; retrying", want.Namespace, want.Name)
		}
		return err
	}
	if err != nil {
		return err
	}
	if !mcsapi.Managed(cur) {
		return fmt.Errorf("EndpointSlice %s/%s exists and is not managed by meshfed: rename or delete it", want.Namespace, want.Name)
	}
	if equality.Semantic.DeepEqual(cur.Labels, want.Labels) && equality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) &&
		equality.Semantic.DeepEqual(cur.Ports, want.Ports) && equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) {
		return nil
	}
	next := cur.DeepCopy()
	next.Labels, next.OwnerReferences, next.Ports, next.Endpoints = want.Labels, want.OwnerReferences, want.Ports, want.Endpoints
	_, err = c.Update(ctx, next, metav1.UpdateOptions{FieldManager: mcsapi.ManagedBy})
	return err
}

func (a *Agent) deleteSlice(ctx context.Context, s *discoveryv1.EndpointSlice) error {
	err := a.kube.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting EndpointSlice %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

// removeImport deletes the import's objects when no cluster exports it.
func (a *Agent) removeImport(ctx context.Context, ns, name string) error {
	key := ns + "/" + name
	sel := labels.SelectorFromSet(labels.Set{mcsapi.LabelManagedBy: mcsapi.ManagedBy, mcsapi.LabelServiceName: name})
	slices, err := a.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return err
	}
	for _, s := range slices {
		if err := a.deleteSlice(ctx, s); err != nil {
			return err
		}
	}
	svcs, err := a.services.Services(ns).List(sel)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		err := a.kube.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting derived Service %s/%s: %w", ns, s.Name, err)
		}
	}
	if obj, exists, err := a.imports.GetStore().GetByKey(key); err == nil && exists {
		si, err := toImport(obj)
		if err == nil && mcsapi.Managed(si) {
			uid := types.UID(si.UID)
			err := a.dyn.Resource(a.res.Imports).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting ServiceImport %s: %w", key, err)
			}
			a.log.Info("removed import: no cluster exports it any more", "service", key)
		}
	}
	a.ports.release(key)
	return nil
}

func ptr[T any](v T) *T { return &v }
