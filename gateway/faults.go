package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault kinds a drill can inject into a gateway through its admin port.
const (
	// FaultBlackhole: the gateway stops answering peers, silently: new
	// inbound connections get no handshake and open tunnels stall, as if
	// the process were stopped.
	FaultBlackhole = "blackhole"
	// FaultLatency adds Latency before each chunk a peer sends is passed
	// on, so every request through the gateway takes that much longer.
	FaultLatency = "latency"
	// FaultTrustExpiry makes the gateway reject every peer's SVID, as if
	// the peers' trust had expired.
	FaultTrustExpiry = "trust-expiry"
)

// MaxFaultDuration caps how long an injected fault lasts: a fault always
// ends by itself, even if the drill that injected it dies.
const MaxFaultDuration = time.Hour

// Fault is one injected fault.
type Fault struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Service limits the fault to one service (NAME.NAMESPACE); empty
	// means every service. Trust expiry applies to the whole gateway.
	Service string `json:"service,omitempty"`
	// Latency is the added delay of a latency fault.
	Latency Duration `json:"latency,omitempty"`
	// Duration after which the fault removes itself (at most an hour;
	// default 5 minutes).
	Duration  Duration  `json:"duration,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// faults is the set of injected faults; handlers read it without locks.
type faults struct {
	mu      sync.Mutex
	nextID  int
	current atomic.Pointer[[]Fault]
	// changed is closed and replaced whenever the set changes, so held
	// connections wake up.
	changed atomic.Pointer[chan struct{}]
}

func newFaults() *faults {
	f := &faults{}
	empty := []Fault{}
	f.current.Store(&empty)
	ch := make(chan struct{})
	f.changed.Store(&ch)
	return f
}

func (f *faults) list(now time.Time) []Fault {
	var out []Fault
	for _, ft := range *f.current.Load() {
		if now.Before(ft.ExpiresAt) {
			out = append(out, ft)
		}
	}
	return out
}

func (f *faults) set(fs []Fault) {
	f.current.Store(&fs)
	ch := make(chan struct{})
	old := f.changed.Swap(&ch)
	close(*old)
}

// applies reports the active fault of kind for service svc (NAME.NAMESPACE;
// "" matches only unscoped faults).
func (f *faults) applies(kind, svc string, now time.Time) (Fault, bool) {
	for _, ft := range *f.current.Load() {
		if ft.Kind == kind && now.Before(ft.ExpiresAt) && (ft.Service == "" || ft.Service == svc) {
			return ft, true
		}
	}
	return Fault{}, false
}

// wait blocks while a blackhole applies to svc; it returns false if
// stop is closed first.
func (f *faults) waitBlackhole(svc string, stop <-chan struct{}) bool {
	for {
		ft, ok := f.applies(FaultBlackhole, svc, time.Now())
		if !ok {
			return true
		}
		ch := *f.changed.Load()
		select {
		case <-ch:
		case <-time.After(time.Until(ft.ExpiresAt)):
		case <-stop:
			return false
		}
	}
}

func (f *faults) add(ft Fault, now time.Time) (Fault, error) {
	switch ft.Kind {
	case FaultBlackhole, FaultTrustExpiry:
		if ft.Latency != 0 {
			return ft, fmt.Errorf("latency is only for a %q fault", FaultLatency)
		}
	case FaultLatency:
		if ft.Latency <= 0 || ft.Latency.D() > time.Minute {
			return ft, fmt.Errorf("latency %q must be between 1ns and 1m", ft.Latency.D())
		}
	default:
		return ft, fmt.Errorf("kind %q is not one of %s, %s, %s", ft.Kind, FaultBlackhole, FaultLatency, FaultTrustExpiry)
	}
	if ft.Service != "" {
		if ft.Kind == FaultTrustExpiry {
			return ft, errors.New("a trust-expiry fault applies to the whole gateway; omit service")
		}
		svc, err := ParseServiceName(ft.Service)
		if err != nil {
			return ft, err
		}
		ft.Service = svc.String()
	}
	switch {
	case ft.Duration == 0:
		ft.Duration = Duration(5 * time.Minute)
	case ft.Duration < 0 || ft.Duration.D() > MaxFaultDuration:
		return ft, fmt.Errorf("duration %s is not between 0 and %s", ft.Duration.D(), MaxFaultDuration)
	}
	ft.ExpiresAt = now.Add(ft.Duration.D())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	ft.ID = strconv.Itoa(f.nextID)
	f.set(append(f.list(now), ft))
	return ft, nil
}

func (f *faults) remove(id string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.list(now)
	keep := make([]Fault, 0, len(cur))
	found := false
	for _, ft := range cur {
		if id == "" || ft.ID == id {
			found = true
			continue
		}
		keep = append(keep, ft)
	}
	f.set(keep)
	return found || id == ""
}

// serveFaults is the fault-injection API on the admin port, enabled only
// with admin_faults: GET /faults, POST /faults (a Fault as JSON),
// DELETE /faults (all) and DELETE /faults/{id}.
func (g *Gateway) serveFaults(mux *http.ServeMux) {
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"faults": nonNil(g.faults.list(time.Now()))})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var ft Fault
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ft); err != nil {
			http.Error(w, "fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		ft.ID, ft.ExpiresAt = "", time.Time{}
		ft, err := g.faults.add(ft, time.Now())
		if err != nil {
			http.Error(w, "fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		g.log.Warn("fault injected", "id", ft.ID, "kind", ft.Kind, "service", ft.Service, "latency", ft.Latency.D(), "until", ft.ExpiresAt)
		if ft.Kind == FaultTrustExpiry {
			g.revalidate() // open tunnels lose their trust too
		}
		writeJSON(w, http.StatusCreated, ft)
	})
	del := func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !g.faults.remove(id, time.Now()) {
			http.Error(w, fmt.Sprintf("no fault %q", id), http.StatusNotFound)
			return
		}
		g.log.Warn("faults removed", "id", id)
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("DELETE /faults", del)
	mux.HandleFunc("DELETE /faults/{id}", del)
}

func nonNil(fs []Fault) []Fault {
	if fs == nil {
		return []Fault{}
	}
	return fs
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// faultConn is the peer side of an inbound tunnel: while a blackhole
// applies it neither reads nor writes, and a latency fault delays each
// chunk read from the peer.
type faultConn struct {
	net.Conn
	f    *faults
	svc  string
	stop chan struct{}
	once sync.Once
}

func (c *faultConn) Read(p []byte) (int, error) {
	if !c.f.waitBlackhole(c.svc, c.stop) {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if ft, ok := c.f.applies(FaultLatency, c.svc, time.Now()); ok {
			select {
			case <-time.After(ft.Latency.D()):
			case <-c.stop:
			}
		}
	}
	return n, err
}

func (c *faultConn) Write(p []byte) (int, error) {
	if !c.f.waitBlackhole(c.svc, c.stop) {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Close() error {
	c.once.Do(func() { close(c.stop) })
	return c.Conn.Close()
}

func (c *faultConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
