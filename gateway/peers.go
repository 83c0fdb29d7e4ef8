package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// dialError is a failure to open a connection to a cluster for a target,
// before any byte of the request was sent: safe to retry elsewhere.
type dialError struct {
	cluster string
	err     error
}

func (e *dialError) Error() string { return fmt.Sprintf("cluster %s: %v", e.cluster, e.err) }
func (e *dialError) Unwrap() error { return e.err }

// peers dials other clusters' gateways: one TLS session cache per
// cluster (TLS 1.3 resumption makes a new tunnel cheap), one HTTP
// transport per cluster so proxied HTTP requests reuse warm tunnels.
type peers struct {
	g  *Gateway
	mu sync.Mutex
	// caches and transports are keyed by cluster name.
	caches     map[string]tls.ClientSessionCache
	transports map[string]*http.Transport
	// h2 are the HTTP/2 cleartext transports of gRPC listeners.
	h2 map[string]*http.Transport
	rr atomic.Uint32
}

func newPeers(g *Gateway) *peers {
	return &peers{g: g, caches: map[string]tls.ClientSessionCache{}, transports: map[string]*http.Transport{}, h2: map[string]*http.Transport{}}
}

func (p *peers) cache(cluster string) tls.ClientSessionCache {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.caches[cluster]
	if !ok {
		c = tls.NewLRUClientSessionCache(256)
		p.caches[cluster] = c
	}
	return c
}

// transport returns the HTTP/1.1 transport whose connections are tunnels
// to cluster (or, for the gateway's own cluster, local endpoints).
func (p *peers) transport(cluster string) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[cluster]; ok {
		return t
	}
	lim := p.g.cfg.Limits
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			target, err := ParseHost(addr)
			if err != nil {
				return nil, err
			}
			return p.dial(ctx, cluster, target)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// The per-try timeout of retries: a request whose headers do not
		// come in time fails this attempt and may go to another cluster.
		ResponseHeaderTimeout:  min(p.g.cfg.Retry.PerTryTimeout.D(), lim.RequestTimeout.D()),
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: int64(lim.MaxHeaderBytes),
	}
	p.transports[cluster] = t
	return t
}

// h2transport returns the HTTP/2 cleartext transport whose connections
// are tunnels to cluster: gRPC calls to one cluster share one tunnel per
// service, as streams.
func (p *peers) h2transport(cluster string) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.h2[cluster]; ok {
		return t
	}
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			target, err := ParseHost(addr)
			if err != nil {
				return nil, err
			}
			return p.dial(ctx, cluster, target)
		},
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: int64(p.g.cfg.Limits.MaxHeaderBytes),
	}
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	p.h2[cluster] = t
	return t
}

// dial opens a connection for target to cluster: to a local endpoint
// when cluster is this gateway's own, else an mTLS tunnel to one of the
// cluster's gateways, trying each of its addresses once.
func (p *peers) dial(ctx context.Context, cluster string, t Target) (net.Conn, error) {
	g := p.g
	if cluster == g.cfg.Cluster {
		c, _, err := g.dialLocal(ctx, t)
		if err != nil {
			return nil, &dialError{cluster, err}
		}
		return c, nil
	}
	pc := g.routes.Load().clusters[cluster]
	if pc == nil || len(pc.addrs) == 0 {
		return nil, &dialError{cluster, errors.New("no gateway address known")}
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Limits.ConnectTimeout.D())
	defer cancel()
	start := int(p.rr.Add(1))
	var errs []error
	for i := range pc.addrs {
		addr := pc.addrs[(start+i)%len(pc.addrs)]
		var d net.Dialer
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tc := tls.Client(newFastConn(raw), g.clientTLS(cluster, t, p.cache(cluster)))
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			g.m.handshakeFailures.WithLabelValues("outbound", handshakeReason(err)).Inc()
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		return tc, nil
	}
	return nil, &dialError{cluster, errors.Join(errs...)}
}

// dialLocal connects to a ready local endpoint of t, trying each once;
// the returned connection releases its least-request slot on Close.
func (g *Gateway) dialLocal(ctx context.Context, t Target) (net.Conn, string, error) {
	lp, ok := g.local.lookup(t)
	if !ok {
		if addr, ok := g.kubeServiceAddr(t); ok {
			ctx, cancel := context.WithTimeout(ctx, g.cfg.Limits.ConnectTimeout.D())
			defer cancel()
			c, err := g.dialSvc(ctx, "tcp", addr)
			if err != nil {
				return nil, addr, err
			}
			return newFastConn(c), addr, nil
		}
		return nil, "", fmt.Errorf("no ready local endpoint for %s", t)
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Limits.ConnectTimeout.D())
	defer cancel()
	var errs []error
	for range lp.addrs {
		i := lp.pick(g.local.leastRequest)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", lp.addrs[i])
		if err != nil {
			lp.done(i)
			errs = append(errs, err)
			continue
		}
		return &releaseConn{Conn: newFastConn(c), release: func() { lp.done(i) }}, lp.addrs[i], nil
	}
	return nil, "", errors.Join(errs...)
}

// kubeServiceAddr is, in Kubernetes mode, the Service DNS name and port
// of a service this cluster exports (NAME.NAMESPACE.svc.DOMAIN:PORT);
// kube-proxy balances across its ready endpoints. Services this cluster
// does not export are refused, so peers cannot reach arbitrary Services.
func (g *Gateway) kubeServiceAddr(t Target) (string, bool) {
	k := g.cfg.Kubernetes
	if k == nil {
		return "", false
	}
	route, ok := g.routes.Load().services[t.Service.Key()]
	if !ok {
		return "", false
	}
	exported := false
	for _, c := range route.imp.GetClusters() {
		if c.GetCluster() == g.cfg.Cluster {
			exported = true
		}
	}
	p, ok := resolvePort(route.imp, t.Port)
	if !exported || !ok {
		return "", false
	}
	host := t.Service.Name + "." + t.Service.Namespace + ".svc." + k.ClusterDomain
	return net.JoinHostPort(host, strconv.Itoa(int(p.GetPort()))), true
}

// releaseConn calls release once when closed; it keeps TCP half-close.
type releaseConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *releaseConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// NetConn returns the connection underneath.
func (c *releaseConn) NetConn() net.Conn { return c.Conn }

func (c *releaseConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
	for _, t := range p.h2 {
		t.CloseIdleConnections()
	}
}

// pickAndDial chooses a cluster for t with the service's picker and
// connects, failing over to another cluster when a dial fails (up to
// three clusters).
func (g *Gateway) pickAndDial(ctx context.Context, t Target) (net.Conn, string, error) {
	bal := g.lb.get(t.Service.Key())
	if bal == nil {
		return nil, "", errNoRoute
	}
	known := len(g.routes.Load().clusters)
	var tried []string
	var errs []error
	for n := 0; n < g.cfg.Retry.Attempts; n++ {
		cluster, ok := bal.Pick(skipper(tried))
		if !ok {
			break
		}
		tried = append(tried, cluster)
		c, err := g.peers.dial(ctx, cluster, t)
		if cluster != g.cfg.Cluster {
			g.health.observe(cluster, err == nil, known, time.Now())
		}
		if err == nil {
			return c, cluster, nil
		}
		g.log.Debug("dial failed; trying another cluster", "target", t.String(), "cluster", cluster, "error", err)
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", errUnavailable
	}
	return nil, tried[0], errors.Join(errs...)
}

var (
	errNoRoute     = errors.New("no such clusterset service")
	errUnavailable = errors.New("no healthy cluster exports the service")
)

// CloseIdleTunnels closes the idle keep-alive tunnels of proxied HTTP, so
// the next requests open (and handshake) new ones.
func (g *Gateway) CloseIdleTunnels() {
	g.peers.close()
	g.h1pool.closeIdle(false)
}
