// Package kubetest runs real Kubernetes API servers for tests, one
// independent cluster per API server, each with its own etcd process.
//
// The kube-apiserver binary is built from the pinned tools module in
// test/tools/kube (k8s.io/kubernetes at [Version], every staging module
// replaced by the matching v0 version) with the version stamped into it,
// and cached under $MESHFED_CACHE_DIR (or os.UserCacheDir()/meshfed) in
// kube-apiserver-<version>/kube-apiserver. Only the first run pays the
// build: 15-25 minutes and 2.5 GB of memory on a loaded 2-core machine (a
// rebuild from a warm Go build cache links in about 15 s), so run
// it once with a long timeout:
//
//	go test -timeout 40m -run TestTwoClusters ./test/kubetest/
//
// Compiled packages land in the Go build cache as they finish, so a build cut
// short by a test timeout resumes where it stopped. A lock file makes
// parallel test packages build it once. Setting MESHFED_KUBE_APISERVER_BIN to
// a kube-apiserver binary skips the build. Each API server's etcd is a
// single-member [etcdcluster.Cluster], whose binary is built the same way.
//
// [Start] launches n API servers side by side, listening only on 127.0.0.1
// with a self-signed serving certificate and a static admin token in group
// system:masters, and installs the Multi-Cluster Services API CRDs
// (ServiceExport and ServiceImport, sigs.k8s.io/mcs-api [MCSVersion], both
// v1alpha1 and v1beta1 served) into each. A [Cluster] gives a *rest.Config
// ([Cluster.Config]) and a kubeconfig file ([Cluster.Kubeconfig]) for the
// admin user. [Cluster.Stop], [Cluster.Kill] and [Cluster.Restart] take one
// API server down and bring it back on the same port, certificate and etcd,
// so clients built before the restart recover without being rebuilt.
//
// A test of a controller that talks to two clusters:
//
//	clusters := kubetest.Start(t, 2)
//	east, west := clusters[0], clusters[1]
//	kube, err := kubernetes.NewForConfig(east.Config())
//	mcs, err := mcsclient.NewForConfig(west.Config()) // sigs.k8s.io/mcs-api/pkg/client/clientset/versioned
//	agent := exec.Command(bin, "--kubeconfig", east.Kubeconfig())
//	east.Stop()    // or east.Kill(); east.Etcd() for etcd faults
//	east.Restart() // ready again; old clients reconnect
//
// Starting two or three API servers takes 7-9 s on a loaded 2-core machine;
// each uses about 280 MB of memory and its etcd about 40 MB.
//
// Every process gets SIGKILL from the kernel if the test binary dies, and is
// killed by PID in t.Cleanup; on test failure the tail of each API server's
// log is printed. Methods of [Cluster] report failures through the
// testing.TB given to Start and must be called from the test's goroutine.
package kubetest
