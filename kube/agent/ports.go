package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meshfed/meshfed/kube/mcsapi"
)

// PortRange is an inclusive range of gateway ports for imported services.
type PortRange struct{ First, Last int }

// DefaultImportPorts is the default range of per-service gateway ports.
var DefaultImportPorts = PortRange{First: 17000, Last: 17999}

// ParsePortRange parses "FIRST-LAST".
func ParsePortRange(s string) (PortRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(a)
	last, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q is not FIRST-LAST, for example 17000-17999", s)
	}
	r := PortRange{First: first, Last: last}
	return r, r.Validate()
}

// Validate checks the range is within 1024-65535 and not empty.
func (r PortRange) Validate() error {
	if r.First < 1024 || r.Last > 65535 || r.First > r.Last {
		return fmt.Errorf("port range %s must be FIRST-LAST with 1024 <= FIRST <= LAST <= 65535", r)
	}
	return nil
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

func (r PortRange) contains(p int) bool { return p >= r.First && p <= r.Last }

// allocator hands out gateway ports from a range, one owner (a service,
// "namespace/name") per port. It is used by the single import worker, so
// it needs no lock.
type allocator struct {
	r     PortRange
	owner map[int]string
	// freed holds ports given back less than portQuarantine ago: nodes
	// whose kube-proxy still has the old service's rules would send its
	// connections to the port's next owner.
	freed map[int]time.Time
	now   func() time.Time
}

// portQuarantine is how long a released gateway port stays unused.
const portQuarantine = 2 * time.Minute

func newAllocator(r PortRange) *allocator {
	return &allocator{r: r, owner: map[int]string{}, freed: map[int]time.Time{}, now: time.Now}
}

// free reports whether p can go to svc: unowned (or svc's) and not in
// quarantine.
func (a *allocator) free(p int, svc string) bool {
	if o := a.owner[p]; o != "" {
		return o == svc
	}
	if at, ok := a.freed[p]; ok {
		if a.now().Sub(at) < portQuarantine {
			return false
		}
		delete(a.freed, p)
	}
	return true
}

// assign returns the ports of svc for keys: a port svc already holds
// (from have) is kept when it is in range and not held by another
// service; others get the lowest free port. Ports svc held but no longer
// needs are released. It fails, assigning nothing new, when the range is
// exhausted.
func (a *allocator) assign(svc string, have mcsapi.GatewayPorts, keys []string) (mcsapi.GatewayPorts, error) {
	out := mcsapi.GatewayPorts{}
	for _, k := range keys {
		if p, ok := have[k]; ok && a.r.contains(p) && (a.owner[p] == svc || a.owner[p] == "") && !uses(out, p) {
			out[k] = p
		}
	}
	next := a.r.First
	for _, k := range keys {
		if _, ok := out[k]; ok {
			continue
		}
		for next <= a.r.Last && (!a.free(next, svc) || uses(out, next)) {
			next++
		}
		if next > a.r.Last {
			return nil, fmt.Errorf("no free gateway port for %s port %q: all %d ports of --import-ports %s are in use; widen the range",
				svc, k, a.r.Last-a.r.First+1, a.r)
		}
		out[k] = next
		next++
	}
	a.release(svc)
	for _, p := range out {
		a.owner[p] = svc
		delete(a.freed, p)
	}
	return out, nil
}

// reserve records ports found on an existing ServiceImport (at start),
// skipping ports out of range or already owned.
func (a *allocator) reserve(svc string, ports mcsapi.GatewayPorts) {
	for _, p := range ports {
		if a.r.contains(p) && a.owner[p] == "" {
			a.owner[p] = svc
		}
	}
}

// release frees every port of svc, into quarantine.
func (a *allocator) release(svc string) {
	for p, o := range a.owner {
		if o == svc {
			delete(a.owner, p)
			a.freed[p] = a.now()
		}
	}
}

func uses(g mcsapi.GatewayPorts, p int) bool {
	for _, v := range g {
		if v == p {
			return true
		}
	}
	return false
}
