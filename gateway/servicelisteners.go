package gateway

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"syscall"
)

// ServiceListener is a per-service TCP port opened while the gateway
// runs: in Kubernetes mode, one per port of each import, at the port the
// agent allocated and recorded on the ServiceImport.
type ServiceListener struct {
	// Service and Port (the service's port) are where connections go.
	Service ServiceName
	Port    uint32
	// Listen is the host:port to accept on.
	Listen string
}

func (l ServiceListener) String() string {
	return fmt.Sprintf("%s port %d on %s", l.Service, l.Port, l.Listen)
}

// serviceListeners is the set SetServiceListeners maintains.
type serviceListeners struct {
	mu      sync.Mutex
	byAddr  map[string]*serviceListener
	serve   func(*serviceListener) // set by Run; nil before and after
	stopped bool
}

type serviceListener struct {
	spec    ServiceListener
	target  Target
	l       net.Listener
	serving bool
}

// SetServiceListeners makes the gateway's run-time per-service listeners
// exactly ls: listeners no longer wanted stop accepting (connections
// already open carry on), new ones are bound and served. A listener that
// cannot be bound is reported in the error, which names its address, and
// the others are still applied. Safe to call before and during Run.
func (g *Gateway) SetServiceListeners(ls []ServiceListener) error {
	s := &g.services
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("gateway: stopped")
	}
	if s.byAddr == nil {
		s.byAddr = map[string]*serviceListener{}
	}
	want := map[string]ServiceListener{}
	for _, l := range ls {
		want[l.Listen] = l
	}
	for addr, cur := range s.byAddr {
		if w, ok := want[addr]; !ok || w != cur.spec {
			cur.l.Close()
			delete(s.byAddr, addr)
			g.log.Info("closed service listener", "listener", cur.spec.String())
		}
	}
	var errs []error
	addrs := make([]string, 0, len(want))
	for addr := range want {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		if _, ok := s.byAddr[addr]; ok {
			continue
		}
		spec := want[addr]
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				err = fmt.Errorf("address %s is already in use: another process holds it; choose an import port range (agent --import-ports) clear of it", addr)
			}
			errs = append(errs, fmt.Errorf("gateway: listener for %s: %w", spec, err))
			continue
		}
		sl := &serviceListener{spec: spec, target: Target{Service: spec.Service, Port: spec.Port}, l: l}
		s.byAddr[addr] = sl
		g.log.Info("opened service listener", "listener", spec.String())
		if s.serve != nil {
			sl.serving = true
			s.serve(sl)
		}
	}
	return errors.Join(errs...)
}

// ServiceListenerAddrs returns the bound addresses of the run-time
// per-service listeners, sorted.
func (g *Gateway) ServiceListenerAddrs() []string {
	s := &g.services
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byAddr))
	for _, l := range s.byAddr {
		out = append(out, l.l.Addr().String())
	}
	sort.Strings(out)
	return out
}

// start serves the listeners added so far and every later one with serve.
func (s *serviceListeners) start(serve func(*serviceListener)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serve = serve
	for _, l := range s.byAddr {
		if !l.serving {
			l.serving = true
			serve(l)
		}
	}
}

// stop closes every listener and refuses new ones.
func (s *serviceListeners) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.serve = nil
	for addr, l := range s.byAddr {
		l.l.Close()
		delete(s.byAddr, addr)
	}
}
