package store

import (
	"fmt"
	"strings"

	"github.com/meshfed/meshfed/federation/schema"
)

// Prefix is the root of every meshfed key in etcd.
const Prefix = "/meshfed/v1/"

// Sub-prefixes, relative to Prefix.
const (
	clustersPrefix  = "clusters/"
	presencePrefix  = "presence/"
	exportsPrefix   = "exports/"
	bundlesPrefix   = "bundles/"
	policiesPrefix  = "policies/"
	endpointsPrefix = "bundle-endpoints/"
	drainsPrefix    = "drains/"
	// drillsPrefix holds drill reports. They are not objects of the view:
	// Load skips the range and Watch drops its events (see decodeKV).
	drillsPrefix = "drills/"
	// ElectionPrefix is where federation/leader campaigns, relative to Prefix.
	ElectionPrefix = "election/"
)

// Kind is the kind of object a key holds.
type Kind int

// Kinds of stored objects.
const (
	KindUnknown Kind = iota
	KindCluster
	KindPresence
	KindExport
	KindBundle
	KindPolicy
	KindBundleEndpoint
	KindDrain
)

func (k Kind) String() string {
	switch k {
	case KindCluster:
		return "cluster"
	case KindPresence:
		return "presence"
	case KindExport:
		return "export"
	case KindBundle:
		return "bundle"
	case KindPolicy:
		return "policy"
	case KindBundleEndpoint:
		return "bundle endpoint"
	case KindDrain:
		return "drain"
	}
	return "unknown"
}

func clusterKey(name string) string         { return clustersPrefix + name }
func presenceKey(cluster, gw string) string { return presencePrefix + cluster + "/" + gw }
func exportKey(cluster, ns, name string) string {
	return exportsPrefix + cluster + "/" + ns + "/" + name
}
func bundleKey(td string) string             { return bundlesPrefix + td }
func endpointKey(td string) string           { return endpointsPrefix + td }
func policyKey(ns, name, kind string) string { return policiesPrefix + ns + "/" + name + "/" + kind }
func drillKey(id string) string              { return drillsPrefix + id }

// ClusterWide is the namespace and name segment of a cluster-wide drain's
// key (drains/<cluster>/_/_). It is not a DNS-1123 label, so no service
// can take it, and it keeps every key segment non-empty.
const ClusterWide = "_"

func drainKey(cluster, ns, name string) string {
	if ns == "" && name == "" {
		ns, name = ClusterWide, ClusterWide
	}
	return drainsPrefix + cluster + "/" + ns + "/" + name
}

// ParseKey splits a key relative to Prefix into its kind and the object's
// name within the kind ("cluster", "cluster/gateway",
// "cluster/namespace/name", trust domain, "namespace/name/kind"). A drain's
// name is its watch key, schema.DrainKey: "cluster/namespace/name", or
// "cluster//" for the cluster-wide key drains/<cluster>/_/_.
func ParseKey(key string) (Kind, string, error) {
	for _, p := range []struct {
		prefix string
		kind   Kind
		parts  int
	}{
		{clustersPrefix, KindCluster, 1},
		{presencePrefix, KindPresence, 2},
		{exportsPrefix, KindExport, 3},
		{bundlesPrefix, KindBundle, 1},
		{policiesPrefix, KindPolicy, 3},
		{endpointsPrefix, KindBundleEndpoint, 1},
		{drainsPrefix, KindDrain, 3},
	} {
		if rest, ok := strings.CutPrefix(key, p.prefix); ok {
			parts := strings.Split(rest, "/")
			if len(parts) != p.parts {
				return KindUnknown, "", fmt.Errorf("store: key %q has %d parts after %q, want %d", key, len(parts), p.prefix, p.parts)
			}
			for _, part := range parts {
				if part == "" {
					return KindUnknown, "", fmt.Errorf("store: key %q has an empty part", key)
				}
			}
			if p.kind == KindDrain {
				return parseDrainName(key, parts)
			}
			return p.kind, rest, nil
		}
	}
	return KindUnknown, "", fmt.Errorf("store: key %q is not under a known prefix", key)
}

// parseDrainName maps drains/<cluster>/_/_ to "cluster//"; the reserved
// segment must stand for both namespace and name or for neither.
func parseDrainName(key string, parts []string) (Kind, string, error) {
	ns, name := parts[1], parts[2]
	switch {
	case ns == ClusterWide && name == ClusterWide:
		ns, name = "", ""
	case ns == ClusterWide || name == ClusterWide:
		return KindUnknown, "", fmt.Errorf("store: key %q uses %q for only one of namespace and name", key, ClusterWide)
	}
	return KindDrain, schema.DrainKey(parts[0], ns, name), nil
}
