package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"

	"github.com/meshfed/meshfed/federation/imports"
	"github.com/meshfed/meshfed/kube/mcsapi"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Condition types and reasons on ServiceExports (MCS API).
const (
	condValid    = string(mcsv1beta1.ServiceExportConditionValid)
	condReady    = string(mcsv1beta1.ServiceExportConditionReady)
	condConflict = string(mcsv1beta1.ServiceExportConditionConflict)
)

// invalid says why a ServiceExport cannot be exported.
type invalid struct{ reason, message string }

// syncExport reconciles the ServiceExport namespace/name with the
// control plane.
func (a *Agent) syncExport(ctx context.Context, key string) error {
	if key == resetKey {
		// A new snapshot: the control plane may have lost what was
		// published (a restore, a cluster removed and added again).
		a.published = map[string]*meshfedv1.Export{}
		a.m.exports.Set(0)
		for _, k := range a.exports.GetStore().ListKeys() {
			a.exportQ.Add(k)
		}
		return nil
	}
	ns, name := splitKey(key)
	obj, exists, err := a.exports.GetStore().GetByKey(key)
	if err != nil {
		return err
	}
	if !exists {
		// Deleted without our finalizer (it was never added, or was
		// removed by hand): withdraw what this agent published.
		if _, ok := a.published[key]; ok {
			return a.withdraw(ctx, ns, name)
		}
		return nil
	}
	se, err := toExport(obj)
	if err != nil {
		return fmt.Errorf("ServiceExport %s: %w", key, err)
	}
	if se.DeletionTimestamp != nil {
		if !slices.Contains(se.Finalizers, mcsapi.Finalizer) {
			return nil
		}
		if err := a.withdraw(ctx, ns, name); err != nil {
			return err
		}
		se.Finalizers = slices.DeleteFunc(se.Finalizers, func(f string) bool { return f == mcsapi.Finalizer })
		return a.updateExport(ctx, se)
	}
	if !slices.Contains(se.Finalizers, mcsapi.Finalizer) {
		se.Finalizers = append(se.Finalizers, mcsapi.Finalizer)
		// The update's event brings the object back to this queue.
		return a.updateExport(ctx, se)
	}

	status := se.Status.DeepCopy()
	exp, bad := a.buildExport(se)
	if bad != nil {
		// Say why first: the withdrawal may wait for the control plane.
		setCond(&status.Conditions, se, condValid, metav1.ConditionFalse, bad.reason, bad.message)
		setCond(&status.Conditions, se, condReady, metav1.ConditionFalse, string(mcsv1beta1.ServiceExportReasonFailed), "not exported: the ServiceExport is not valid (see the Valid condition)")
		meta.RemoveStatusCondition(&status.Conditions, condConflict)
		if err := a.updateExportStatus(ctx, se, status); err != nil {
			return err
		}
		return a.withdraw(ctx, ns, name)
	}
	setCond(&status.Conditions, se, condValid, metav1.ConditionTrue, string(mcsv1beta1.ServiceExportReasonValid), exp.note)
	if err := a.publish(ctx, exp.Export); err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			setCond(&status.Conditions, se, condReady, metav1.ConditionFalse, string(mcsv1beta1.ServiceExportReasonFailed), "the control plane refused the export: "+refused.msg)
			return a.updateExportStatus(ctx, se, status)
		}
		// The gRPC code, not the whole error: a message that changes with
		// every attempt would rewrite the status (and requeue) each time.
		setCond(&status.Conditions, se, condReady, metav1.ConditionUnknown, string(mcsv1beta1.ServiceExportReasonPending),
			"publishing to the control plane failed ("+grpcstatus.Code(err).String()+"); retrying with back-off (the agent's log has the error)")
		if uerr := a.updateExportStatus(ctx, se, status); uerr != nil {
			a.log.Warn("updating ServiceExport status", "key", key, "error", uerr)
		}
		return err
	}
	ready := uint32(0)
	for _, z := range exp.GetEndpoints() {
		ready += z.GetReady()
	}
	setCond(&status.Conditions, se, condReady, metav1.ConditionTrue, string(mcsv1beta1.ServiceExportReasonExported),
		fmt.Sprintf("exported to the clusterset: %d port(s), %d ready endpoint(s)", len(exp.GetPorts()), ready))
	a.setConflict(se, status, key)
	return a.updateExportStatus(ctx, se, status)
}

// setConflict copies this cluster's Conflict condition from the
// clusterset's import, once the control plane has derived it.
func (a *Agent) setConflict(se *mcsv1beta1.ServiceExport, status *mcsv1beta1.ServiceExportStatus, key string) {
	imp := a.importOf(key)
	for _, c := range imp.GetClusters() {
		if c.GetCluster() != a.cfg.Cluster {
			continue
		}
		for _, cond := range c.GetConditions() {
			if cond.GetType() == imports.ConditionConflict && cond.GetStatus() == "True" {
				setCond(&status.Conditions, se, condConflict, metav1.ConditionTrue, cond.GetReason(),
					cond.GetMessage()+"; the oldest export's definition is used until this one matches it")
				return
			}
		}
		setCond(&status.Conditions, se, condConflict, metav1.ConditionFalse, string(mcsv1beta1.ServiceExportReasonNoConflicts), "no conflicts with other clusters' exports")
		return
	}
}

func setCond(conds *[]metav1.Condition, se *mcsv1beta1.ServiceExport, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: se.Generation})
}

// builtExport is an export and a note for the Valid condition.
type builtExport struct {
	*meshfedv1.Export
	note string
}

// buildExport turns a ServiceExport, its Service and EndpointSlices into
// an export, or says why it is not valid.
func (a *Agent) buildExport(se *mcsv1beta1.ServiceExport) (*builtExport, *invalid) {
	svc, err := a.services.Services(se.Namespace).Get(se.Name)
	if apierrors.IsNotFound(err) || (err == nil && svc.DeletionTimestamp != nil) {
		return nil, &invalid{string(mcsv1beta1.ServiceExportReasonNoService),
			fmt.Sprintf("Service %s/%s does not exist: create it, or delete this ServiceExport", se.Namespace, se.Name)}
	}
	if err != nil {
		return nil, &invalid{string(mcsv1beta1.ServiceExportReasonNoService), err.Error()}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, &invalid{string(mcsv1beta1.ServiceExportReasonInvalidServiceType),
			fmt.Sprintf("Service %s/%s is of type ExternalName, which the MCS API does not export; export a Service with endpoints instead", se.Namespace, se.Name)}
	}
	want, bad := exportPortFilter(se, svc)
	if bad != nil {
		return nil, bad
	}
	e := &meshfedv1.Export{Cluster: a.cfg.Cluster, Namespace: se.Namespace, Name: se.Name, Type: imports.TypeClusterSetIP}
	var notes []string
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		e.Type = imports.TypeHeadless
		notes = append(notes, "headless: other clusters reach it through their gateway's address, not per-pod addresses")
	}
	for _, p := range svc.Spec.Ports {
		if want != nil && !want[p.Name] && !want[strconv.Itoa(int(p.Port))] {
			continue
		}
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		if proto != "TCP" {
			notes = append(notes, fmt.Sprintf("port %s (%d/%s) is not exported: meshfed gateways carry TCP only", portLabel(p), p.Port, proto))
			continue
		}
		sp := &meshfedv1.ServicePort{Name: p.Name, Port: uint32(p.Port), Protocol: proto}
		if p.AppProtocol != nil {
			sp.AppProtocol = *p.AppProtocol
		}
		e.Ports = append(e.Ports, sp)
	}
	if len(e.Ports) == 0 {
		return nil, &invalid{string(mcsv1beta1.ServiceExportReasonInvalidServiceType),
			fmt.Sprintf("Service %s/%s has no TCP port to export (%s)", se.Namespace, se.Name, strings.Join(notes, "; "))}
	}
	e.Endpoints = a.readyByZone(se.Namespace, se.Name)
	note := "the Service can be exported"
	if len(notes) > 0 {
		note += "; " + strings.Join(notes, "; ")
	}
	return &builtExport{Export: e, note: note}, nil
}

func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return strconv.Quote(p.Name)
	}
	return strconv.Itoa(int(p.Port))
}

// exportPortFilter reads mcsapi.AnnotationExportPorts: nil means every port.
func exportPortFilter(se *mcsv1beta1.ServiceExport, svc *corev1.Service) (map[string]bool, *invalid) {
	raw, ok := se.Annotations[mcsapi.AnnotationExportPorts]
	if !ok {
		return nil, nil
	}
	have := map[string]bool{}
	var names []string
	for _, p := range svc.Spec.Ports {
		num := strconv.Itoa(int(p.Port))
		have[num] = true
		if p.Name != "" {
			have[p.Name] = true
			names = append(names, p.Name+" ("+num+")")
		} else {
			names = append(names, num)
		}
	}
	want := map[string]bool{}
	for _, tok := range strings.Split(raw, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" || !have[tok] {
			return nil, &invalid{mcsapi.ReasonInvalidAnnotation,
				fmt.Sprintf("annotation %s=%q: %q is not a port name or number of Service %s/%s (it has %s); list ports separated by commas",
					mcsapi.AnnotationExportPorts, raw, tok, svc.Namespace, svc.Name, strings.Join(names, ", "))}
		}
		want[tok] = true
	}
	return want, nil
}

// readyByZone counts the Service's ready endpoints per topology zone
// across its EndpointSlices, each pod once (dual-stack Services list it
// in two slices).
func (a *Agent) readyByZone(ns, name string) []*meshfedv1.ZoneEndpoints {
	objs, _ := a.sliceIdx.ByIndex(byServiceIndex, ns+"/"+name)
	seen := map[string]bool{}
	zones := map[string]uint32{}
	for _, obj := range objs {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || mcsapi.Managed(s) {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			id := endpointID(s, ep)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			zone := ""
			if ep.Zone != nil {
				zone = *ep.Zone
			}
			zones[zone]++
		}
	}
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	sort.Strings(names)
	out := make([]*meshfedv1.ZoneEndpoints, 0, len(names))
	for _, z := range names {
		out = append(out, &meshfedv1.ZoneEndpoints{Zone: z, Ready: zones[z]})
	}
	return out
}

func endpointID(s *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return string(ep.TargetRef.UID)
	}
	if len(ep.Addresses) > 0 {
		return string(s.AddressType) + "/" + ep.Addresses[0]
	}
	return ""
}

// callTimeout bounds each call to the control plane.
const callTimeout = 10 * time.Second

// refusedError is a control plane's refusal of one export (validation).
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// publish upserts e unless it is what was last published.
func (a *Agent) publish(ctx context.Context, e *meshfedv1.Export) error {
	key := e.GetNamespace() + "/" + e.GetName()
	if prev, ok := a.published[key]; ok && proto.Equal(prev, e) && a.stillPublished(key) {
		return nil
	}
	results, err := a.call(ctx, &meshfedv1.PublishExportsRequest{Cluster: a.cfg.Cluster, Upserts: []*meshfedv1.Export{e}})
	if err != nil {
		return err
	}
	if r := results[0]; !r.GetOk() {
		delete(a.published, key)
		return &refusedError{r.GetError()}
	}
	a.published[key] = e
	a.m.exports.Set(float64(len(a.published)))
	a.log.Info("published export", "service", key, "ports", len(e.GetPorts()))
	return nil
}

// stillPublished reports whether the control plane's state (once it has
// arrived) still lists this cluster's export of key; if not, the cached
// publication is stale and the export is sent again.
func (a *Agent) stillPublished(key string) bool {
	if !a.firstState.Load() {
		return true
	}
	for _, c := range a.importOf(key).GetClusters() {
		if c.GetCluster() == a.cfg.Cluster {
			return true
		}
	}
	return false
}

// withdraw removes this cluster's export of namespace/name.
func (a *Agent) withdraw(ctx context.Context, ns, name string) error {
	key := ns + "/" + name
	if _, err := a.call(ctx, &meshfedv1.PublishExportsRequest{Cluster: a.cfg.Cluster, Withdrawals: []string{key}}); err != nil {
		return err
	}
	if _, ok := a.published[key]; ok {
		a.log.Info("withdrew export", "service", key)
	}
	delete(a.published, key)
	a.m.exports.Set(float64(len(a.published)))
	return nil
}

// call sends one PublishExports to the first control-plane replica that
// answers.
func (a *Agent) call(ctx context.Context, req *meshfedv1.PublishExportsRequest) ([]*meshfedv1.PublishResult, error) {
	var last error
	for _, c := range a.cfg.ControlPlane {
		// A deadline per call: one export worker must not hang on a
		// half-open connection.
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.PublishExports(cctx, req)
		cancel()
		if err == nil {
			if n := len(resp.GetResults()); n != len(req.GetUpserts())+len(req.GetWithdrawals()) {
				return nil, fmt.Errorf("control plane answered %d results for %d items", n, len(req.GetUpserts())+len(req.GetWithdrawals()))
			}
			return resp.GetResults(), nil
		}
		last = err
	}
	return nil, fmt.Errorf("publishing exports: %w", last)
}

// updateExport writes the ServiceExport (finalizers).
func (a *Agent) updateExport(ctx context.Context, se *mcsv1beta1.ServiceExport) error {
	u, err := toUnstructured(a.res, se, "ServiceExport")
	if err != nil {
		return err
	}
	_, err = a.dyn.Resource(a.res.Exports).Namespace(se.Namespace).Update(ctx, u, metav1.UpdateOptions{FieldManager: mcsapi.ManagedBy})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// updateExportStatus writes status when it differs from se's.
func (a *Agent) updateExportStatus(ctx context.Context, se *mcsv1beta1.ServiceExport, status *mcsv1beta1.ServiceExportStatus) error {
	if conditionsEqual(se.Status.Conditions, status.Conditions) {
		return nil
	}
	next := se.DeepCopy()
	next.Status = *status
	u, err := toUnstructured(a.res, next, "ServiceExport")
	if err != nil {
		return err
	}
	_, err = a.dyn.Resource(a.res.Exports).Namespace(se.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: mcsapi.ManagedBy})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// conditionsEqual compares conditions ignoring transition times.
func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		d := meta.FindStatusCondition(b, c.Type)
		if d == nil || d.Status != c.Status || d.Reason != c.Reason || d.Message != c.Message || d.ObservedGeneration != c.ObservedGeneration {
			return false
		}
	}
	return true
}
