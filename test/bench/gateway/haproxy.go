package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// haproxyChain is the comparison: the same two hops built with HAProxy,
// one process per side, one thread each, the same certificates.
//
// HAProxy B (client side) has plain frontends, one per service, whose
// backends open TLS 1.3 to HAProxy A with B's SVID, verify A's
// certificate against cluster a's CA and the SNI, and send the service
// in the SNI exactly as meshfed does. HAProxy A terminates TLS with A's
// SVID, requires a client certificate from cluster b's CA and picks the
// backend server by SNI. Every frontend is mode tcp (an L4 tunnel, like
// meshfed's per-service TCP listener) except echo_http on B: mode http
// with keep-alive and server connection reuse, the L7 counterpart of
// meshfed's forward proxy.
type haproxyChain struct {
	a, b                           *benchkit.Child
	aAddr                          string
	echoTCP, echoHTTP, sink, hold  string
	version                        string
	ciphersuite, minVersion, notes string
}

func (h *haproxyChain) pids() []int { return []int{h.a.PID, h.b.PID} }

func (h *haproxyChain) stop() {
	if h == nil {
		return
	}
	h.b.Stop()
	h.a.Stop()
}

// findHAProxy returns the haproxy binary: explicit, else on PATH (or
// /usr/sbin), else installed with apt-get when running as root.
func findHAProxy(ctx context.Context, explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	look := func() string {
		if p, err := exec.LookPath("haproxy"); err == nil {
			return p
		}
		if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
			return "/usr/sbin/haproxy"
		}
		return ""
	}
	if p := look(); p != "" {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return "", fmt.Errorf("haproxy is not installed and cannot be installed here (needs root and apt-get): install it (apt-get install haproxy), pass -haproxy PATH, or -skip-haproxy")
	}
	benchkit.Logf("haproxy is not on PATH: running apt-get update && apt-get install -y haproxy")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "haproxy"}} {
		out := benchkit.NewTailBuffer(8 << 10)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out.Bytes())
		}
	}
	if p := look(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("apt-get installed haproxy but no haproxy binary is on PATH or in /usr/sbin")
}

const haproxyCiphersuite = "TLS_AES_128_GCM_SHA256"

// startHAProxy writes both configs and starts A, then B; it returns once
// every frontend accepts connections. The caller must call stop, also
// after an error.
func startHAProxy(ctx context.Context, bin, dir string, f *federation, be backendAddrs, maxConn int) (*haproxyChain, error) {
	h := &haproxyChain{ciphersuite: haproxyCiphersuite, minVersion: "TLSv1.3"}
	out, err := exec.CommandContext(ctx, bin, "-v").Output()
	if err != nil {
		return h, fmt.Errorf("%s -v: %w", bin, err)
	}
	h.version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	addrs := make([]string, 5)
	for i := range addrs {
		if addrs[i], err = benchkit.FreeAddr(); err != nil {
			return h, err
		}
	}
	h.aAddr, h.echoTCP, h.echoHTTP, h.sink, h.hold = addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]
	global := fmt.Sprintf(`global
    nbthread 1
    maxconn %[2]d
    ssl-default-bind-ciphersuites %[1]s
    ssl-default-bind-options ssl-min-ver TLSv1.3
    ssl-default-server-ciphersuites %[1]s
    ssl-default-server-options ssl-min-ver TLSv1.3

defaults
    mode tcp
    maxconn %[2]d
    timeout connect 5s
    timeout client 5m
    timeout server 5m
`, haproxyCiphersuite, maxConn)
	ca, cb := f.ca, f.cb
	aCfg := global + fmt.Sprintf(`
frontend inbound
    bind %s ssl crt %s ca-file %s verify required
    use_backend echo if { ssl_fc_sni -i %s }
    use_backend sink if { ssl_fc_sni -i %s }
    use_backend hold if { ssl_fc_sni -i %s }

backend echo
    server s %s
backend sink
    server s %s
backend hold
    server s %s
`, h.aAddr, ca.combined, cb.bundle, echoService.sni(), sinkService.sni(), holdService.sni(), be.http, be.sink, be.hold)
	server := func(s serviceSpec) string {
		return fmt.Sprintf("server a %s ssl crt %s ca-file %s verify required sni str(%s)", h.aAddr, cb.combined, ca.bundle, s.sni())
	}
	bCfg := global + fmt.Sprintf(`
frontend echo_tcp
    bind %s
    default_backend echo_tcp
backend echo_tcp
    %s

frontend echo_http
    mode http
    bind %s
    default_backend echo_http
backend echo_http
    mode http
    http-reuse always
    %s

frontend sink_tcp
    bind %s
    default_backend sink_tcp
backend sink_tcp
    %s

frontend hold_tcp
    bind %s
    default_backend hold_tcp
backend hold_tcp
    %s
`, h.echoTCP, server(echoService), h.echoHTTP, server(echoService), h.sink, server(sinkService), h.hold, server(holdService))
	h.notes = fmt.Sprintf("nbthread 1 each; TLS 1.3 only, ciphersuite %s (the one Go picks on this CPU); maxconn %d (what the open-file limit allows); timeouts 5s connect, 5m idle", haproxyCiphersuite, maxConn)

	start := func(name, cfg string) (*benchkit.Child, error) {
		path := filepath.Join(dir, "haproxy-"+name+".cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		if out, err := exec.CommandContext(ctx, bin, "-c", "-q", "-f", path).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("haproxy %s: config check: %w\n%s", name, err, out)
		}
		// -db: stay in the foreground, one process (no master).
		return benchkit.StartChild("haproxy "+name, bin, []string{"-db", "-f", path}, nil, childStderr)
	}
	if h.a, err = start("a", aCfg); err != nil {
		return h, err
	}
	if h.b, err = start("b", bCfg); err != nil {
		return h, err
	}
	for _, addr := range []string{h.aAddr, h.echoTCP, h.echoHTTP, h.sink, h.hold} {
		if err := waitFor(ctx, "haproxy listening on "+addr, 20*time.Second, []*benchkit.Child{h.a, h.b}, func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			return h, err
		}
	}
	benchkit.Logf("haproxy running: A pid %d, B pid %d (%s)", h.a.PID, h.b.PID, h.version)
	return h, nil
}
