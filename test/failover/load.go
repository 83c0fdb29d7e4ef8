package failover

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Record is one request of the generator; times are offsets from the
// start of its Run.
type Record struct {
	// Sent is when the request was due (open loop: the schedule, not when
	// a busy client got to it); Done is when its response body was read
	// or it failed.
	Sent, Done time.Duration
	// Cluster that served it (the response body), "" if it failed.
	Cluster string
	// Err says why it failed: transport error or non-200 status.
	Err string
}

// Latency is Done - Sent.
func (r Record) Latency() time.Duration { return r.Done - r.Sent }

// Sample is one reading of c0's routing table during a Run.
type Sample struct {
	At time.Duration
	Table
	Err string
}

// Run is what one stretch of traffic recorded.
type Run struct {
	Start   time.Time
	Rate    int
	Records []Record // by Sent
	Samples []Sample // by At
	// Marks are named moments (faults, restarts) as offsets.
	Marks map[string]time.Duration
	// End is when the generator stopped sending.
	End time.Duration
}

// load is a running traffic generator with a table poller.
type load struct {
	e      *Env
	start  time.Time
	limit  time.Duration
	stop   chan struct{}
	gen    sync.WaitGroup
	flight sync.WaitGroup
	poll   sync.WaitGroup

	mu      sync.Mutex
	recs    []Record
	samples []Sample
	marks   map[string]time.Duration
}

// startLoad sends GETs for echo.demo through c0's forward proxy at the
// configured rate, open loop (one goroutine per request, so a slow
// response never delays the next), for at most limit or until finish;
// and polls c0's table every 50 ms.
func (e *Env) startLoad(ctx context.Context, limit time.Duration) *load {
	l := &load{e: e, start: time.Now(), limit: limit, stop: make(chan struct{}), marks: map[string]time.Duration{}}
	interval := time.Second / time.Duration(e.opts.Rate)
	l.gen.Go(func() {
		for i := 0; ; i++ {
			due := time.Duration(i) * interval
			if due >= limit {
				return
			}
			if d := time.Until(l.start.Add(due)); d > 0 {
				select {
				case <-l.stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			select {
			case <-l.stop:
				return
			default:
			}
			l.flight.Go(func() {
				rec := e.send(ctx)
				rec.Sent = due
				rec.Done = time.Since(l.start)
				l.mu.Lock()
				l.recs = append(l.recs, rec)
				l.mu.Unlock()
			})
		}
	})
	l.poll.Go(func() {
		for {
			t, err := e.table(ctx)
			s := Sample{At: time.Since(l.start), Table: t}
			if err != nil {
				s.Err = err.Error()
			}
			l.mu.Lock()
			l.samples = append(l.samples, s)
			l.mu.Unlock()
			select {
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return l
}

// send makes one request; Sent and Done are left for the caller.
func (e *Env) send(ctx context.Context) Record {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, URL, nil)
	if err != nil {
		return Record{Err: err.Error()}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return Record{Err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case err != nil:
		return Record{Err: "reading the body: " + err.Error()}
	case resp.StatusCode != http.StatusOK:
		return Record{Err: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))}
	}
	return Record{Cluster: string(b)}
}

// now returns the current offset.
func (l *load) now() time.Duration { return time.Since(l.start) }

// mark records a named moment and returns its offset.
func (l *load) mark(name string) time.Duration {
	at := l.now()
	l.mu.Lock()
	l.marks[name] = at
	l.mu.Unlock()
	return at
}

// sleepUntil waits until offset at of the run.
func (l *load) sleepUntil(ctx context.Context, at time.Duration) error {
	d := time.Until(l.start.Add(at))
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// waitSamples waits until the table poller has a sample after from for
// which cond holds, or limit passes (then it returns false).
func (l *load) waitSamples(ctx context.Context, from, limit time.Duration, cond func(Table) bool) bool {
	deadline := time.Now().Add(limit)
	seen := 0
	for time.Now().Before(deadline) {
		l.mu.Lock()
		ss := l.samples[seen:]
		seen = len(l.samples)
		l.mu.Unlock()
		for _, s := range ss {
			if s.At >= from && s.Err == "" && cond(s.Table) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(25 * time.Millisecond):
		}
	}
	return false
}

// finish stops sending, waits for the requests in flight (bounded by
// the client timeout) and returns the run.
func (l *load) finish() *Run {
	end := l.now()
	close(l.stop)
	l.gen.Wait()
	l.poll.Wait()
	l.flight.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &Run{Start: l.start, Rate: l.e.opts.Rate, Records: l.recs, Samples: l.samples, Marks: l.marks, End: min(end, l.limit)}
	sort.Slice(r.Records, func(i, j int) bool { return r.Records[i].Sent < r.Records[j].Sent })
	return r
}
