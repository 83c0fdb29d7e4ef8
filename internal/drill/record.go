package drill

import (
	"slices"
	"sync"
	"time"
)

// recorder is the request log of a drill, written by the traffic source
// and read by the monitor. It is safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	recs   []Record
	done   int
	failed int
}

// add logs a request that was just sent and returns its index.
func (l *recorder) add(r Record) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	if r.Done {
		l.count(r)
	}
	return len(l.recs) - 1
}

// finish completes request i.
func (l *recorder) finish(i int, latency time.Duration, cluster, err string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &l.recs[i]
	r.Latency, r.Cluster, r.Err, r.Done = latency, cluster, err, true
	if err != "" {
		r.Cluster = ""
	}
	l.count(*r)
}

func (l *recorder) count(r Record) {
	l.done++
	if r.Err != "" {
		l.failed++
	}
}

// counts returns how many requests completed and how many of them failed.
func (l *recorder) counts() (done, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done, l.failed
}

// recent copies the requests sent in [from, now): requests still in
// flight get their age as latency (a lower bound) and Done false.
func (l *recorder) recent(from, now time.Duration) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The log is in send order but for the interleaving of the senders;
	// a second of slack covers it.
	i := len(l.recs)
	for i > 0 && l.recs[i-1].Sent >= from-time.Second {
		i--
	}
	var out []Record
	for _, r := range l.recs[i:] {
		if r.Sent < from || r.Sent >= now {
			continue
		}
		if !r.Done {
			r.Latency = now - r.Sent
		}
		out = append(out, r)
	}
	return out
}

// all copies the whole log.
func (l *recorder) all() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}
