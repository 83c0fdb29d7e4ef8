// Package embedetcd runs a single-member etcd inside the control-plane
// process, the default store for one machine.
//
// It listens on loopback only (client and peer ports), keeps its data in a
// directory so that a restarted control plane finds its state again, and
// writes etcd's own log to a file in that directory instead of the
// control plane's output. An external etcd cluster is how meshfed scales
// and survives; this package is for development, demos and one-node setups.
package embedetcd
