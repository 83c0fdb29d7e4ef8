package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// conn is a configured connection to one provider: the generated client
// and the provider name the plugin reported when it was configured.
type conn struct {
	rpc      providersv1.ProviderClient
	provider string
}

// backend is what a handle calls through: an in-process built-in or a
// plugin process. It is the seam between "how the plugin runs" and "how it
// is called", so both kinds share one calling path.
type backend interface {
	// get returns a configured connection, starting or restarting the
	// plugin when needed. It blocks at most until ctx is done.
	get(ctx context.Context) (conn, error)
	// failed is told of every call that returned a gRPC error; it returns
	// a non-nil error (wrapping ErrCrashed) when the plugin has crashed.
	failed(c conn, err error) error
	// ok is told of every call that succeeded.
	ok()
	close()
}

// handle is the Provider the catalog hands out. Every call gets the
// catalog's per-call deadline and its reply is validated before it reaches
// the core.
type handle struct {
	name    string
	timeout time.Duration
	b       backend
}

var _ Provider = (*handle)(nil)

func (h *handle) Name() string { return h.name }

func (h *handle) Locality(ctx context.Context) (Instance, error) {
	resp, c, err := invoke(ctx, h, "Locality", func(ctx context.Context, c conn) (*providersv1.LocalityResponse, error) {
		return c.rpc.Locality(ctx, &providersv1.LocalityRequest{})
	})
	if err != nil {
		return Instance{}, err
	}
	inst, err := InstanceFromProto(resp, c.provider)
	if err != nil {
		return Instance{}, h.invalid("Locality", err)
	}
	return inst, nil
}

func (h *handle) GatewayAddresses(ctx context.Context, cluster string) ([]Address, error) {
	resp, _, err := invoke(ctx, h, "GatewayAddresses", func(ctx context.Context, c conn) (*providersv1.GatewayAddressesResponse, error) {
		return c.rpc.GatewayAddresses(ctx, &providersv1.GatewayAddressesRequest{Cluster: cluster})
	})
	if err != nil {
		return nil, err
	}
	addrs, err := AddressesFromProto(resp)
	if err != nil {
		return nil, h.invalid("GatewayAddresses", err)
	}
	return addrs, nil
}

func (h *handle) DiscoverClusters(ctx context.Context) ([]Cluster, error) {
	resp, _, err := invoke(ctx, h, "DiscoverClusters", func(ctx context.Context, c conn) (*providersv1.DiscoverClustersResponse, error) {
		return c.rpc.DiscoverClusters(ctx, &providersv1.DiscoverClustersRequest{})
	})
	if err != nil {
		return nil, err
	}
	cls, err := ClustersFromProto(resp)
	if err != nil {
		return nil, h.invalid("DiscoverClusters", err)
	}
	return cls, nil
}

func (h *handle) Distance(ctx context.Context, from, to Locality) (Distance, error) {
	resp, _, err := invoke(ctx, h, "Distance", func(ctx context.Context, c conn) (*providersv1.DistanceResponse, error) {
		return c.rpc.Distance(ctx, &providersv1.DistanceRequest{From: from.proto(), To: to.proto()})
	})
	if err != nil {
		return Distance{}, err
	}
	return Distance{Cost: resp.GetCost(), Basis: resp.GetBasis()}, nil
}

func (h *handle) invalid(op string, err error) error {
	return fmt.Errorf("providers: plugin %q: %s: %w: %w", h.name, op, ErrInvalidReply, err)
}

// invoke runs one call under the per-call deadline and turns its failure
// into an error naming the plugin and the operation.
func invoke[R any](ctx context.Context, h *handle, op string, call func(context.Context, conn) (R, error)) (R, conn, error) {
	var zero R
	callCtx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	c, err := h.b.get(callCtx)
	if err != nil {
		return zero, c, h.deadline(ctx, callCtx, op, err)
	}
	resp, err := call(callCtx, c)
	if err == nil {
		h.b.ok()
		return resp, c, nil
	}
	if crash := h.b.failed(c, err); crash != nil {
		return zero, c, fmt.Errorf("providers: plugin %q: %s: %w", h.name, op, crash)
	}
	return zero, c, h.deadline(ctx, callCtx, op, callError(err))
}

// deadline names the per-call deadline when it is what ended the call.
func (h *handle) deadline(parent, callCtx context.Context, op string, err error) error {
	if parent.Err() == nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("providers: plugin %q: %s did not answer within %s: %w", h.name, op, h.timeout, ErrTimeout)
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrCrashed) || errors.Is(err, ErrChecksumMismatch) || errors.Is(err, ErrUnknownProvider) || errors.Is(err, ErrInvalidConfig) {
		return err // already names the plugin
	}
	return fmt.Errorf("providers: plugin %q: %s: %w", h.name, op, err)
}

// callError maps the plugin's gRPC status onto the package's sentinels,
// keeping the plugin's message (which names the bad value).
func callError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("%s: %w", msg, ErrUnimplemented)
	case codes.Unavailable, codes.ResourceExhausted:
		return fmt.Errorf("%s: %w", msg, ErrUnavailable)
	case codes.NotFound:
		return fmt.Errorf("%s: %w", msg, ErrNotFound)
	case codes.InvalidArgument, codes.FailedPrecondition:
		return fmt.Errorf("%s: %w", msg, ErrInvalidConfig)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", msg, ErrTimeout)
	default:
		return fmt.Errorf("%s (%s)", msg, st.Code())
	}
}
