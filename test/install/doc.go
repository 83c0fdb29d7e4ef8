// Package install tests `meshfed install` end to end against a real
// kube-apiserver (test/kubetest): what it applies, that a second run changes
// nothing, least privilege through SubjectAccessReviews, conflicts with other
// field managers, and uninstall. Pods do not run (there is no kubelet); the
// tests check the API objects.
package install
