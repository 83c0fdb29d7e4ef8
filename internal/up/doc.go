// Package up runs a whole federation on one machine, on loopback
// (`meshfed up`): a control plane on embedded etcd, and per cluster a dev
// CA and trust domain, a gateway and demo services, as child processes
// described by DIR/up.json.
//
// NewPlan lays the federation out (ports from a base port, paths, command
// lines, the up.json to write) without I/O. Start carries a plan out and
// blocks until every gateway routes the demo services; the returned
// Federation's Wait and Stop serve a foreground run. Down stops what an
// up.json records, signalling only processes Owned by its directory.
// RunDemo is the demo backends' server (the hidden `meshfed
// demo-backend`). docs/up.md describes the layout and the lifecycle.
package up
