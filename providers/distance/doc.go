// Package distance is the distance table shipped with meshfed's provider
// plugins: a relative cost of sending traffic from one locality to another,
// used by globallb only to break ties between equally healthy clusters.
//
// The numbers are tiers, not measured latencies or prices. Their order
// follows how AWS, Google Cloud and Azure all publish data-transfer pricing
// (traffic inside a zone is the cheapest, between zones of a region costs
// more, between regions more again, and leaving a cloud for the internet or
// another cloud the most), which is also the usual order of latency:
//
//	0 same zone
//	1 same region, another (or unknown) zone
//	2 same provider, another region
//	3 another provider
//
// A plugin with better knowledge (measured round trips, region-pair price
// sheets) can answer Distance itself; these tiers are the default every
// shipped plugin uses.
package distance
