package deploy

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const mcsGroup = "multicluster.x-k8s.io"

var (
	readVerbs  = []string{"get", "list", "watch"}
	ownedVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	statusVerb = []string{"get", "update", "patch"}
)

// rbac returns the least privilege of each component. The agent reads
// ServiceExports, writes their finalizers and status; it owns ServiceImports and the
// Services and EndpointSlices derived from them (in any namespace, since
// that is where imports land); it reads namespaces (creates them only
// with agent.createNamespaces); it records events; and it holds its
// leader Lease in its own namespace. The gateway only watches
// ServiceImports, to open a port per imported service.
func rbac(v Values) []runtime.Object {
	namespaceVerbs := readVerbs
	if v.Agent.CreateNamespaces {
		namespaceVerbs = append(append([]string{}, readVerbs...), "create")
	}
	agentRules := []rbacv1.PolicyRule{
		// update and patch: the agent keeps a finalizer on each ServiceExport,
		// so that deleting one withdraws the export even while it is down.
		{APIGroups: []string{mcsGroup}, Resources: []string{"serviceexports"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
		{APIGroups: []string{mcsGroup}, Resources: []string{"serviceexports/status"}, Verbs: statusVerb},
		{APIGroups: []string{mcsGroup}, Resources: []string{"serviceimports"}, Verbs: ownedVerbs},
		{APIGroups: []string{mcsGroup}, Resources: []string{"serviceimports/status"}, Verbs: statusVerb},
		{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: ownedVerbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: ownedVerbs},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: namespaceVerbs},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	gatewayRules := []rbacv1.PolicyRule{
		{APIGroups: []string{mcsGroup}, Resources: []string{"serviceimports"}, Verbs: readVerbs},
	}
	leaseRules := []rbacv1.PolicyRule{
		// The name of an object being created is not known to the
		// authorizer, so create cannot be limited by resourceNames.
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{AgentName}, Verbs: []string{"get", "update"}},
	}
	return []runtime.Object{
		clusterRole(v, GatewayName, "gateway", gatewayRules),
		clusterRole(v, AgentName, "agent", agentRules),
		clusterRoleBinding(v, GatewayName, "gateway"),
		clusterRoleBinding(v, AgentName, "agent"),
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: meta(v, AgentName, "agent"),
			Rules:      leaseRules,
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: meta(v, AgentName, "agent"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: AgentName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: AgentName, Namespace: v.Namespace}},
		},
	}
}

func clusterRole(v Values, name, component string, rules []rbacv1.PolicyRule) *rbacv1.ClusterRole {
	m := meta(v, name, component)
	m.Namespace = ""
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: m,
		Rules:      rules,
	}
}

func clusterRoleBinding(v Values, name, component string) *rbacv1.ClusterRoleBinding {
	m := meta(v, name, component)
	m.Namespace = ""
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: m,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: v.Namespace}},
	}
}
