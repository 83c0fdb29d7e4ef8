package providers

import (
	"context"
	"errors"
)

// Provider is what the core knows of a cloud. Every implementation returned
// by a [Catalog] is safe for concurrent use; every call blocks until the
// plugin answers, ctx is done, or the catalog's per-call deadline passes.
type Provider interface {
	// Name is the name the provider was loaded by, e.g. "aws".
	Name() string
	// Locality says where the provider's process (and so the caller) runs.
	Locality(ctx context.Context) (Instance, error)
	// GatewayAddresses lists the addresses cluster's gateway is reachable
	// at; an empty cluster means the gateway running here.
	GatewayAddresses(ctx context.Context, cluster string) ([]Address, error)
	// DiscoverClusters lists the clusters the configured account, project
	// or subscription can see.
	DiscoverClusters(ctx context.Context) ([]Cluster, error)
	// Distance is the relative cost of traffic from one locality to another.
	Distance(ctx context.Context, from, to Locality) (Distance, error)
}

// Locality is a place. Zone is empty when the place is not zonal.
type Locality struct {
	Provider string
	Region   string
	Zone     string
}

// Instance is where a provider's process runs. Every field but Locality
// may be empty when the cloud does not say.
type Instance struct {
	Locality   Locality
	InstanceID string // VM or host identifier
	Account    string // account, project or subscription
	Cluster    string // the cluster the instance belongs to
}

// AddressKind says from where an address is reachable.
type AddressKind int

// Address kinds.
const (
	AddressUnspecified AddressKind = iota
	AddressPublic                  // reachable from other networks
	AddressPrivate                 // reachable inside the VPC/VNet only
)

// String returns "public", "private" or "unspecified".
func (k AddressKind) String() string {
	switch k {
	case AddressPublic:
		return "public"
	case AddressPrivate:
		return "private"
	default:
		return "unspecified"
	}
}

// Address is one address a gateway is reachable at: an IP address or DNS
// name without a port.
type Address struct {
	Address string
	Kind    AddressKind
	Source  string // e.g. "instance-metadata", "config"
}

// Cluster is a cluster a provider discovered.
type Cluster struct {
	Name     string
	Locality Locality
	ID       string // provider's identifier, e.g. an ARN
	Endpoint string // Kubernetes API endpoint, when known
	Status   string // provider's status word, e.g. "ACTIVE"
}

// Distance is a relative cost: lower is cheaper, only the order matters.
type Distance struct {
	Cost  uint32
	Basis string // where the number comes from
}

// Errors callers can test with errors.Is. Every error a Provider returns
// also names the plugin.
var (
	// ErrUnknownProvider: no built-in of that name and no plugin binary.
	ErrUnknownProvider = errors.New("providers: unknown provider")
	// ErrChecksumMismatch: the plugin binary's SHA-256 is not the configured one.
	ErrChecksumMismatch = errors.New("providers: plugin checksum mismatch")
	// ErrTimeout: the plugin did not answer within the per-call deadline.
	ErrTimeout = errors.New("providers: plugin did not answer in time")
	// ErrCrashed: the plugin process exited; it is restarted with back-off.
	ErrCrashed = errors.New("providers: plugin crashed")
	// ErrUnimplemented: the provider does not offer the operation.
	ErrUnimplemented = errors.New("providers: operation not implemented by provider")
	// ErrUnavailable: the cloud could not be asked (throttled, timed out,
	// unreachable); retrying later may work.
	ErrUnavailable = errors.New("providers: cloud unavailable")
	// ErrNotFound: the cloud does not have what was asked for.
	ErrNotFound = errors.New("providers: not found")
	// ErrInvalidReply: the plugin answered something that is not valid.
	ErrInvalidReply = errors.New("providers: invalid plugin reply")
	// ErrInvalidConfig: the catalog or a plugin refused its configuration.
	ErrInvalidConfig = errors.New("providers: invalid configuration")
	// ErrClosed: the catalog was closed.
	ErrClosed = errors.New("providers: catalog closed")
)
