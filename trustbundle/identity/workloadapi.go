package identity

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// ErrNoWorkloadAPIAddr means no Workload API address was given and
// SPIFFE_ENDPOINT_SOCKET is not set.
var ErrNoWorkloadAPIAddr = errors.New("identity: no SPIFFE Workload API address")

// NewWorkloadAPISource connects to the SPIFFE Workload API at addr
// ("unix:///path/to/agent.sock" or "tcp://IP:PORT"; "" means the value of
// SPIFFE_ENDPOINT_SOCKET) and returns go-spiffe's X509Source, which
// implements x509svid.Source and x509bundle.Source and follows every
// rotation the Workload API streams.
//
// It blocks until the first X.509-SVID arrives or ctx is done. ctx only
// bounds that wait; the source keeps watching until its Close, which the
// caller must call (it stops the source's goroutines and connection).
func NewWorkloadAPISource(ctx context.Context, addr string) (*workloadapi.X509Source, error) {
	if addr == "" {
		addr = os.Getenv(workloadapi.SocketEnv)
	}
	if addr == "" {
		return nil, fmt.Errorf("%w: set %s or give the address (unix:///path/to/agent.sock or tcp://IP:PORT)", ErrNoWorkloadAPIAddr, workloadapi.SocketEnv)
	}
	if err := workloadapi.ValidateAddress(addr); err != nil {
		return nil, fmt.Errorf("identity: Workload API address %q: %w (want unix:///path/to/agent.sock or tcp://IP:PORT)", addr, err)
	}
	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(addr)))
	if err != nil {
		return nil, fmt.Errorf("identity: Workload API at %q: %w", addr, err)
	}
	return src, nil
}
