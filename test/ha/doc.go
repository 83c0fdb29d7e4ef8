// Package ha holds the high-availability suite: a real 3-member etcd
// cluster and two control-plane replicas, all separate processes, with
// the etcd leader and one replica killed by SIGKILL while writes and
// watches go on.
package ha
