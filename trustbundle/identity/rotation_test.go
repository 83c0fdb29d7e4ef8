package identity_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity"
	"github.com/meshfed/meshfed/trustbundle/identity/workloadapitest"
)

// Both trust domains rotate their root while gateways A (SVID from files)
// and B (SVID from the Workload API) keep opening mTLS connections to each
// other in both directions: add the new root to every bundle, re-issue the
// leaves from it, drop the old root. No handshake may fail.
func TestRootRotationUnderTrafficDropsNoHandshake(t *testing.T) {
	t.Parallel()
	const (
		wantConns = 200
		maxTime   = 5 * time.Second
		workers   = 4
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	oldA, newA := newCA(t, "a.test"), newCA(t, "a.test")
	oldB, newB := newCA(t, "b.test"), newCA(t, "b.test")
	tdA, tdB := oldA.TrustDomain(), oldB.TrustDomain()
	svidA1, svidB1 := issue(t, oldA, "/meshfed/gateway/a/gw"), issue(t, oldB, "/meshfed/gateway/b/gw")

	// 1. Start: A reads files, B the Workload API; every bundle holds the old roots.
	filesA := newSVIDFiles(t)
	filesA.write(t, svidA1, oldA)
	srcA, err := identity.NewFileSource(filesA.config())
	if err != nil {
		t.Fatal(err)
	}
	defer srcA.Close()
	wl := workloadapitest.Start(t, t.TempDir(), svidB1, roots(tdB, oldB))
	srcB, err := identity.NewWorkloadAPISource(ctx, wl.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer srcB.Close()
	peersA := identity.NewFederatedBundles(tdA, srcA)
	peersB := identity.NewFederatedBundles(tdB, srcB)
	federate := func(seq uint64, a, b []*devca.CA) {
		t.Helper()
		if err := peersA.Update(map[string]*meshfedv1.Bundle{"b.test": bundleOf(t, seq, b...)}); err != nil {
			t.Fatal(err)
		}
		if err := peersB.Update(map[string]*meshfedv1.Bundle{"a.test": bundleOf(t, seq, a...)}); err != nil {
			t.Fatal(err)
		}
	}
	federate(1, []*devca.CA{oldA}, []*devca.CA{oldB})
	srvA := startEcho(t, identity.ServerConfig(srcA, peersA, tlsconfig.AuthorizeMemberOf(tdB)), nil)
	srvB := startEcho(t, identity.ServerConfig(srcB, peersB, tlsconfig.AuthorizeMemberOf(tdA)), nil)
	dialA := identity.ClientConfig(srcA, peersA, tlsconfig.AuthorizeMemberOf(tdB)) // A dials B
	dialB := identity.ClientConfig(srcB, peersB, tlsconfig.AuthorizeMemberOf(tdA)) // B dials A

	// 2. Traffic: workers open connections until told to stop. Each
	// records the round in which its last completed handshake started, so
	// that every step can wait until all in-flight handshakes saw it.
	var (
		round     atomic.Int64
		total     atomic.Int64
		failed    atomic.Int64
		completed [workers]atomic.Int64
		errMu     sync.Mutex
		errs      []error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, cfg := srvB.addr(), dialA
			if w%2 == 1 {
				addr, cfg = srvA.addr(), dialB
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := round.Load()
				if err := connectOnce(addr, cfg); err != nil {
					failed.Add(1)
					errMu.Lock()
					errs = append(errs, fmt.Errorf("round %d, worker %d: %w", r, w, err))
					errMu.Unlock()
				}
				total.Add(1)
				completed[w].Store(r)
			}
		}()
	}
	stopTraffic := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopTraffic()
	nextRound := func(step string) {
		t.Helper()
		r := round.Add(1)
		eventually(t, step+": every worker completed a handshake after it", func() bool {
			for w := range workers {
				if completed[w].Load() < r {
					return false
				}
			}
			return true
		})
	}
	nextRound("start")

	// 3. Add the new roots, locally and through the control plane.
	filesA.write(t, nil, oldA, newA)
	wl.Set(t, svidB1, roots(tdB, oldB, newB))
	federate(2, []*devca.CA{oldA, newA}, []*devca.CA{oldB, newB})
	eventually(t, "both own bundles hold the new root", func() bool {
		return hasRoot(srcA, tdA, newA) && hasRoot(srcB, tdB, newB)
	})
	nextRound("add new roots")

	// 4. Re-issue the leaves from the new roots.
	svidA2, svidB2 := issue(t, newA, "/meshfed/gateway/a/gw"), issue(t, newB, "/meshfed/gateway/b/gw")
	filesA.write(t, svidA2, oldA, newA)
	wl.Set(t, svidB2, roots(tdB, oldB, newB))
	eventually(t, "both sources serve the re-issued leaves", func() bool {
		return serves(srcA, svidA2) && serves(srcB, svidB2)
	})
	nextRound("re-issue leaves")

	// 5. Drop the old roots.
	filesA.write(t, nil, newA)
	wl.Set(t, svidB2, roots(tdB, newB))
	federate(3, []*devca.CA{newA}, []*devca.CA{newB})
	eventually(t, "both own bundles dropped the old root", func() bool {
		return !hasRoot(srcA, tdA, oldA) && !hasRoot(srcB, tdB, oldB)
	})
	nextRound("drop old roots")

	// 6. Keep the traffic going up to wantConns connections or maxTime.
	start := time.Now()
	for total.Load() < wantConns && time.Since(start) < maxTime {
		nextRound("more traffic")
	}
	stopTraffic()

	// 7. Observe: no failure, and the old leaves are refused now.
	t.Logf("%d connections across the rotation, %d failed", total.Load(), failed.Load())
	if n := failed.Load(); n != 0 {
		errMu.Lock()
		defer errMu.Unlock()
		t.Fatalf("%d of %d handshakes failed during root rotation; first: %v", n, total.Load(), errs[0])
	}
	if _, _, err := x509svid.Verify(svidA1.Certificates, peersB); err == nil {
		t.Fatal("B still accepts A's leaf from the dropped root")
	}
	if _, _, err := x509svid.Verify(svidB1.Certificates, peersA); err == nil {
		t.Fatal("A still accepts B's leaf from the dropped root")
	}
	c, err := dial(srvB.addr(), dialA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := peerSerial(c); got.Cmp(serial(svidB2)) != 0 {
		t.Fatalf("B presents serial %v, want the re-issued %v", got, serial(svidB2))
	}
}

func connectOnce(addr string, cfg *tls.Config) error {
	c, err := dial(addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, "ping")
}

func roots(td spiffeid.TrustDomain, cas ...*devca.CA) *x509bundle.Bundle {
	var certs []*x509.Certificate
	for _, ca := range cas {
		certs = append(certs, ca.Certificate())
	}
	return x509bundle.FromX509Authorities(td, certs)
}

func hasRoot(src x509bundle.Source, td spiffeid.TrustDomain, ca *devca.CA) bool {
	b, err := src.GetX509BundleForTrustDomain(td)
	return err == nil && b.HasX509Authority(ca.Certificate())
}

func serves(src x509svid.Source, want *x509svid.SVID) bool {
	s, err := src.GetX509SVID()
	return err == nil && serial(s).Cmp(serial(want)) == 0
}
