package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
	"github.com/meshfed/meshfed/internal/devca"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// echoSNI is the SNI a peer gateway sends for echo.demo:8080.
const echoSNI = "8080.echo.demo.svc.clusterset.local"

// echoURL is echo.demo:8080 as a local client asks east's proxy for it.
const echoURL = "http://echo.demo.svc.clusterset.local:8080"

// TestInboundRefusesUnauthenticatedPeers: west's inbound listener
// refuses every peer that is not a gateway of a federated cluster, with
// the reason counted, and none of them reaches the backend; east's real
// gateway SVID gets through.
func TestInboundRefusesUnauthenticatedPeers(t *testing.T) {
	t.Parallel()
	backend := startCountingBackend(t, clusterHandler("west"))
	p := startPair(t, backend.addr, nil)
	east := p.fed.Clusters["east"]

	rogueCA, err := devca.New(spiffeid.RequireTrustDomainFromString("rogue.test"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// An impostor CA for east's own trust domain: right name, wrong key.
	forgedCA, err := devca.New(east.TD, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *devca.CA, id string, ttl time.Duration) *x509svid.SVID {
		t.Helper()
		svid, err := ca.IssueSVID(spiffeid.RequireFromString(id), ttl, devca.SVIDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svid
	}

	for _, tc := range []struct {
		name   string
		svid   *x509svid.SVID // nil: no client certificate
		reason string
		alert  string
	}{
		{"trust domain not federated", issue(rogueCA, "spiffe://rogue.test/meshfed/gateway/rogue/gw", time.Hour), "unknown_trust_domain", "bad certificate"},
		{"federated trust domain, forged CA", issue(forgedCA, "spiffe://east.test/meshfed/gateway/east/gw", time.Hour), "untrusted", "bad certificate"},
		{"no client certificate", nil, "no_certificate", "certificate required"},
		{"workload, not a gateway", issue(east.CA, "spiffe://east.test/workload", time.Hour), "not_gateway", "bad certificate"},
		{"gateway ID of another trust domain's cluster", issue(east.CA, "spiffe://east.test/meshfed/gateway/west/gw", time.Hour), "unknown_cluster", "bad certificate"},
		// NotAfter a second ago (NotBefore is a minute back).
		{"expired gateway SVID", issue(east.CA, east.GatewayID("gw").String(), -time.Second), "expired", "bad certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refusedPeer(p.west, tc.svid)
			if err == nil || !strings.Contains(err.Error(), tc.alert) {
				t.Fatalf("got error %v, want the TLS alert %q", err, tc.alert)
			}
			// West counts the failure after sending its alert.
			waitMetric(t, p.west, "meshfed_gateway_handshake_failures_total", map[string]string{"direction": "inbound", "reason": tc.reason}, 1)
		})
	}
	if n := gatewayMetric(t, p.west, "meshfed_gateway_handshake_failures_total", nil); n != 6 {
		t.Fatalf("handshake failures in all = %v, want 6 (one per refused peer)", n)
	}
	if n := backend.conns.Load(); n != 0 {
		t.Fatalf("a refused peer reached the backend: %d connections", n)
	}

	// Control: east's own gateway SVID, same client code, gets through.
	svid := issue(east.CA, east.GatewayID("gw").String(), time.Hour)
	body, err := peerGet(p.west, svid)
	if err != nil || body != "west GET /probe" {
		t.Fatalf("east's gateway SVID: %q, %v", body, err)
	}
	if n := backend.conns.Load(); n != 1 {
		t.Fatalf("backend connections = %d, want 1", n)
	}
}

// TestExpiredSVIDStopsNewTunnels: east's gateway runs with an SVID valid
// for a few seconds. Before it expires a tunnel to west works; after, a
// new tunnel is refused by west with reason "expired" and the client
// gets 502. Go's TLS client presents its expired certificate without
// complaint, and in TLS 1.3 the client's side of the handshake is done
// before the server checks that certificate, so east counts no outbound
// handshake failure: west's alert arrives when east reads the response.
func TestExpiredSVIDStopsNewTunnels(t *testing.T) {
	t.Parallel()
	const ttl = 3 * time.Second
	backend := startCountingBackend(t, clusterHandler("west"))
	fed := gatewaytest.New(t, gatewaytest.ClusterSpec{Name: "east"}, gatewaytest.ClusterSpec{Name: "west"})
	wcfg := fed.Config("west")
	wcfg.Services = echoService(backend.addr)
	west := gatewaytest.Start(t, wcfg)

	// 1. East starts with a short-lived SVID.
	ec := fed.Clusters["east"]
	ecfg := fed.Config("east")
	ecfg.Identity.Cert, ecfg.Identity.Key = ec.IssueSVID(t, "gw-short", ec.GatewayID("gw"), ttl)
	// No active probes: each would be one more refused handshake at west
	// (TestProbeSeesPeerRefusal covers them).
	ecfg.Health.ProbeInterval = -1
	short, err := x509svid.Load(ecfg.Identity.Cert, ecfg.Identity.Key)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := short.Certificates[0].NotAfter
	east := gatewaytest.Start(t, ecfg)
	gatewaytest.WaitRoutable(t, east, "echo.demo", "west")

	// 2. While it is valid, a tunnel works. CONNECT dials a tunnel of its
	// own, so no pooled tunnel outlives the SVID.
	c := dialConnect(t, east, "echo.demo.svc.clusterset.local:8080")
	code, body := requestOver(t, c, "/before")
	c.Close()
	if code != 200 || body != "west GET /before" {
		t.Fatalf("before expiry (%v left): %d %q", time.Until(notAfter), code, body)
	}
	if time.Now().After(notAfter) {
		t.Fatalf("the SVID expired before the first request: raise ttl (%v)", ttl)
	}

	// 3. Once it has expired, a new tunnel is refused.
	<-time.After(time.Until(notAfter) + 100*time.Millisecond)
	code, body = get(t, proxyClient(t, east), echoURL+"/after")
	if code != http.StatusBadGateway {
		t.Fatalf("after expiry: %d %q, want 502", code, body)
	}
	// West counts the failure after sending its alert, and east its
	// request after answering: wait for both.
	waitMetric(t, west, "meshfed_gateway_handshake_failures_total", map[string]string{"direction": "inbound", "reason": "expired"}, 1)
	waitMetric(t, east, "meshfed_gateway_requests_total", map[string]string{"direction": "outbound", "service": "echo.demo", "result": "5xx"}, 1)
	// East sees west's alert only when it reads the response (TLS 1.3),
	// and counts it as a refusal by the peer (safe to send elsewhere).
	if n := gatewayMetric(t, east, "meshfed_gateway_handshake_failures_total", map[string]string{"direction": "outbound", "reason": "refused_by_peer"}); n != 1 {
		t.Fatalf("east outbound refused_by_peer handshake failures = %v, want 1", n)
	}
	if n := backend.conns.Load(); n != 1 {
		t.Fatalf("backend connections = %d, want 1 (the one before expiry)", n)
	}
}

// TestAuthorizationPolicy: west enforces demo/echo's authorization policy
// on every new tunnel. Each step puts a policy with a different number of
// rules, so west's /debug/snapshot shows when it has arrived; the rules
// that are not the point of a step name nobody.
func TestAuthorizationPolicy(t *testing.T) {
	t.Parallel()
	// Connection: close makes every request through east open a new
	// tunnel, which west authorizes afresh.
	backend := startCountingBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		clusterHandler("west").ServeHTTP(w, r)
	}))
	p := startPair(t, backend.addr, nil)
	c := proxyClient(t, p.east)
	nobody := `{"cluster":"nobody"}`
	denials := map[string]string{"source_cluster": "east", "service": "echo.demo"}
	denied := map[string]string{"direction": "inbound", "source_cluster": "east", "service": "echo.demo", "result": "denied"}

	var wantDenials, wantConns float64
	for i, step := range []struct {
		name  string
		rule  string
		allow bool
	}{
		{"only cluster nobody", nobody, false},
		{"cluster east", `{"cluster":"east"}`, true},
		{"trust domain west.test", `{"trust_domain":"west.test"}`, false},
		{"trust domain east.test", `{"trust_domain":"east.test"}`, true},
		{"east's workloads, not its gateway", `{"spiffe_id":"spiffe://east.test/workload/*"}`, false},
		{"east's gateways", `{"spiffe_id":"spiffe://east.test/meshfed/gateway/east/*"}`, true},
		{"east's gateway named gw exactly", `{"spiffe_id":"spiffe://east.test/meshfed/gateway/east/gw"}`, true},
		{"trust domain east.test and cluster west", `{"trust_domain":"east.test","cluster":"west"}`, false},
	} {
		rules := step.rule + strings.Repeat(","+nobody, i)
		putAuthorization(t, p, `{"allow":[`+rules+`]}`)
		gatewaytest.WaitFor(t, "west to enforce policy "+strconv.Itoa(i), func() bool {
			return p.west.DebugSnapshot().Policies["demo/echo"].Rules == i+1
		})
		code, body := get(t, c, echoURL+"/authz")
		if step.allow {
			wantConns++
			if code != 200 || body != "west GET /authz" {
				t.Fatalf("step %d (%s): %d %q, want 200", i, step.name, code, body)
			}
		} else {
			wantDenials++
			if code != http.StatusBadGateway {
				t.Fatalf("step %d (%s): %d %q, want 502", i, step.name, code, body)
			}
		}
		if n := gatewayMetric(t, p.west, "meshfed_gateway_authz_denials_total", denials); n != wantDenials {
			t.Fatalf("step %d (%s): authz denials %v = %v, want %v", i, step.name, denials, n, wantDenials)
		}
		if n := gatewayMetric(t, p.west, "meshfed_gateway_requests_total", denied); n != wantDenials {
			t.Fatalf("step %d (%s): requests %v = %v, want %v", i, step.name, denied, n, wantDenials)
		}
		if n := float64(backend.conns.Load()); n != wantConns {
			t.Fatalf("step %d (%s): backend connections = %v, want %v", i, step.name, n, wantConns)
		}
	}
}

// TestProbeSeesPeerRefusal: east's active probes of west fail once west
// stops trusting east (east.test's bundle deleted from the control
// plane), and pass again once it is back. In TLS 1.3 a client's side of
// the handshake ends before the server has checked the client's
// certificate, so a probe that only handshakes cannot tell.
func TestProbeSeesPeerRefusal(t *testing.T) {
	t.Parallel()
	p := startPair(t, serveHTTP(t, clusterHandler("west")), func(cfg *gateway.Config) {
		cfg.Health.ProbeInterval = gateway.Duration(200 * time.Millisecond)
	})
	east := p.fed.Clusters["east"]
	probe := func() gateway.DebugClusterHealth { return p.east.DebugRoutes().Health["west"] }

	// 1. Probes pass.
	gatewaytest.WaitFor(t, "a passing probe of west", func() bool {
		h := probe()
		return !h.LastProbe.IsZero() && !h.ProbeFailing
	})

	// 2. West no longer trusts east.test: probes fail.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.fed.Admin.Admin.DeleteBundle(ctx, &meshfedv1.DeleteBundleRequest{TrustDomain: east.TD.Name()}); err != nil {
		t.Fatal(err)
	}
	gatewaytest.WaitFor(t, "west to refuse east's probes", func() bool {
		return gatewayMetric(t, p.west, "meshfed_gateway_handshake_failures_total", map[string]string{"direction": "inbound", "reason": "unknown_trust_domain"}) >= 1
	})
	gatewaytest.WaitFor(t, "east's probes of west to fail", func() bool { return probe().ProbeFailing })
	if h := probe(); !strings.Contains(h.LastError, "bad certificate") {
		t.Fatalf("probe error %q, want west's bad certificate alert", h.LastError)
	}

	// 3. The bundle is back: probes pass again.
	jwks, err := east.CA.SPIFFEBundle(2, 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.fed.Admin.Admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: &meshfedv1.Bundle{TrustDomain: east.TD.Name(), Jwks: jwks}}); err != nil {
		t.Fatal(err)
	}
	gatewaytest.WaitFor(t, "east's probes of west to pass again", func() bool { return !probe().ProbeFailing })
}

func putAuthorization(t *testing.T, p *pair, doc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.fed.Admin.Admin.PutPolicy(ctx, &meshfedv1.PutPolicyRequest{Policy: &meshfedv1.Policy{
		Namespace: "demo", Name: "echo", Kind: "authorization", Document: []byte(doc),
	}}); err != nil {
		t.Fatalf("put policy %s: %v", doc, err)
	}
}

// dialPeer connects to gw's inbound listener as a peer gateway would,
// presenting svid (no certificate when nil) and asking for echo.demo:8080.
func dialPeer(gw *gatewaytest.Gateway, svid *x509svid.SVID) (*tls.Conn, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: echoSNI, InsecureSkipVerify: true}
	if svid != nil {
		conf.GetClientCertificate = tlsconfig.GetClientCertificate(svid)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", gw.InboundAddr(), conf)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, nil
}

// refusedPeer dials gw as dialPeer does and returns the error that ends
// the connection before any byte is read. In TLS 1.3 the server checks
// the client's certificate after the client's side of the handshake is
// done, so the refusal is read, not seen by the handshake; nothing is
// written first, which could turn the server's alert into a reset.
func refusedPeer(gw *gatewaytest.Gateway, svid *x509svid.SVID) error {
	c, err := dialPeer(gw, svid)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return err
	}
	return errors.New("the gateway accepted the peer and sent data")
}

// peerGet dials gw as dialPeer does and sends GET /probe; it returns the
// response body.
func peerGet(gw *gatewaytest.Gateway, svid *x509svid.SVID) (string, error) {
	c, err := dialPeer(gw, svid)
	if err != nil {
		return "", err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /probe HTTP/1.1\r\nHost: echo.demo.svc.clusterset.local:8080\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// requestOver sends GET path over an open CONNECT tunnel to echo.demo
// and returns the response.
func requestOver(t *testing.T, c net.Conn, path string) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: echo.demo.svc.clusterset.local:8080\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s over CONNECT: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s over CONNECT: body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// echoService is west's echo.demo:8080 served by backend.
func echoService(backend string) []gateway.LocalService {
	return []gateway.LocalService{{
		Namespace: "demo", Name: "echo",
		Ports:     []gateway.LocalPort{{Name: "http", Port: 8080, AppProtocol: "http"}},
		Endpoints: []gateway.LocalEndpoint{{Address: backend}},
	}}
}

// countingBackend is an HTTP backend that counts the connections it
// accepts, so a test can tell that a refused peer never reached it.
type countingBackend struct {
	addr  string
	conns atomic.Int64
}

func startCountingBackend(t *testing.T, h http.Handler) *countingBackend {
	t.Helper()
	b := &countingBackend{}
	l := gatewaytest.Listen(t)
	b.addr = l.Addr().String()
	srv := &http.Server{Handler: h}
	go srv.Serve(&acceptCounter{Listener: l, n: &b.conns})
	t.Cleanup(func() { srv.Close() })
	return b
}

type acceptCounter struct {
	net.Listener
	n *atomic.Int64
}

func (l *acceptCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// waitMetric waits until gatewayMetric(gw, name, want) reaches value,
// for metrics a gateway updates after answering, then checks it is
// exactly value. On a time out it shows every sample of name.
func waitMetric(t *testing.T, gw *gatewaytest.Gateway, name string, want map[string]string, value float64) {
	t.Helper()
	if n := pollMetric(t, gw, name, want, value); n != value {
		t.Fatalf("%s %s%v = %v, want %v; all samples: %v", gw.Config.Cluster, name, want, n, value, metricSamples(t, gw, name))
	}
}

// waitMetricAtLeast is waitMetric for a count that may go past value.
func waitMetricAtLeast(t *testing.T, gw *gatewaytest.Gateway, name string, want map[string]string, value float64) {
	t.Helper()
	if n := pollMetric(t, gw, name, want, value); n < value {
		t.Fatalf("%s %s%v = %v, want at least %v; all samples: %v", gw.Config.Cluster, name, want, n, value, metricSamples(t, gw, name))
	}
}

// pollMetric scrapes gw until the metric reaches value or 10 s pass,
// returning the last reading.
func pollMetric(t *testing.T, gw *gatewaytest.Gateway, name string, want map[string]string, value float64) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := gatewayMetric(t, gw, name, want)
	for n < value && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = gatewayMetric(t, gw, name, want)
	}
	return n
}

// metricSamples returns gw's samples of name, for failure messages.
func metricSamples(t *testing.T, gw *gatewaytest.Gateway, name string) []string {
	t.Helper()
	var out []string
	scrapeMetrics(t, gw, func(metric string, labels map[string]string, v float64) {
		if metric == name {
			out = append(out, fmt.Sprintf("%v=%v", labels, v))
		}
	})
	return out
}

// gatewayMetric scrapes gw's /metrics and returns the sum of the samples
// of the metric name whose labels include want (every sample when want
// is nil); 0 when there is none.
func gatewayMetric(t *testing.T, gw *gatewaytest.Gateway, name string, want map[string]string) float64 {
	t.Helper()
	var sum float64
	scrapeMetrics(t, gw, func(metric string, labels map[string]string, v float64) {
		if metric == name && hasLabels(labels, want) {
			sum += v
		}
	})
	return sum
}

// scrapeMetrics calls f with every sample of gw's /metrics.
func scrapeMetrics(t *testing.T, gw *gatewaytest.Gateway, f func(metric string, labels map[string]string, v float64)) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + gw.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", gw.Config.Cluster, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := cutLast(line, ' ')
		if !ok {
			t.Fatalf("scrape %s: bad line %q", gw.Config.Cluster, line)
		}
		metric, labels, err := parseSeries(series)
		if err != nil {
			t.Fatalf("scrape %s: line %q: %v", gw.Config.Cluster, line, err)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("scrape %s: line %q: %v", gw.Config.Cluster, line, err)
		}
		f(metric, labels, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", gw.Config.Cluster, err)
	}
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// parseSeries parses NAME or NAME{k="v",...} of the Prometheus text
// format.
func parseSeries(s string) (string, map[string]string, error) {
	name, rest, ok := strings.Cut(s, "{")
	labels := map[string]string{}
	if !ok {
		return name, labels, nil
	}
	rest, ok = strings.CutSuffix(rest, "}")
	if !ok {
		return "", nil, fmt.Errorf("unterminated labels")
	}
	for rest != "" {
		k, v, ok := strings.Cut(rest, `="`)
		if !ok {
			return "", nil, fmt.Errorf("bad label in %q", rest)
		}
		var val strings.Builder
		i := 0
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
				if v[i] == 'n' {
					val.WriteByte('\n')
					continue
				}
			}
			val.WriteByte(v[i])
		}
		if i == len(v) {
			return "", nil, fmt.Errorf("unterminated label value in %q", rest)
		}
		labels[k] = val.String()
		rest = strings.TrimPrefix(v[i+1:], ",")
	}
	return name, labels, nil
}
