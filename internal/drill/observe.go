package drill

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// observeInterval is how often the observer scrapes the gateways.
const observeInterval = 250 * time.Millisecond

// Metric names the observer reads.
const (
	metricRequests = "meshfed_gateway_requests_total"
	metricDuration = "meshfed_gateway_request_duration_seconds"
)

// observer turns the client clusters' gateway metrics into a request
// log: each scrape's new outbound HTTP requests for the service become
// records spread evenly over the interval since the last scrape, by
// destination cluster and result, with their histogram bucket's upper
// bound as latency.
type observer struct {
	from    []*Gateway
	service string
	hc      *http.Client
	rec     recorder
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    map[string]string // last scrape error by cluster
}

func newObserver(from []*Gateway, service string, hc *http.Client) *observer {
	return &observer{from: from, service: service, hc: hc, stop: make(chan struct{}), errs: map[string]string{}}
}

func (o *observer) log() *recorder { return &o.rec }

func (o *observer) Start(start time.Time) {
	for _, gw := range o.from {
		o.wg.Go(func() { o.follow(gw, start) })
	}
}

func (o *observer) Stop() {
	o.once.Do(func() {
		close(o.stop)
		o.wg.Wait()
	})
}

// scrapeErrors returns the last scrape error per cluster, if any.
func (o *observer) scrapeErrors() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]string{}
	for k, v := range o.errs {
		out[k] = v
	}
	return out
}

// series is one label set's histogram: cumulative counts per bound.
type series struct {
	cluster, result string
	bounds          []float64
	cumulative      []uint64
	count           uint64
}

func (o *observer) follow(gw *Gateway, start time.Time) {
	var prev map[string]series
	var prevAt time.Duration
	tick := time.NewTicker(observeInterval)
	defer tick.Stop()
	for {
		now := time.Since(start)
		cur, err := o.scrape(gw)
		o.mu.Lock()
		if err != nil {
			o.errs[gw.Cluster] = err.Error()
		} else {
			delete(o.errs, gw.Cluster)
		}
		o.mu.Unlock()
		if err == nil {
			if prev != nil {
				o.emit(gw.Cluster, prev, cur, prevAt, now)
			}
			prev, prevAt = cur, now
		}
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
	}
}

// emit logs the requests between two scrapes.
func (o *observer) emit(client string, prev, cur map[string]series, from, to time.Duration) {
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var recs []Record
	for _, k := range keys {
		c, p := cur[k], prev[k]
		if c.count <= p.count {
			continue
		}
		errMsg := ""
		if c.result != "2xx" && c.result != "ok" {
			errMsg = "gateway result " + c.result
		}
		for b := range c.bounds {
			n := c.cumulative[b]
			if b < len(p.cumulative) {
				n -= min(n, p.cumulative[b])
			}
			if b > 0 {
				below := c.cumulative[b-1]
				if b-1 < len(p.cumulative) {
					below -= min(below, p.cumulative[b-1])
				}
				n -= min(n, below)
			}
			lat := c.bounds[b]
			if math.IsInf(lat, 1) {
				lat = 2 * c.bounds[max(0, b-1)]
			}
			for range n {
				recs = append(recs, Record{Client: client, Protocol: ProtocolHTTP, Latency: time.Duration(lat * float64(time.Second)),
					Done: true, Cluster: c.cluster, Err: errMsg})
			}
		}
	}
	for i := range recs {
		recs[i].Sent = from + time.Duration(float64(to-from)*(float64(i)+0.5)/float64(len(recs)))
		o.rec.add(recs[i])
	}
}

// scrape reads the outbound HTTP request histogram for the service from
// a gateway's /metrics, by destination cluster and result.
func (o *observer) scrape(gw *Gateway) (map[string]series, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.Admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := o.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", gw.Admin, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s/metrics: %w", gw.Admin, err)
	}
	out := map[string]series{}
	fam := fams[metricDuration]
	if fam == nil {
		return out, nil // no request yet
	}
	for _, m := range fam.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["direction"] != "outbound" || l["service"] != o.service || l["protocol"] != "http" {
			continue
		}
		h := m.GetHistogram()
		s := series{cluster: l["destination_cluster"], result: l["result"], count: h.GetSampleCount()}
		for _, b := range h.GetBucket() {
			s.bounds = append(s.bounds, b.GetUpperBound())
			s.cumulative = append(s.cumulative, b.GetCumulativeCount())
		}
		if len(s.bounds) == 0 || !math.IsInf(s.bounds[len(s.bounds)-1], 1) {
			s.bounds = append(s.bounds, math.Inf(1))
			s.cumulative = append(s.cumulative, h.GetSampleCount())
		}
		out[s.cluster+"|"+s.result] = s
	}
	return out, nil
}
