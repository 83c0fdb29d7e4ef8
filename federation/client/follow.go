package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/internal/backoff"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// FollowConfig configures Follow.
type FollowConfig struct {
	// Cluster is the caller's cluster.
	Cluster string
	// Clients are the control-plane replicas to try, in turn.
	Clients []meshfedv1.GatewayServiceClient
	// State is applied to; it must not be nil. Follow resumes from its
	// Version.
	State *State
	// OnUpdate, if set, is called after each response is applied.
	OnUpdate func(resp *meshfedv1.WatchResponse)
	// Lock, if set, is held while a response is applied to State, so
	// another goroutine may read State under it.
	Lock sync.Locker
	// OnError, if set, is called when a stream fails, before retrying.
	OnError func(replica int, err error)
	// MinBackoff and MaxBackoff bound the pause between attempts; zero
	// means 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
}

// Follow keeps State up to date: it watches one replica, and when the
// stream breaks it resumes from State.Version on the next replica, with
// exponential back-off. It blocks until ctx is done and returns ctx.Err(),
// or returns an ErrOutOfOrder or PermissionDenied error at once.
func Follow(ctx context.Context, cfg FollowConfig) error {
	if len(cfg.Clients) == 0 || cfg.State == nil {
		return errors.New("client: Follow needs Clients and State")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	wait := &backoff.Exponential{Min: cfg.MinBackoff, Max: cfg.MaxBackoff}
	for i := 0; ; i = (i + 1) % len(cfg.Clients) {
		got, err := followOnce(ctx, cfg, cfg.Clients[i])
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrOutOfOrder) || status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.InvalidArgument {
			return err
		}
		if cfg.OnError != nil {
			cfg.OnError(i, err)
		}
		if got {
			wait.Reset()
		}
		if !wait.Wait(ctx) {
			return ctx.Err()
		}
	}
}

// followOnce runs one stream; got reports whether anything was received.
func followOnce(ctx context.Context, cfg FollowConfig, c meshfedv1.GatewayServiceClient) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Watch(ctx, &meshfedv1.WatchRequest{Cluster: cfg.Cluster, ResumeVersion: cfg.State.Version})
	if err != nil {
		return false, err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = true
		if cfg.Lock != nil {
			cfg.Lock.Lock()
		}
		err = cfg.State.Apply(resp)
		if cfg.Lock != nil {
			cfg.Lock.Unlock()
		}
		if err != nil {
			return got, fmt.Errorf("client: version %d: %w", resp.GetVersion(), err)
		}
		if cfg.OnUpdate != nil {
			cfg.OnUpdate(resp)
		}
	}
}
