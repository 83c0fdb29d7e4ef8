// Package up runs a whole federation on one machine, on loopback
// (`meshfed up`): a control plane on embedded etcd, and per cluster a dev
// CA and trust domain, a gateway and demo services, as child processes
// described by DIR/up.json.
package up
