package drill

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/meshfed/meshfed/gateway"
)

// tableInterval is how often the client clusters' routing tables are read.
const tableInterval = 100 * time.Millisecond

// tablePoller reads each client cluster's gateway routing table for the
// service (/debug/routes) to see when the gateways react to the fault.
type tablePoller struct {
	from    []*Gateway
	service string
	scope   []string
	hc      *http.Client
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu      sync.Mutex
	samples []RouteSample
	errors  int
}

func newTablePoller(from []*Gateway, service string, scope []string, hc *http.Client) *tablePoller {
	return &tablePoller{from: from, service: service, scope: scope, hc: hc, stop: make(chan struct{})}
}

func (p *tablePoller) Start(start time.Time) {
	for _, gw := range p.from {
		if gw.Admin == "" {
			continue
		}
		p.wg.Go(func() {
			tick := time.NewTicker(tableInterval)
			defer tick.Stop()
			for {
				s, ok := p.read(gw)
				p.mu.Lock()
				if ok {
					// The answer's time: a table read across the injection
					// is never taken for the state before it.
					s.At = time.Since(start)
					p.samples = append(p.samples, s)
				} else {
					p.errors++
				}
				p.mu.Unlock()
				select {
				case <-p.stop:
					return
				case <-tick.C:
				}
			}
		})
	}
}

func (p *tablePoller) Stop() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
	})
}

// result returns the samples and how many reads failed.
func (p *tablePoller) result() ([]RouteSample, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.samples), p.errors
}

func (p *tablePoller) read(gw *Gateway) (RouteSample, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.Admin+"/debug/routes?service="+url.QueryEscape(p.service), nil)
	if err != nil {
		return RouteSample{}, false
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return RouteSample{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return RouteSample{}, false
	}
	var d gateway.DebugRoutes
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return RouteSample{}, false
	}
	s := RouteSample{Client: gw.Cluster}
	for _, t := range d.Services {
		if t.Service != p.service {
			continue
		}
		for _, row := range t.Targets {
			if !slices.Contains(p.scope, row.Cluster) {
				continue
			}
			s.ScopeShare += row.Share
			if !row.Healthy || row.Excluded {
				s.ScopeUnhealthy = true
			}
		}
		return s, true
	}
	return RouteSample{}, false
}
