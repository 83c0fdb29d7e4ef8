// Package helmtest runs the real helm CLI in tests. The binary is built
// from the pinned tools module in test/tools/helm (helm.sh/helm/v3 at
// [Version], required through a `tool` directive so that helm's Kubernetes
// dependencies never reach the main go.mod) and cached under
// $MESHFED_CACHE_DIR (or os.UserCacheDir()/meshfed) in
// helm-<version>/helm by internal/toolbin. The first build takes about 2.5
// minutes on a 2-core machine; `make prebuild` does it ahead of the tests.
// Setting MESHFED_HELM_BIN to a helm binary skips the build.
//
//	out := helmtest.Run(t, "template", "meshfed", chartDir, "-f", valuesFile)
package helmtest
