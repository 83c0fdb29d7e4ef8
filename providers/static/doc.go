// Package static is the built-in provider whose answers all come from
// configuration: for on-premises sites, plain hosts, and clouds without a
// plugin. It is served through the same gRPC contract as external plugins
// (register it with Config{BuiltIns: []providers.BuiltIn{static.BuiltIn()}}).
//
// Its configuration is a JSON object:
//
//	{
//	  "provider": "onprem", "region": "dc1", "zone": "rack-a",
//	  "instance_id": "host-17", "account": "", "cluster": "dc1-edge",
//	  "gateway_addresses": [
//	    {"address": "203.0.113.7", "kind": "public"},
//	    {"cluster": "dc2-edge", "address": "gw.dc2.example.org", "kind": "public"}
//	  ],
//	  "clusters": [{"name": "dc2-edge", "provider": "onprem", "region": "dc2"}]
//	}
//
// A gateway address without "cluster" belongs to the local gateway.
// Distance uses the shipped tiers of package distance.
package static
