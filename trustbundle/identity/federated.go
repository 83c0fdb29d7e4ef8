package identity

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// ErrNoBundle means a peer's trust domain has no bundle: it is not
// federated (or not yet), so none of its SVIDs can be verified.
var ErrNoBundle = errors.New("identity: no bundle for the peer's trust domain")

// ErrRollback means Update was given a bundle with a lower sequence number
// than the one held for its trust domain; the held one is kept.
var ErrRollback = errors.New("identity: bundle sequence number went backwards")

// FederatedBundles is an x509bundle.Source with one bundle per trust
// domain: the local trust domain's from a local source (the gateway's own
// Workload API or files), every other one from the control plane's
// bundles given to Update. Lookups never fall back to another trust
// domain's bundle, so a peer SVID in trust domain T verifies against T's
// bundle only.
//
// It is safe for concurrent use: lookups read an immutable snapshot that
// Update replaces atomically, so handshakes never wait for an update.
type FederatedBundles struct {
	localTD spiffeid.TrustDomain
	local   x509bundle.Source
	current atomic.Pointer[map[spiffeid.TrustDomain]*parsedBundle]

	// updateMu serialises Update calls.
	updateMu sync.Mutex
}

// parsedBundle is one control-plane bundle, parsed once; never modified.
type parsedBundle struct {
	sequence uint64
	jwks     []byte
	x509     *x509bundle.Bundle
}

// NewFederatedBundles returns a source that answers for trust domain
// localTD from local and for every other trust domain from the bundles
// given to Update (none until the first Update). A nil local, or a zero
// localTD, means the local trust domain is looked up like any other. The
// control plane's copy of the local trust domain's bundle is ignored when
// local is set: the local source is the authority on its own roots and
// sees their rotation first.
func NewFederatedBundles(localTD spiffeid.TrustDomain, local x509bundle.Source) *FederatedBundles {
	f := &FederatedBundles{localTD: localTD, local: local}
	empty := map[spiffeid.TrustDomain]*parsedBundle{}
	f.current.Store(&empty)
	return f
}

// GetX509BundleForTrustDomain returns the X.509 bundle of td, or an error
// wrapping ErrNoBundle. It never blocks on Update and implements
// x509bundle.Source.
func (f *FederatedBundles) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if f.usesLocal(td) {
		return f.local.GetX509BundleForTrustDomain(td)
	}
	if b, ok := (*f.current.Load())[td]; ok {
		return b.x509, nil
	}
	return nil, fmt.Errorf("%w: %q is not federated with this gateway (add its bundle with `meshfed trust set %s --bundle FILE`)", ErrNoBundle, td, td)
}

// Sequence returns the sequence number of the control-plane bundle held
// for td, and whether one is held.
func (f *FederatedBundles) Sequence(td spiffeid.TrustDomain) (uint64, bool) {
	b, ok := (*f.current.Load())[td]
	if !ok {
		return 0, false
	}
	return b.sequence, true
}

func (f *FederatedBundles) usesLocal(td spiffeid.TrustDomain) bool {
	return f.local != nil && !f.localTD.IsZero() && td == f.localTD
}

// Update replaces the control-plane bundles with bundles, keyed by trust
// domain name as in client.State.Bundles, and publishes them atomically.
// Trust domains missing from bundles are dropped. A bundle whose sequence
// and document are unchanged is not parsed again.
//
// One bad bundle does not stop the others: for a trust domain whose
// bundle does not parse, has no X.509 authority, or has a lower sequence
// than the one held (ErrRollback), the held bundle (if any) is kept, and
// the returned error (errors.Join of one error per trust domain) says
// why. Update is safe to call from several goroutines; calls are
// serialised.
func (f *FederatedBundles) Update(bundles map[string]*meshfedv1.Bundle) error {
	f.updateMu.Lock()
	defer f.updateMu.Unlock()
	old := *f.current.Load()
	next := make(map[spiffeid.TrustDomain]*parsedBundle, len(bundles))
	var errs []error
	for name, b := range bundles {
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("identity: bundle key %q is not a valid SPIFFE trust domain name: %w", name, err))
			continue
		}
		prev := old[td]
		p, err := parseBundle(td, b, prev)
		if err != nil {
			errs = append(errs, err)
			if prev != nil {
				next[td] = prev
			}
			continue
		}
		next[td] = p
	}
	f.current.Store(&next)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

func parseBundle(td spiffeid.TrustDomain, b *meshfedv1.Bundle, prev *parsedBundle) (*parsedBundle, error) {
	if n := b.GetTrustDomain(); n != "" && n != td.Name() {
		return nil, fmt.Errorf("identity: bundle stored under %q names trust domain %q", td, n)
	}
	seq := b.GetSequence()
	if prev != nil {
		if seq < prev.sequence {
			return nil, fmt.Errorf("%w: trust domain %q: got sequence %d, hold %d", ErrRollback, td, seq, prev.sequence)
		}
		if seq == prev.sequence && bytes.Equal(b.GetJwks(), prev.jwks) {
			return prev, nil
		}
	}
	sb, err := spiffebundle.Parse(td, b.GetJwks())
	if err != nil {
		return nil, fmt.Errorf("identity: bundle of trust domain %q (sequence %d): %w", td, seq, err)
	}
	x := sb.X509Bundle()
	if x.Empty() {
		return nil, fmt.Errorf("identity: bundle of trust domain %q (sequence %d) has no X.509 authority, so no X.509-SVID of it can be verified", td, seq)
	}
	return &parsedBundle{sequence: seq, jwks: bytes.Clone(b.GetJwks()), x509: x}, nil
}
