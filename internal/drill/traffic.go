package drill

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/gateway"
)

// trafficSource produces the drill's request log: the built-in generator
// or the metrics observer.
type trafficSource interface {
	// Start begins at start (the drill's time zero); it does not block.
	Start(start time.Time)
	// Stop ends the traffic and waits for requests in flight (at most
	// the request timeout); it is safe to call more than once.
	Stop()
	log() *recorder
}

// generatorConfig is what the built-in generator sends.
type generatorConfig struct {
	From      []*Gateway
	Service   gateway.ServiceName
	Protocols []string
	Rate      int
	Timeout   time.Duration
	HTTPPort  int
	GRPCPort  int
	// Clusters are the names a response may carry.
	Clusters []string
}

// generator sends requests open loop: each (client cluster, protocol)
// pair sends Rate requests per second on schedule, whether or not the
// earlier ones have answered.
type generator struct {
	cfg      generatorConfig
	rec      recorder
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // senders
	flight   sync.WaitGroup // requests
	// ctx bounds requests; cancelled only after Stop's grace period.
	ctx     context.Context
	cancel  context.CancelFunc
	closers []func()
	senders []sender
}

// senders are the per-(client, protocol) request functions.
type sender struct {
	client, protocol string
	do               func(ctx context.Context) (cluster, errMsg string)
}

func newGenerator(cfg generatorConfig) (*generator, error) {
	g := &generator{cfg: cfg, stop: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for _, gw := range cfg.From {
		for _, p := range cfg.Protocols {
			s := sender{client: gw.Cluster, protocol: p}
			switch p {
			case ProtocolHTTP:
				s.do = g.httpSender(gw)
			case ProtocolGRPC:
				do, closeFn, err := g.grpcSender(gw)
				if err != nil {
					g.close()
					return nil, err
				}
				s.do = do
				g.closers = append(g.closers, closeFn)
			}
			g.senders = append(g.senders, s)
		}
	}
	return g, nil
}

func (g *generator) log() *recorder { return &g.rec }

// Start runs the senders from start on.
func (g *generator) Start(start time.Time) {
	interval := time.Second / time.Duration(g.cfg.Rate)
	// Requests in flight per sender, at most: a full timeout's worth.
	limit := max(64, int(float64(g.cfg.Rate)*g.cfg.Timeout.Seconds())+16)
	for _, s := range g.senders {
		g.wg.Go(func() {
			inflight := make(chan struct{}, limit)
			timer := time.NewTimer(0)
			defer timer.Stop()
			for i := 0; ; i++ {
				due := time.Duration(i) * interval
				if d := time.Until(start.Add(due)); d > 0 {
					timer.Reset(d)
					select {
					case <-g.stop:
						return
					case <-timer.C:
					}
				} else {
					select {
					case <-g.stop:
						return
					default:
					}
				}
				// Sent is when the request really starts: a sender that woke
				// late must not put it before a fault or rollback it followed.
				sent := time.Since(start)
				idx := g.rec.add(Record{Client: s.client, Protocol: s.protocol, Sent: sent})
				select {
				case inflight <- struct{}{}:
				default:
					g.rec.finish(idx, 0, "", fmt.Sprintf("generator: %d requests in flight already", limit))
					continue
				}
				g.flight.Go(func() {
					defer func() { <-inflight }()
					ctx, cancel := context.WithTimeout(g.ctx, g.cfg.Timeout)
					cluster, errMsg := s.do(ctx)
					cancel()
					g.rec.finish(idx, time.Since(start)-sent, cluster, errMsg)
				})
			}
		})
	}
}

// Stop stops sending and waits for the requests in flight.
func (g *generator) Stop() {
	g.stopOnce.Do(func() {
		close(g.stop)
		g.wg.Wait()
		done := make(chan struct{})
		go func() { g.flight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(g.cfg.Timeout + time.Second):
			g.cancel()
			<-done
		}
		g.close()
	})
}

func (g *generator) close() {
	g.cancel()
	for _, c := range g.closers {
		c()
	}
}

// httpSender GETs http://SERVICE:PORT/ through the client cluster's
// forward proxy, on keep-alive connections.
func (g *generator) httpSender(gw *Gateway) func(ctx context.Context) (string, string) {
	tr := &http.Transport{
		Proxy:               http.ProxyURL(gw.ForwardProxy),
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	g.closers = append(g.closers, tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	target := "http://" + net.JoinHostPort(g.cfg.Service.Host(), strconv.Itoa(g.cfg.HTTPPort)) + "/"
	return func(ctx context.Context) (string, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return "", err.Error()
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", shortError(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return "", "reading the response: " + shortError(err)
		}
		if resp.StatusCode/100 != 2 {
			return "", fmt.Sprintf("HTTP %d: %s", resp.StatusCode, firstLine(body))
		}
		c := servingCluster(g.cfg.Clusters, body, resp.Header.Get("X-Meshfed-Cluster"))
		if c == "" {
			return "", "the response names no known cluster: " + firstLine(body)
		}
		return c, ""
	}
}

// grpcServiceConfig retries UNAVAILABLE, as clients of idempotent calls
// do: a tunnel that breaks when its cluster dies fails the calls on it.
const grpcServiceConfig = `{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],
 "retryPolicy":{"maxAttempts":3,"initialBackoff":"0.02s","maxBackoff":"0.2s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`

// grpcSender makes UnaryCalls of grpc.testing.TestService on
// SERVICE:PORT through a CONNECT tunnel of the forward proxy.
func (g *generator) grpcSender(gw *Gateway) (func(ctx context.Context) (string, string), func(), error) {
	target := net.JoinHostPort(g.cfg.Service.Host(), strconv.Itoa(g.cfg.GRPCPort))
	cc, err := grpc.NewClient("passthrough:///"+target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(connectDialer(gw.ForwardProxy.Host)),
		grpc.WithDefaultServiceConfig(grpcServiceConfig))
	if err != nil {
		return nil, nil, fmt.Errorf("drill: gRPC client for %s through %s: %w", target, gw.ForwardProxy, err)
	}
	client := testpb.NewTestServiceClient(cc)
	do := func(ctx context.Context) (string, string) {
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{FillServerId: true})
		if err != nil {
			st := status.Convert(err)
			return "", "gRPC " + st.Code().String() + ": " + firstLine([]byte(st.Message()))
		}
		c := servingCluster(g.cfg.Clusters, resp.GetPayload().GetBody(), resp.GetServerId())
		if c == "" {
			c = servingCluster(g.cfg.Clusters, nil, resp.GetHostname())
		}
		if c == "" {
			return "", "the response names no known cluster"
		}
		return c, ""
	}
	return do, func() { cc.Close() }, nil
}

// connectDialer dials target through the HTTP proxy at proxyAddr with
// CONNECT, the request grpc-go's own proxy support sends.
func connectDialer(proxyAddr string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, target string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", proxyAddr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: target}, Host: target, Header: http.Header{}}
		if err := req.Write(c); err != nil {
			c.Close()
			return nil, err
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			c.Close()
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			c.Close()
			return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
		}
		c.SetDeadline(time.Time{})
		return &bufferedConn{Conn: c, r: br}, nil
	}
}

// bufferedConn reads through the reader that may hold bytes read ahead.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// servingCluster finds which of clusters served a response: the
// "cluster" field of a JSON body (the demo backends of `meshfed up`),
// else hint (a header or the gRPC server id), else the only cluster name
// that appears in the body as a word.
func servingCluster(clusters []string, body []byte, hint string) string {
	known := func(c string) bool {
		for _, k := range clusters {
			if k == c {
				return true
			}
		}
		return false
	}
	var doc struct {
		Cluster string `json:"cluster"`
	}
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &doc) == nil && known(doc.Cluster) {
		return doc.Cluster
	}
	if h := strings.TrimSpace(hint); known(h) {
		return h
	}
	var found string
	for _, c := range clusters {
		if containsWord(body, c) {
			if found != "" && !strings.Contains(c, found) && !strings.Contains(found, c) {
				return "" // ambiguous
			}
			if len(c) > len(found) {
				found = c
			}
		}
	}
	return found
}

// containsWord reports whether w occurs in b delimited by non-name bytes.
func containsWord(b []byte, w string) bool {
	isName := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(w))
		if i < 0 {
			return false
		}
		i += off
		j := i + len(w)
		if (i == 0 || !isName(b[i-1])) && (j == len(b) || !isName(b[j])) {
			return true
		}
		off = i + 1
	}
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// shortError keeps what a person needs of a client error: the url.Error
// wrapping says nothing new.
func shortError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}
