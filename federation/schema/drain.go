package schema

import (
	"fmt"
	"strconv"
	"time"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// MaxDrainPeriodSeconds caps a drain's period (7 days).
const MaxDrainPeriodSeconds = 7 * 24 * 60 * 60

// ValidateDrain checks a drain as given by an admin: cluster is a DNS-1123
// label; namespace and name are both empty (the whole cluster) or both
// DNS-1123 labels (one service); period_seconds is in
// 0-MaxDrainPeriodSeconds. started_at is ignored: the server sets it.
func ValidateDrain(d *meshfedv1.Drain) error {
	if d == nil {
		return fieldErr("", "drain", "", "is missing")
	}
	if err := ValidateName("drain", "cluster", d.GetCluster()); err != nil {
		return err
	}
	ns, name := d.GetNamespace(), d.GetName()
	obj := DescribeDrain(d.GetCluster(), ns, name)
	switch {
	case ns == "" && name == "":
	case ns == "":
		return fieldErr(obj, "namespace", ns, "is empty but name is set (set both for one service, or neither for the whole cluster)")
	case name == "":
		return fieldErr(obj, "name", name, "is empty but namespace is set (set both for one service, or neither for the whole cluster)")
	default:
		if err := ValidateName(obj, "namespace", ns); err != nil {
			return err
		}
		if err := ValidateName(obj, "name", name); err != nil {
			return err
		}
	}
	if p := d.GetPeriodSeconds(); p < 0 || p > MaxDrainPeriodSeconds {
		return fieldErr(obj, "period_seconds", strconv.FormatInt(p, 10),
			fmt.Sprintf("is outside 0-%d (seconds, at most 7 days; 0 means at once)", MaxDrainPeriodSeconds))
	}
	return nil
}

// DescribeDrain names a drain for messages: `drain of cluster "east"` or
// `drain of demo/echo in cluster "east"`.
func DescribeDrain(cluster, namespace, name string) string {
	if namespace == "" && name == "" {
		return fmt.Sprintf("drain of cluster %q", cluster)
	}
	return fmt.Sprintf("drain of %s/%s in cluster %q", namespace, name, cluster)
}

// DrainKey is the key of a drain in watch changes and client.State:
// "cluster/namespace/name", and "cluster//" for a cluster-wide drain.
func DrainKey(cluster, namespace, name string) string {
	return cluster + "/" + namespace + "/" + name
}

// DrainProgress returns the fraction of a drain's traffic already moved
// away at now, in [0, 1]: (now - started_at) / period, clamped, and 1 for
// a zero period. A drained cluster keeps 1 - DrainProgress of the share it
// would otherwise get. A nil drain has progress 0.
func DrainProgress(d *meshfedv1.Drain, now time.Time) float64 {
	if d == nil {
		return 0
	}
	if d.GetPeriodSeconds() <= 0 {
		return 1
	}
	elapsed := now.Sub(d.GetStartedAt().AsTime())
	p := elapsed.Seconds() / float64(d.GetPeriodSeconds())
	return min(1, max(0, p))
}
