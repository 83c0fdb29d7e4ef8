package providers

import (
	"context"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// BuiltIn is a provider compiled into the binary. It is served over the
// same gRPC service as a plugin, in process, so the core calls it through
// the same code path (and the same reply checks) as an external plugin.
// Register built-ins where the binary is assembled, e.g.
// Config{BuiltIns: []BuiltIn{static.BuiltIn()}}.
type BuiltIn struct {
	Name string
	// New returns a fresh, unconfigured server; it is called once per
	// catalog that uses the provider.
	New func() providersv1.ProviderServer
}

// inProcess serves a built-in on an in-memory listener.
type inProcess struct {
	srv  *grpc.Server
	cc   *grpc.ClientConn
	c    conn
	done sync.WaitGroup
}

var _ backend = (*inProcess)(nil)

func startBuiltIn(ctx context.Context, b BuiltIn, config []byte) (*inProcess, error) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	providersv1.RegisterProviderServer(srv, b.New())
	p := &inProcess{srv: srv}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		_ = srv.Serve(lis) // returns when srv stops
	}()
	cc, err := grpc.NewClient("passthrough:///"+b.Name,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.close()
		return nil, fmt.Errorf("providers: built-in %q: %w", b.Name, err)
	}
	p.cc = cc
	rpc := providersv1.NewProviderClient(cc)
	provider, err := configure(ctx, b.Name, rpc, config)
	if err != nil {
		p.close()
		return nil, err
	}
	p.c = conn{rpc: rpc, provider: provider}
	return p, nil
}

func (p *inProcess) get(context.Context) (conn, error) { return p.c, nil }
func (p *inProcess) failed(conn, error) error          { return nil }
func (p *inProcess) ok()                               {}

func (p *inProcess) close() {
	if p.cc != nil {
		_ = p.cc.Close()
	}
	p.srv.Stop()
	p.done.Wait()
}

// configure sends a provider its configuration and returns the provider
// name it reports.
func configure(ctx context.Context, name string, rpc providersv1.ProviderClient, config []byte) (string, error) {
	resp, err := rpc.Configure(ctx, &providersv1.ConfigureRequest{Config: config})
	if err != nil {
		return "", fmt.Errorf("providers: plugin %q: configure: %w", name, callError(err))
	}
	if err := checkToken("provider", resp.GetProvider(), true); err != nil {
		return "", fmt.Errorf("providers: plugin %q: configure: %w: %w", name, ErrInvalidReply, err)
	}
	return resp.GetProvider(), nil
}
