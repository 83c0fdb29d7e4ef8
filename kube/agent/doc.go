// Package agent is meshfed's Kubernetes agent: it turns the Multi-Cluster
// Services API (KEP-1645, sigs.k8s.io/mcs-api) objects of one cluster into
// control-plane exports, and the clusterset's imports back into objects
// of that cluster.
//
// Export side: for every ServiceExport, the agent reads the Service of the
// same namespace and name and its EndpointSlices, publishes an export
// (ports, protocols, appProtocols, service type, ready endpoints per
// topology zone) with GatewayService.PublishExports, and keeps the
// ServiceExport's conditions as the MCS API defines them: Valid (reasons
// Valid, NoService, InvalidServiceType, InvalidAnnotation), Ready
// (Exported, Pending, Failed) and Conflict (NoConflicts, PortConflict,
// TypeConflict, with a message naming the field and the winning cluster).
// A finalizer makes sure a deleted ServiceExport is withdrawn even when
// the agent was down at the time.
//
// Import side: for every service of the clusterset, the agent keeps, in the
// namespace of the same name, a ServiceImport (type, ports, ips), a
// derived selector-less Service whose ClusterIP becomes the import's IP,
// and one EndpointSlice per exporting cluster whose endpoints are the
// local gateway's pods on per-service ports. The ports are allocated from
// a range (Config.ImportPorts) and recorded on the ServiceImport in the
// annotation [mcsapi.AnnotationGatewayPorts], which gateways read to open their
// listeners. Every object the agent creates carries the label
// [mcsapi.LabelManagedBy]=[mcsapi.ManagedBy], and derived objects an owner reference to
// their ServiceImport, so nothing is orphaned; the agent deletes them
// itself too, as clusters without a garbage collector (such as the test
// harness) would otherwise keep them.
//
// Only the leader of a Kubernetes Lease works; a second replica waits. The
// agent uses whichever MCS API version the installed CRDs serve,
// preferring v1beta1 (the storage version of mcs-api v0.5) over v1alpha1;
// the two have the same schema.
package agent
