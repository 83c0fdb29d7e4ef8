// Package mcs tests meshfed's Kubernetes agent (kube/agent) against real
// kube-apiservers (test/kubetest), one per cluster, and one real control
// plane on embedded etcd: the Multi-Cluster Services API scenarios of
// docs/kubernetes.md, end to end. Nothing here is mocked; there is no
// kubelet or kube-proxy, so no pod runs, and traffic through derived
// Services is tested at the gateway (test/mcs's gateway test dials the
// per-service port named in the derived EndpointSlice).
package mcs
