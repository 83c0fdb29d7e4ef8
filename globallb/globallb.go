// Package globallb chooses which cluster serves a request for a
// clusterset service. The gateway asks a Picker once per HTTP request or
// TCP connection (and again, skipping what failed, on a retry).
//
// The model follows gRPC-Go's balancer/picker split: a Balancer per
// imported service receives updates (snapshot changes, health changes, the
// passing of time during drains) on one goroutine, computes a Table with
// Compute, and publishes an immutable WeightedPicker whose Pick never
// blocks and does not allocate.
//
// Compute is a pure function, so every share can be explained (Explain,
// `meshfed route explain`, the gateway's /debug/routes). Targets are
// ranked into priorities by locality distance (same cluster, zone,
// region, provider, anywhere), or by a failover policy's explicit order.
// Each priority's health is its healthy share of weight times an
// overprovisioning factor (default 1.4, as Envoy), capped at 100%.
// Traffic fills the priorities in order, so it spills over gradually as
// health drops, not all at once. Within a priority, shares follow weights:
// ready endpoints times the policy's per-cluster weight, scaled down by
// drains and slow start. Below a panic threshold of normalized health
// (default 10%), health is ignored rather than traffic dropped.
package globallb

// Locality is where a cluster runs.
type Locality struct {
	Provider, Region, Zone string
}

// Target is one cluster exporting the service.
type Target struct {
	Cluster  string
	Locality Locality
	// Ready is the number of ready endpoints the cluster exports.
	Ready uint32
	// Alive reports that at least one of the cluster's gateways holds a
	// presence lease with the control plane.
	Alive bool
	// Labels are the cluster's labels, for failover-policy selectors.
	Labels map[string]string
}

// Healthy reports whether the target may receive traffic.
func (t Target) Healthy() bool { return t.Alive && t.Ready > 0 }

// Priority ranks a target by its distance from the caller; lower is
// nearer.
type Priority int

// The priorities, nearest first.
const (
	SameCluster Priority = iota
	SameZone
	SameRegion
	SameProvider
	Anywhere
)

var priorityNames = [...]string{"same-cluster", "same-zone", "same-region", "same-provider", "anywhere"}

func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "unknown"
	}
	return priorityNames[p]
}

// PriorityOf ranks target t for a caller in cluster from at locality loc.
// Empty locality parts never match.
func PriorityOf(from string, loc Locality, t Target) Priority {
	switch {
	case t.Cluster == from:
		return SameCluster
	case loc.Provider != "" && loc.Provider == t.Locality.Provider && loc.Region != "" && loc.Region == t.Locality.Region &&
		loc.Zone != "" && loc.Zone == t.Locality.Zone:
		return SameZone
	case loc.Provider != "" && loc.Provider == t.Locality.Provider && loc.Region != "" && loc.Region == t.Locality.Region:
		return SameRegion
	case loc.Provider != "" && loc.Provider == t.Locality.Provider:
		return SameProvider
	}
	return Anywhere
}

// Picker chooses a target cluster for one request or connection. A
// Picker is immutable and safe for concurrent use; Pick never blocks.
type Picker interface {
	// Pick returns the cluster to use, skipping clusters for which skip
	// (if not nil) returns true, e.g. ones that already failed this
	// request. ok is false when no cluster may be used.
	Pick(skip func(cluster string) bool) (cluster string, ok bool)
}
