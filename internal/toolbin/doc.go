// Package toolbin builds the binaries that tests and generators run (etcd,
// kube-apiserver, helm) from pinned tools modules of this repository
// (test/tools/NAME, each its own Go module so that their dependencies never
// reach the main go.mod), and caches them by version.
//
// A [Tool] names the module, the version and the package to build.
// [Tool.Path] returns $ENV if the tool's override variable is set, otherwise
// NAME-VERSION/NAME under $MESHFED_CACHE_DIR (or os.UserCacheDir()/meshfed),
// building it first when it is missing. Builds are serialised across
// processes by a lock file (on Linux) and the binary is renamed into place
// atomically, so parallel test packages build it once and a build cut short
// leaves nothing half-written. Compiled packages stay in the Go build cache,
// so a build interrupted by a test timeout resumes where it stopped.
//
//	helm := toolbin.Tool{
//		Name: "helm", Version: "v3.22.0", Module: "test/tools/helm",
//		Require: "helm.sh/helm/v3 v3.22.0", Package: "helm.sh/helm/v3/cmd/helm",
//		EnvOverride: "MESHFED_HELM_BIN",
//	}
//	bin, err := helm.Path() // blocks for the whole build on first use
package toolbin
