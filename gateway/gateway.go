package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/backoff"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
	"github.com/meshfed/meshfed/trustbundle/identity"
)

// leaseTTL is the presence lease the gateway asks for; it heartbeats at
// a third of it.
const leaseTTL = 10

// Options are the parts of a gateway that are not configuration.
type Options struct {
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// SVID, if set, replaces the identity configured in Config.Identity
	// (which is then not required): tests and embedders pass a source.
	SVID x509svid.Source
	// LocalBundle goes with SVID: the bundle of the gateway's own trust
	// domain.
	LocalBundle x509bundle.Source
	// DialService, if set, replaces the dialer of Kubernetes mode's
	// local Service DNS names (tests map them to loopback backends).
	DialService func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Gateway is one east-west gateway. New binds its listeners; Run serves
// until its context ends, then drains.
type Gateway struct {
	cfg  *Config
	log  *slog.Logger
	m    *metrics
	self spiffeid.ID

	svid        x509svid.Source
	localBundle x509bundle.Source
	closers     []func() error
	bundles     *identity.FederatedBundles

	routes      atomic.Pointer[routes]
	local       *localServices
	peers       *peers
	faults      *faults
	tunnels     tunnelSet
	stopping    chan struct{}
	lb          *balancers
	health      *healthState
	retryBudget *retryBudget
	// h1pool and h1idle serve the outbound HTTP/1.1 fast path (h1.go).
	h1pool  *h1pool
	h1conns h1Conns

	// stateMu guards state, which Follow applies watch responses to.
	stateMu sync.Mutex
	state   *client.State
	// saveCh asks the saver to write the snapshot to disk.
	saveCh chan struct{}

	cp *client.Conn

	inbound  net.Listener
	outbound net.Listener
	admin    net.Listener
	tcp      []tcpListener
	// services are the per-service listeners added at run time
	// (SetServiceListeners).
	services serviceListeners
	dialSvc  func(ctx context.Context, network, addr string) (net.Conn, error)

	conns    tracker
	draining atomic.Bool
	// haveRoutes is closed once routes come from disk or the control plane.
	haveRoutes     chan struct{}
	haveRoutesOnce sync.Once
}

type tcpListener struct {
	l      net.Listener
	target Target
	grpc   bool
}

// New validates cfg (after SetDefaults), loads the gateway's identity and
// last snapshot, and binds every listener, so a port in use fails here
// with the port named. Call Run to serve, or Close to release.
func New(cfg *Config, opts Options) (g *Gateway, err error) {
	cfg.SetDefaults()
	if opts.SVID != nil {
		cfg.Identity = IdentityConfig{WorkloadAPI: "(given)", PushBundle: cfg.Identity.PushBundle}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g = &Gateway{
		cfg:        cfg,
		log:        log.With("cluster", cfg.Cluster, "gateway", cfg.Name),
		m:          newMetrics(),
		state:      client.NewState(),
		saveCh:     make(chan struct{}, 1),
		haveRoutes: make(chan struct{}),
		local:      newLocalServices(cfg),
		lb:         newBalancers(cfg.Balancing),
		faults:     newFaults(),
		stopping:   make(chan struct{}),
		health:     &healthState{cfg: cfg.Health, m: map[string]*clusterHealth{}},
	}
	g.health.onChange = g.kickBalancers
	g.dialSvc = opts.DialService
	if g.dialSvc == nil {
		g.dialSvc = (&net.Dialer{}).DialContext
	}
	g.retryBudget = newRetryBudget(cfg.Retry)
	g.h1pool = newH1Pool(g)
	defer func() {
		if err != nil {
			g.Close()
			g = nil
		}
	}()
	if err := g.loadIdentity(opts); err != nil {
		return nil, err
	}
	g.bundles = identity.NewFederatedBundles(g.self.TrustDomain(), g.localBundle)
	g.peers = newPeers(g)
	g.routes.Store(buildRoutes(g.state, cfg.Cluster, "empty", nil))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data_dir: %w", err)
	}
	if err := g.loadSnapshot(); err != nil {
		// A damaged snapshot is not fatal: the control plane sends a new one.
		g.log.Warn("ignoring the saved snapshot", "path", g.snapshotPath(), "error", err)
	}
	if err := g.listen(); err != nil {
		return nil, err
	}
	if err := g.dialControlPlane(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *Gateway) loadIdentity(opts Options) error {
	switch {
	case opts.SVID != nil:
		g.svid, g.localBundle = opts.SVID, opts.LocalBundle
	case g.cfg.Identity.WorkloadAPI != "":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		src, err := identity.NewWorkloadAPISource(ctx, g.cfg.Identity.WorkloadAPI)
		if err != nil {
			return fmt.Errorf("gateway: identity from the Workload API at %s: %w", g.cfg.Identity.WorkloadAPI, err)
		}
		g.svid, g.localBundle = src, src
		g.closers = append(g.closers, src.Close)
	default:
		src, err := identity.NewFileSource(identity.FileSourceConfig{
			CertFile: g.cfg.Identity.Cert, KeyFile: g.cfg.Identity.Key, BundleFile: g.cfg.Identity.Bundle, Logger: g.log,
		})
		if err != nil {
			return fmt.Errorf("gateway: identity files: %w", err)
		}
		g.svid, g.localBundle = src, src
		g.closers = append(g.closers, src.Close)
	}
	svid, err := g.svid.GetX509SVID()
	if err != nil {
		return fmt.Errorf("gateway: identity: %w", err)
	}
	g.self = svid.ID
	want := gatewayPathPrefix + g.cfg.Cluster + "/" + g.cfg.Name
	if svid.ID.Path() != want {
		return fmt.Errorf("gateway: SVID %s is not this gateway's: want path %s (cluster %q, name %q); issue one with `meshfed ca issue --spiffe-id spiffe://%s%s`",
			svid.ID, want, g.cfg.Cluster, g.cfg.Name, svid.ID.TrustDomain().Name(), want)
	}
	return nil
}

func (g *Gateway) dialControlPlane() error {
	serverID, err := spiffeid.FromString(g.cfg.ControlPlane.ServerID)
	if err != nil {
		return fmt.Errorf("gateway: controlplane.server_id: %w", err)
	}
	bundle, err := x509bundle.Load(serverID.TrustDomain(), g.cfg.ControlPlane.CA)
	if err != nil {
		return fmt.Errorf("gateway: controlplane.ca %s: %w", g.cfg.ControlPlane.CA, err)
	}
	conn, err := client.DialTLS(g.cfg.ControlPlane.Address, tlsconfig.MTLSClientConfig(g.svid, bundle, tlsconfig.AuthorizeID(serverID)))
	if err != nil {
		return fmt.Errorf("gateway: control plane: %w", err)
	}
	g.cp = conn
	return nil
}

func (g *Gateway) listen() error {
	var err error
	bind := func(what, addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("gateway: %s listener: address %s is already in use; stop what holds it or choose another port", what, addr)
			}
			return nil, fmt.Errorf("gateway: %s listener on %s: %w", what, addr, err)
		}
		return l, nil
	}
	if g.inbound, err = bind("inbound", g.cfg.Listen.Inbound); err != nil {
		return err
	}
	if g.cfg.Listen.Outbound != "off" {
		if g.outbound, err = bind("outbound", g.cfg.Listen.Outbound); err != nil {
			return err
		}
	}
	if g.cfg.Listen.Admin != "off" {
		if g.admin, err = bind("admin", g.cfg.Listen.Admin); err != nil {
			return err
		}
	}
	for _, tl := range g.cfg.TCPListeners {
		svc, _ := ParseServiceName(tl.Service)
		l, err := bind("tcp "+svc.String(), tl.Listen)
		if err != nil {
			return err
		}
		g.tcp = append(g.tcp, tcpListener{l: l, target: Target{Service: svc, Port: tl.Port}, grpc: tl.Protocol == "grpc"})
	}
	return nil
}

// InboundAddr is the bound east-west address.
func (g *Gateway) InboundAddr() string { return g.inbound.Addr().String() }

// OutboundAddr is the bound forward-proxy address, or "" when off.
func (g *Gateway) OutboundAddr() string { return addrOf(g.outbound) }

// AdminAddr is the bound admin address, or "" when off.
func (g *Gateway) AdminAddr() string { return addrOf(g.admin) }

// TCPAddrs are the bound per-service TCP listener addresses, in config
// order.
func (g *Gateway) TCPAddrs() []string {
	out := make([]string, len(g.tcp))
	for i, t := range g.tcp {
		out[i] = t.l.Addr().String()
	}
	return out
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// advertise returns the addresses registered for peers to dial.
func (g *Gateway) advertise() []string {
	if len(g.cfg.Listen.Advertise) > 0 {
		return g.cfg.Listen.Advertise
	}
	addr := g.inbound.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() {
		return nil
	}
	return []string{addr.String()}
}

// Ready is closed once the gateway has routes (from the control plane or
// its saved snapshot).
func (g *Gateway) Ready() <-chan struct{} { return g.haveRoutes }

// Close releases what New acquired; Run calls it on return.
func (g *Gateway) Close() error {
	for _, l := range []net.Listener{g.inbound, g.outbound, g.admin} {
		if l != nil {
			l.Close()
		}
	}
	for _, t := range g.tcp {
		t.l.Close()
	}
	g.services.stop()
	if g.peers != nil {
		g.peers.close()
	}
	if g.cp != nil {
		g.cp.Close()
		g.cp = nil
	}
	var errs []error
	for _, c := range g.closers {
		errs = append(errs, c())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// Run serves until ctx ends, then drains: it stops accepting, lets
// in-flight connections and requests finish for up to the drain timeout,
// closes what is left, saves the snapshot and returns nil.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	goFn := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goFn(func() { g.follow(bg) })
	goFn(func() { g.register(bg) })
	goFn(func() { g.saver(bg) })
	goFn(func() { g.transitions(bg) })
	goFn(func() { g.probeLoop(bg) })
	goFn(func() { g.h1pool.sweeper(bg) })
	if g.cfg.Identity.PushBundle {
		if src, ok := g.localBundle.(identity.BundleUpdates); ok {
			goFn(func() { g.pushBundle(bg, src) })
		} else {
			g.log.Warn("identity.push_bundle: the identity source gives no bundle updates; not pushing")
		}
	}

	var adminSrv *http.Server
	if g.admin != nil {
		adminSrv = g.adminServer()
		goFn(func() { adminSrv.Serve(g.admin) })
	}
	outSrv := g.outboundServer(bg)
	if g.outbound != nil {
		hand := newHandOver(g.outbound.Addr())
		goFn(func() { outSrv.Serve(hand) })
		goFn(func() { g.serveOutbound(limitListener(g.outbound, g, "outbound"), hand) })
	}
	goFn(func() { g.acceptLoop(g.inbound, "inbound", g.handleInbound) })
	var grpcSrvs []*http.Server
	for _, t := range g.tcp {
		if t.grpc {
			srv := g.grpcServer(bg, t.target)
			grpcSrvs = append(grpcSrvs, srv)
			goFn(func() { srv.Serve(limitListener(t.l, g, "grpc")) })
			continue
		}
		goFn(func() {
			g.acceptLoop(t.l, "tcp", func(c net.Conn) { g.handleTCP(bg, c, t.target) })
		})
	}
	g.services.start(func(l *serviceListener) {
		goFn(func() {
			g.acceptLoop(l.l, "tcp", func(c net.Conn) { g.handleTCP(bg, c, l.target) })
		})
	})
	g.log.Info("gateway running", "spiffe_id", g.self, "inbound", g.InboundAddr(), "outbound", g.OutboundAddr(), "admin", g.AdminAddr())

	<-ctx.Done()
	g.draining.Store(true)
	close(g.stopping)
	g.log.Info("draining", "timeout", g.cfg.Limits.DrainTimeout.D())
	g.inbound.Close()
	if g.outbound != nil {
		g.outbound.Close()
	}
	g.h1conns.drain()
	for _, t := range g.tcp {
		t.l.Close()
	}
	g.services.stop()
	drainCtx, cancel := context.WithTimeout(context.Background(), g.cfg.Limits.DrainTimeout.D())
	defer cancel()
	var swg sync.WaitGroup
	for _, srv := range append([]*http.Server{outSrv}, grpcSrvs...) {
		swg.Add(1)
		go func() {
			defer swg.Done()
			srv.Shutdown(drainCtx)
		}()
	}
	left := g.conns.wait(drainCtx)
	swg.Wait()
	if left > 0 {
		g.log.Warn("drain timeout: closing connections still open", "connections", left)
	}
	outSrv.Close()
	for _, srv := range grpcSrvs {
		srv.Close()
	}
	g.conns.closeAll()
	stopBG()
	if adminSrv != nil {
		adminSrv.Close()
	}
	wg.Wait()
	g.conns.waitAll()
	g.peers.close()
	g.h1pool.closeIdle(true)
	if err := g.saveSnapshot(); err != nil {
		g.log.Warn("saving the snapshot", "error", err)
	}
	g.log.Info("stopped")
	return nil
}

// acceptLoop accepts until l is closed, handing each connection to handle
// on its own goroutine under the connection limit.
func (g *Gateway) acceptLoop(l net.Listener, name string, handle func(net.Conn)) {
	wait := &backoff.Exponential{Min: 5 * time.Millisecond, Max: time.Second}
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("accept", "listener", name, "error", err)
			wait.Wait(context.Background())
			continue
		}
		wait.Reset()
		c = newFastConn(c)
		if !g.conns.add(c, g.cfg.Limits.MaxConnections) {
			g.m.rejected.WithLabelValues(name, "max_connections").Inc()
			c.Close()
			continue
		}
		go func() {
			defer g.conns.remove(c)
			handle(c)
		}()
	}
}

// follow keeps the state current from the control plane's Watch stream,
// resetting it when the control plane's history went backwards (a new
// control plane), and retrying forever with back-off.
func (g *Gateway) follow(ctx context.Context) {
	wait := &backoff.Exponential{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		err := client.Follow(ctx, client.FollowConfig{
			Cluster:    g.cfg.Cluster,
			Clients:    []meshfedv1.GatewayServiceClient{g.cp.Gateway},
			State:      g.state,
			Lock:       &g.stateMu,
			MinBackoff: 100 * time.Millisecond,
			MaxBackoff: 2 * time.Second,
			OnUpdate:   func(*meshfedv1.WatchResponse) { g.update("controlplane") },
			OnError: func(_ int, err error) {
				g.m.controlPlaneUp.Set(0)
				g.log.Debug("control plane watch", "error", err)
			},
		})
		g.m.controlPlaneUp.Set(0)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, client.ErrOutOfOrder) {
			g.log.Warn("control plane state went backwards; starting over from a new snapshot (routes kept until it arrives)", "error", err)
			g.stateMu.Lock()
			g.state = client.NewState()
			g.stateMu.Unlock()
		} else {
			g.log.Warn("control plane refused the watch; retrying", "error", err)
		}
		wait.Wait(ctx)
	}
}

// update rebuilds routes and bundles from the state.
func (g *Gateway) update(source string) {
	g.stateMu.Lock()
	r := buildRoutes(g.state, g.cfg.Cluster, source, g.routes.Load())
	err := g.bundles.Update(g.state.Bundles)
	g.stateMu.Unlock()
	if err != nil {
		g.log.Warn("trust bundles", "error", err)
	}
	g.routes.Store(r)
	g.revalidate()
	g.rebalance()
	g.kickBalancers()
	g.m.snapshotVersion.Set(float64(r.version))
	if source == "controlplane" {
		g.m.controlPlaneUp.Set(1)
	}
	g.haveRoutesOnce.Do(func() { close(g.haveRoutes) })
	select {
	case g.saveCh <- struct{}{}:
	default:
	}
}

// register keeps the gateway's presence lease alive and publishes the
// cluster's exports after each (re-)registration.
func (g *Gateway) register(ctx context.Context) {
	wait := &backoff.Exponential{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		resp, err := g.cp.Gateway.Register(ctx, &meshfedv1.RegisterRequest{
			Cluster: g.cfg.Cluster, Gateway: g.cfg.Name, Instance: g.cfg.Instance, Addresses: g.advertise(), TtlSeconds: leaseTTL,
		})
		if err != nil {
			if ctx.Err() == nil {
				g.log.Debug("register", "error", err)
				if status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.InvalidArgument {
					g.log.Warn("the control plane refused this gateway's registration", "error", err)
				}
			}
			wait.Wait(ctx)
			continue
		}
		wait.Reset()
		if err := g.publish(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("publishing exports", "error", err)
		}
		ttl := time.Duration(resp.GetTtlSeconds()) * time.Second
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(ttl / 3):
			}
			if _, err := g.cp.Gateway.Heartbeat(ctx, &meshfedv1.HeartbeatRequest{Cluster: g.cfg.Cluster, Gateway: g.cfg.Name, Instance: g.cfg.Instance}); err != nil {
				if ctx.Err() == nil {
					g.log.Debug("heartbeat failed; registering again", "error", err)
				}
				break
			}
		}
	}
}

// publish writes the cluster's exports and withdraws exports the state
// shows for this cluster that the local source no longer has.
func (g *Gateway) publish(ctx context.Context) error {
	exports := g.local.exports(g.cfg.Cluster)
	want := map[string]bool{}
	for _, e := range exports {
		want[e.GetNamespace()+"/"+e.GetName()] = true
	}
	var withdraw []string
	g.stateMu.Lock()
	for key, imp := range g.state.Imports {
		for _, c := range imp.GetClusters() {
			if c.GetCluster() == g.cfg.Cluster && !want[key] {
				withdraw = append(withdraw, key)
			}
		}
	}
	g.stateMu.Unlock()
	if len(exports) == 0 && len(withdraw) == 0 {
		return nil
	}
	resp, err := g.cp.Gateway.PublishExports(ctx, &meshfedv1.PublishExportsRequest{Cluster: g.cfg.Cluster, Upserts: exports, Withdrawals: withdraw})
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range resp.GetResults() {
		if !r.GetOk() {
			errs = append(errs, fmt.Errorf("%s/%s: %s", r.GetNamespace(), r.GetName(), r.GetError()))
		}
	}
	return errors.Join(errs...)
}

// pushBundle keeps the control plane's copy of the gateway's own trust
// domain bundle current with the Workload API's.
func (g *Gateway) pushBundle(ctx context.Context, src identity.BundleUpdates) {
	identity.PushOwnBundle(ctx, src, g.self.TrustDomain(), func(ctx context.Context, jwks []byte) error {
		_, err := g.cp.Gateway.PushBundle(ctx, &meshfedv1.PushBundleRequest{Cluster: g.cfg.Cluster, Bundle: &meshfedv1.Bundle{TrustDomain: g.self.TrustDomain().Name(), Jwks: jwks}})
		return err
	}, 0, 0, func(err error) { g.log.Warn("pushing the trust bundle", "error", err) })
}

// saver writes the snapshot to disk at most every 500 ms while updates
// arrive.
func (g *Gateway) saver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.saveCh:
		}
		if err := g.saveSnapshot(); err != nil {
			g.log.Warn("saving the snapshot", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// tracker counts and can force-close the gateway's open connections.
type tracker struct {
	mu    sync.Mutex
	conns map[io.Closer]struct{}
	// idle is signalled when conns becomes empty.
	idle chan struct{}
}

func (t *tracker) add(c io.Closer, max int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil {
		t.conns = map[io.Closer]struct{}{}
	}
	if max > 0 && len(t.conns) >= max {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *tracker) remove(c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	if len(t.conns) == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// wait blocks until no connection is open or ctx ends; it returns how
// many are left.
func (t *tracker) wait(ctx context.Context) int {
	for {
		t.mu.Lock()
		n := len(t.conns)
		if n == 0 {
			t.mu.Unlock()
			return 0
		}
		if t.idle == nil {
			t.idle = make(chan struct{})
		}
		idle := t.idle
		t.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return t.count()
		}
	}
}

func (t *tracker) waitAll() { t.wait(context.Background()) }

func (t *tracker) closeAll() {
	t.mu.Lock()
	conns := make([]io.Closer, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// snapshotPath is where the last state is kept.
func (g *Gateway) snapshotPath() string { return filepath.Join(g.cfg.DataDir, "snapshot.pb") }
