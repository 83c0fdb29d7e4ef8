package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/backoff"
)

// job is a singleton task that only the elected leader runs. run blocks
// until ctx is done.
type job struct {
	name string
	run  func(ctx context.Context) error
}

// runElected campaigns for leadership of j among all replicas and runs it
// while leader, again and again until ctx is done. Leadership is an etcd
// lease: a replica that dies or is cut off loses it within sessionTTL.
func runElected(ctx context.Context, c *clientv3.Client, identity string, sessionTTL int, j job, setLeader func(bool), log *slog.Logger) error {
	log = log.With("job", j.name)
	for ctx.Err() == nil {
		err := campaignOnce(ctx, c, identity, sessionTTL, j, setLeader, log)
		setLeader(false)
		if ctx.Err() != nil {
			break
		}
		log.Warn("leader election interrupted, retrying", "error", err)
		if !backoff.Sleep(ctx, time.Second) {
			break
		}
	}
	return ctx.Err()
}

func campaignOnce(ctx context.Context, c *clientv3.Client, identity string, sessionTTL int, j job, setLeader func(bool), log *slog.Logger) error {
	session, err := concurrency.NewSession(c, concurrency.WithTTL(sessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer session.Close()
	election := concurrency.NewElection(session, store.Prefix+store.ElectionPrefix+j.name)
	if err := election.Campaign(ctx, identity); err != nil {
		return err
	}
	log.Info("elected leader")
	setLeader(true)
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- j.run(jobCtx) }()
	select {
	case <-session.Done():
		cancel()
		<-done
		return errors.New("leadership lease lost")
	case err := <-done:
		if ctx.Err() == nil {
			resignCtx, rc := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = election.Resign(resignCtx)
			rc()
		}
		return err
	case <-ctx.Done():
		cancel()
		<-done
		resignCtx, rc := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = election.Resign(resignCtx)
		rc()
		return ctx.Err()
	}
}

// compactor keeps etcd's history to about retain revisions, so watch
// resumption has a window and the database does not grow without bound.
func compactor(st *store.Store, retain int64, every time.Duration, log *slog.Logger) job {
	return job{name: "compactor", run: func(ctx context.Context) error {
		var last int64
		for {
			rev, err := st.Revision(ctx)
			if err == nil && rev-retain > last {
				if err = st.Compact(ctx, rev-retain); err == nil {
					last = rev - retain
					log.Debug("compacted etcd history", "revision", last)
				}
			}
			if err != nil && ctx.Err() == nil {
				log.Warn("compaction failed", "error", err)
			}
			if !backoff.Sleep(ctx, every) {
				return ctx.Err()
			}
		}
	}}
}
