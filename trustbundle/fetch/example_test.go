package fetch_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/store"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/fetch"
)

// The control plane runs one Fetcher, on its elected leader only.
func ExampleFetcher_Run() {
	run := func(ctx context.Context, st *store.Store) error {
		f, err := fetch.New(fetch.Config{Store: st}) // system roots for https_web
		if err != nil {
			return err
		}
		return f.Run(ctx) // until ctx is done
	}
	_ = run
}

func ExampleDue() {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := &meshfedv1.BundleEndpoint{
		LastAttempt: timestamppb.New(at),
		NextRefresh: timestamppb.New(at.Add(5 * time.Minute)),
	}
	fmt.Println(fetch.Due(e, at.Add(time.Minute)))
	fmt.Println(fetch.Due(e, at.Add(5*time.Minute)))
	e.RefreshRequestedAt = timestamppb.New(at.Add(time.Second)) // meshfed trust refresh
	fmt.Println(fetch.Due(e, at.Add(time.Minute)))
	// Output:
	// false
	// true
	// true
}
