package store_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshfed/meshfed/federation/store"
	"github.com/meshfed/meshfed/internal/etcdtest"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func TestBundleEndpointKeepsStatusAcrossAdminEdits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	td := "eu-1.example.org"

	// 1. Configure, 2. the fetcher records a status, 3. the admin edits
	// the URL: the status stays and a refresh is requested.
	e := &meshfedv1.BundleEndpoint{TrustDomain: td, Url: "https://a:8443", Profile: "https_web", LastError: "ignored"}
	first, _, err := s.PutBundleEndpoint(ctx, e)
	if err != nil || first.GetLastError() != "" || first.GetRefreshRequestedAt() == nil {
		t.Fatalf("put: %v %v", first, err)
	}
	if _, _, err := s.UpdateBundleEndpoint(ctx, td, func(e *meshfedv1.BundleEndpoint) {
		e.LastError, e.LastAttempt = "boom", timestamppb.Now()
	}); err != nil {
		t.Fatal(err)
	}
	e.Url = "https://b:8443"
	if _, _, err := s.PutBundleEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBundleEndpoint(ctx, td)
	if err != nil || got.GetUrl() != "https://b:8443" || got.GetLastError() != "boom" {
		t.Fatalf("after edit: %v %v", got, err)
	}

	// 4. Refresh and list; 5. delete; updates of a missing endpoint fail.
	if _, err := s.RequestRefresh(ctx, td); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListBundleEndpoints(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("list: %v %v", all, err)
	}
	if _, err := s.DeleteBundleEndpoint(ctx, td); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestRefresh(ctx, td); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refresh after delete: got %v, want ErrNotFound", err)
	}
}

func TestBundleEndpointKeyDecodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	if _, _, err := s.PutBundleEndpoint(ctx, &meshfedv1.BundleEndpoint{TrustDomain: "x.org", Url: "https://x", Profile: "https_web"}); err != nil {
		t.Fatal(err)
	}
	var bad []string
	_, objs, err := s.Load(ctx, func(key string, _ error) { bad = append(bad, key) })
	if err != nil || len(bad) != 0 || len(objs) != 1 || objs[0].Kind != store.KindBundleEndpoint || objs[0].Name != "x.org" {
		t.Fatalf("load: %v bad=%v err=%v", objs, bad, err)
	}
}

// TestPutBundleFromEndpointOnlyWhileConfigured: a bundle fetched from an
// endpoint configuration that changed before the write is not stored.
func TestPutBundleFromEndpointOnlyWhileConfigured(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, etcdtest.Start(t))
	td := "eu-1.example.org"
	if _, _, err := s.PutBundleEndpoint(ctx, &meshfedv1.BundleEndpoint{TrustDomain: td, Url: "https://a:8443", Profile: "https_web"}); err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.GetBundleEndpointRev(ctx, td)
	if err != nil {
		t.Fatal(err)
	}
	b := &meshfedv1.Bundle{TrustDomain: td, Jwks: []byte(`{}`), Sequence: 1}
	if _, _, err := s.PutBundleFromEndpoint(ctx, b, rev); err != nil {
		t.Fatalf("write while configured: %v", err)
	}
	// An admin points the trust domain at another endpoint meanwhile.
	if _, _, err := s.PutBundleEndpoint(ctx, &meshfedv1.BundleEndpoint{TrustDomain: td, Url: "https://b:8443", Profile: "https_web"}); err != nil {
		t.Fatal(err)
	}
	b.Sequence = 2
	if _, _, err := s.PutBundleFromEndpoint(ctx, b, rev); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("write from the old configuration: got %v, want ErrConditionFailed", err)
	}
	if got, err := s.GetBundle(ctx, td); err != nil || got.GetSequence() != 1 {
		t.Fatalf("stored bundle %v %v, want sequence 1 kept", got, err)
	}
}
