package mcs_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/gateway"
	"github.com/meshfed/meshfed/gateway/gatewaytest"
	"github.com/meshfed/meshfed/internal/gatewaycmd"
	"github.com/meshfed/meshfed/kube/agent"
)

// TestGatewayKubernetesMode carries real traffic through the objects the
// agents make: a client in west dials the gateway port named in west's
// derived EndpointSlice; west's gateway (Kubernetes mode, watching west's
// ServiceImports) tunnels it over mTLS to east's gateway, which forwards it
// to the exported Service's DNS name (mapped here to a loopback backend:
// there is no cluster DNS). Withdrawing the export closes the port.
func TestGatewayKubernetesMode(t *testing.T) {
	w := newWorld(t, "east", "west")
	east, west := w.clusters["east"], w.clusters["west"]
	for _, c := range []*cluster{east, west} {
		c.namespace(t, "demo")
	}
	backend := echoServer(t)
	first := freeRange(t, 4)
	ports := agent.PortRange{First: first, Last: first + 3}
	w.startAgent("east", func(c *agent.Config) { c.ImportPorts = ports })
	w.startAgent("west", func(c *agent.Config) { c.ImportPorts = ports })

	dialed := make(chan string, 16)
	// Every cluster imports what it exports too (MCS): east's gateway
	// opens the same port, on another loopback address.
	startKubeGateway(t, w, east, "127.0.0.2", func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed <- addr
		return (&net.Dialer{}).DialContext(ctx, network, backend)
	})
	westGW := startKubeGateway(t, w, west, "127.0.0.1", nil)

	east.service(t, "demo", "echo", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "tcp", Port: 7777}}})
	east.endpoints(t, "demo", "echo", []discoveryv1.EndpointPort{{Name: ptr("tcp"), Port: ptr(int32(7777))}}, []string{"z1"}, 0)
	east.export(t, "demo", "echo", nil)

	var port int
	eventually(t, "west's derived EndpointSlice names a gateway port", func() error {
		_, _, sl, err := west.imported(t, "demo", "echo")
		if err != nil {
			return err
		}
		if len(sl) != 1 || len(sl[0].Ports) != 1 {
			return fmt.Errorf("slices %+v", sl)
		}
		port = int(*sl[0].Ports[0].Port)
		return nil
	})
	if port != first {
		t.Fatalf("gateway port %d, want the range's first, %d", port, first)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	eventually(t, "west's gateway listens on "+addr, func() error {
		if got := westGW.ServiceListenerAddrs(); len(got) != 1 || got[0] != addr {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})
	gatewaytest.WaitRoutable(t, &gatewaytest.Gateway{Gateway: westGW.Gateway, Config: westGW.cfg}, "echo.demo", "east")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "hello across clusters\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello across clusters\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	select {
	case got := <-dialed:
		if got != "echo.demo.svc.cluster.local:7777" {
			t.Fatalf("east's gateway dialed %q, want the Service's DNS name", got)
		}
	default:
		t.Fatal("east's gateway did not dial the Service")
	}

	if err := east.mcs.MulticlusterV1beta1().ServiceExports("demo").Delete(ctx(t), "echo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "west's gateway closes the port", func() error {
		if got := westGW.ServiceListenerAddrs(); len(got) != 0 {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})
}

type kubeGateway struct {
	*gateway.Gateway
	cfg *gateway.Config
}

// startKubeGateway runs cluster c's gateway in Kubernetes mode against
// c's API server, as `meshfed gateway` does with a kubernetes: section.
func startKubeGateway(t *testing.T, w *world, c *cluster, host string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *kubeGateway {
	t.Helper()
	cfg := w.fed.Config(c.name)
	cfg.Kubernetes = &gateway.KubernetesConfig{Kubeconfig: c.api.Kubeconfig(), ImportListenHost: host}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("gateway", c.name)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: log, DialService: dial})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	stopPorts, err := gatewaycmd.WatchImportPorts(runCtx, g, cfg.Kubernetes, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		stopPorts()
		<-done
	})
	select {
	case <-g.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway %s: no routes after 20s", c.name)
	}
	return &kubeGateway{Gateway: g, cfg: cfg}
}

// echoServer is a line echo server on loopback.
func echoServer(t *testing.T) string {
	t.Helper()
	l := gatewaytest.Listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// freeRange finds n consecutive free loopback ports in 12000-14999, below
// the ephemeral range (so no client socket takes one) and clear of the
// ranges test/up (20000-25999) and test/drill (26000-31999) use.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		first := 12000 + rand.IntN(3000-n)
		var ls []net.Listener
		for p := first; p < first+n; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			return first
		}
	}
	t.Fatal("no free port range")
	return 0
}
