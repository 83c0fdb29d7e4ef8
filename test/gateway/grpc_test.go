package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/gateway/gatewaytest"
)

// grpcEchoServer implements grpc.testing.TestService's four call kinds
// as echoes, with headers, trailers and chosen status codes.
type grpcEchoServer struct {
	testpb.UnimplementedTestServiceServer
	// ended receives how each call blocked by "x-block" ended.
	ended chan blockedCall
}

// blockedCall is what the server saw of a call that waited for its
// context: whether the client's deadline reached it, and the end.
type blockedCall struct {
	id          string
	hadDeadline bool
	err         error
}

func (s *grpcEchoServer) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if id := md.Get("x-block"); len(id) == 1 {
		_, ok := ctx.Deadline()
		<-ctx.Done()
		select {
		case s.ended <- blockedCall{id: id[0], hadDeadline: ok, err: ctx.Err()}:
		default:
		}
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	grpc.SetHeader(ctx, metadata.Pairs("x-header", "h-"+strings.Join(md.Get("x-request-id"), ",")))
	grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t-"+strings.Join(md.Get("x-request-id"), ",")))
	if st := req.GetResponseStatus(); st.GetCode() != 0 {
		s, _ := status.New(codes.Code(st.GetCode()), st.GetMessage()).WithDetails(&testpb.Payload{Body: []byte("detail")})
		return nil, s.Err()
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (s *grpcEchoServer) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for i, p := range req.GetResponseParameters() {
		body := bytes.Repeat([]byte{byte(i)}, int(p.GetSize()))
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
	stream.SetTrailer(metadata.Pairs("x-sent", strconv.Itoa(len(req.GetResponseParameters()))))
	return nil
}

func (s *grpcEchoServer) StreamingInputCall(stream grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	var n, msgs int
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs("x-received", strconv.Itoa(msgs)))
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(n)})
		}
		if err != nil {
			return err
		}
		n += len(req.GetPayload().GetBody())
		msgs++
	}
}

func (s *grpcEchoServer) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	var msgs int
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs("x-echoed", strconv.Itoa(msgs)))
			return nil
		}
		if err != nil {
			return err
		}
		msgs++
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// serveGRPC serves the echo service on a loopback listener until the
// test ends.
func serveGRPC(t *testing.T) (string, *grpcEchoServer) {
	t.Helper()
	l := gatewaytest.Listen(t)
	srv := grpc.NewServer()
	echo := &grpcEchoServer{ended: make(chan blockedCall, 8)}
	testpb.RegisterTestServiceServer(srv, echo)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return l.Addr().String(), echo
}

// connectDialer dials target through the HTTP proxy at proxyAddr with
// CONNECT: the same request grpc-go's own proxy support (HTTPS_PROXY,
// internal/transport/proxy.go) sends, written out so that the test may
// run in parallel with others.
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
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: target}, Header: http.Header{}}
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
		// The server's HTTP/2 preface may already sit in br.
		return &readerConn{Conn: c, r: br}, nil
	}
}

// readerConn reads through a reader that holds what was read ahead.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// grpcTarget is the clusterset name of the gRPC service's port.
const grpcTarget = "grpc.demo.svc.clusterset.local:9090"

// TestHTTP2ThroughGateways carries gRPC (a real grpc-go server and
// client) and plain h2c across both gateways.
func TestHTTP2ThroughGateways(t *testing.T) {
	t.Parallel()
	// 1. West exports a gRPC service and an h2c service; east has a TCP
	// listener for each.
	grpcAddr, echo := serveGRPC(t)
	h2c := startH2CBackend(t)
	gsvc := meshService{name: "grpc", port: 9090, backend: grpcAddr, tcpListener: true}
	hsvc := meshService{name: "h2c", port: 9091, backend: h2c.addr, tcpListener: true}
	m := startProtoMesh(t, gsvc, hsvc)

	dial := func(t *testing.T, target string, opts ...grpc.DialOption) *grpc.ClientConn {
		t.Helper()
		cc, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}

	// 2. gRPC through the per-service TCP listener.
	t.Run("grpc/tcp_listener", func(t *testing.T) {
		runGRPCCalls(t, dial(t, "passthrough:///"+m.tcp["grpc.demo"]), echo.ended)
	})
	// 3. gRPC through CONNECT, by a dialer.
	t.Run("grpc/connect", func(t *testing.T) {
		runGRPCCalls(t, dial(t, "passthrough:///"+grpcTarget, grpc.WithContextDialer(connectDialer(m.east.OutboundAddr()))), echo.ended)
	})
	// 4. gRPC through CONNECT by grpc-go's own proxy support. net/http
	// reads HTTPS_PROXY once per process, and this one has dialled the
	// control plane already: the client runs in a child process.
	t.Run("grpc/https_proxy_env", func(t *testing.T) {
		runGRPCProxyChild(t, m.east.OutboundAddr())
	})
	// 5. Plain HTTP/2 with prior knowledge through the TCP listener.
	t.Run("h2c/tcp_listener", func(t *testing.T) {
		runH2C(t, m.tcp["h2c.demo"], h2c)
	})
}

// grpcProxyChildEnv names the target for TestGRPCHTTPSProxyHelper.
const grpcProxyChildEnv = "MESHFED_TEST_GRPC_PROXY_TARGET"

func runGRPCProxyChild(t *testing.T, proxyAddr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*protoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGRPCHTTPSProxyHelper$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HTTPS_PROXY=http://"+proxyAddr, grpcProxyChildEnv+"="+grpcTarget)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestGRPCHTTPSProxyHelper")) {
		t.Fatalf("child with HTTPS_PROXY: %v\n%s", err, out)
	}
}

// TestGRPCHTTPSProxyHelper is not a test on its own: TestHTTP2ThroughGateways
// runs it in a child process with HTTPS_PROXY set to east's forward
// proxy. Its dns:/// target cannot resolve, so only the proxy's CONNECT
// can reach the service.
func TestGRPCHTTPSProxyHelper(t *testing.T) {
	target := os.Getenv(grpcProxyChildEnv)
	if target == "" {
		t.Skip("run by TestHTTP2ThroughGateways/grpc/https_proxy_env")
	}
	cc, err := grpc.NewClient("dns:///"+target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	runGRPCCalls(t, cc, nil)
}

// runGRPCCalls makes each kind of call on cc. ended, if not nil, is the
// server's report of calls blocked until their deadline.
func runGRPCCalls(t *testing.T, cc *grpc.ClientConn, ended <-chan blockedCall) {
	client := testpb.NewTestServiceClient(cc)
	ctxT := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), protoTimeout)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("unary", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(ctxT(t), "x-request-id", "r1")
		var header, trailer metadata.MD
		body := bytes.Repeat([]byte("gRPC "), 200<<10) // 1 MB, several frames
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}},
			grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), body) {
			t.Errorf("echo of %d bytes came back as %d", len(body), len(resp.GetPayload().GetBody()))
		}
		if got := header.Get("x-header"); len(got) != 1 || got[0] != "h-r1" {
			t.Errorf("header x-header %q, want h-r1", got)
		}
		if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "t-r1" {
			t.Errorf("trailer x-trailer %q, want t-r1", got)
		}
	})

	t.Run("status", func(t *testing.T) {
		var trailer metadata.MD
		_, err := client.UnaryCall(ctxT(t), &testpb.SimpleRequest{
			ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no echo for you: ü"},
		}, grpc.Trailer(&trailer))
		st := status.Convert(err)
		if st.Code() != codes.NotFound || st.Message() != "no echo for you: ü" {
			t.Fatalf("got %v %q, want NotFound %q", st.Code(), st.Message(), "no echo for you: ü")
		}
		if d := st.Details(); len(d) != 1 || !isPayload(d[0], "detail") {
			t.Errorf("status details %v, want the server's payload", d)
		}
		if got := trailer.Get("x-trailer"); len(got) != 1 {
			t.Errorf("trailer x-trailer %q on an error status, want one value", got)
		}
	})

	t.Run("server_streaming", func(t *testing.T) {
		var params []*testpb.ResponseParameters
		for i := range 8 {
			params = append(params, &testpb.ResponseParameters{Size: int32(1<<i) * 1024})
		}
		stream, err := client.StreamingOutputCall(ctxT(t), &testpb.StreamingOutputCallRequest{ResponseParameters: params})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range params {
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if want := bytes.Repeat([]byte{byte(i)}, int(p.GetSize())); !bytes.Equal(resp.GetPayload().GetBody(), want) {
				t.Fatalf("message %d: %d bytes, want %d of %d", i, len(resp.GetPayload().GetBody()), len(want), i)
			}
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last message: %v, want EOF", err)
		}
		if got := stream.Trailer().Get("x-sent"); len(got) != 1 || got[0] != "8" {
			t.Errorf("trailer x-sent %q, want 8", got)
		}
	})

	t.Run("client_streaming", func(t *testing.T) {
		stream, err := client.StreamingInputCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for range 16 {
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 4096)}}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetAggregatedPayloadSize() != 16*4096 {
			t.Errorf("server counted %d bytes, want %d", resp.GetAggregatedPayloadSize(), 16*4096)
		}
		if got := stream.Trailer().Get("x-received"); len(got) != 1 || got[0] != "16" {
			t.Errorf("trailer x-received %q, want 16", got)
		}
	})

	t.Run("bidi_streaming", func(t *testing.T) {
		stream, err := client.FullDuplexCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		// Ping-pong: each reply must arrive before the next send.
		for i := range 10 {
			body := []byte("ping " + strconv.Itoa(i))
			if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: body}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			if !bytes.Equal(resp.GetPayload().GetBody(), body) {
				t.Fatalf("reply %d: %q, want %q", i, resp.GetPayload().GetBody(), body)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseSend: %v, want EOF", err)
		}
		if got := stream.Trailer().Get("x-echoed"); len(got) != 1 || got[0] != "10" {
			t.Errorf("trailer x-echoed %q, want 10", got)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		id := t.Name()
		start := time.Now()
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-block", id), 300*time.Millisecond)
		defer cancel()
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
		if code := status.Code(err); code != codes.DeadlineExceeded {
			t.Fatalf("got %v (%v), want DeadlineExceeded", code, err)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 10*time.Second {
			t.Errorf("call ended after %v, want about 300ms", d)
		}
		if ended == nil {
			return
		}
		// The deadline travelled with the call (grpc-timeout) and ended
		// it on the server too.
		timeout := time.After(protoTimeout)
		for {
			select {
			case b := <-ended:
				if b.id != id {
					continue
				}
				if !b.hadDeadline || b.err == nil {
					t.Errorf("server: deadline %v, end %v", b.hadDeadline, b.err)
				}
				return
			case <-timeout:
				t.Fatal("the server's call never ended")
			}
		}
	})
}

func isPayload(v any, body string) bool {
	p, ok := v.(*testpb.Payload)
	return ok && string(p.GetBody()) == body
}

// h2cBackend is a plain HTTP/2 (prior knowledge) server that notes the
// connections it accepts.
type h2cBackend struct {
	addr  string
	conns atomic.Int32
	// together is closed when h2cTogether requests wait in /together.
	together chan struct{}
	waiting  atomic.Int32
}

// h2cTogether is how many requests /together holds until all arrive.
const h2cTogether = 10

func startH2CBackend(t *testing.T) *h2cBackend {
	t.Helper()
	b := &h2cBackend{together: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/together", func(w http.ResponseWriter, r *http.Request) {
		// Answers only once all requests are in flight at the same time.
		if b.waiting.Add(1) == h2cTogether {
			close(b.together)
		}
		select {
		case <-b.together:
			fmt.Fprintf(w, "%s %s", r.Proto, r.RemoteAddr)
		case <-r.Context().Done():
		case <-time.After(protoTimeout):
			http.Error(w, "the other requests never came", http.StatusGatewayTimeout)
		}
	})
	mux.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.RemoteAddr)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// Full duplex: each line goes back as soon as it arrives.
		w.Header().Set("Trailer", "X-Lines")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		sc := bufio.NewScanner(r.Body)
		var n int
		for sc.Scan() {
			n++
			fmt.Fprintf(w, "%s\n", sc.Text())
			rc.Flush()
		}
		w.Header().Set("X-Lines", strconv.Itoa(n))
	})
	mux.HandleFunc("/digest", func(w http.ResponseWriter, r *http.Request) {
		d, _ := digestOf(r.Body)
		io.WriteString(w, d)
	})
	srv := &http.Server{
		Handler:   mux,
		Protocols: new(http.Protocols),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.conns.Add(1)
			}
		},
	}
	srv.Protocols.SetUnencryptedHTTP2(true)
	l := gatewaytest.Listen(t)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	b.addr = l.Addr().String()
	return b
}

func runH2C(t *testing.T, listener string, b *h2cBackend) {
	var dials atomic.Int32
	tr := &http.Transport{
		Protocols: new(http.Protocols),
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", listener)
		},
	}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: protoTimeout}
	base := "http://h2c.demo.svc.clusterset.local:9091"

	t.Run("concurrent_streams", func(t *testing.T) {
		// Ten requests in flight at once share one connection, one
		// tunnel and one backend connection. The first request opens the
		// connection: the client dials for each request while it has none.
		conns0 := b.conns.Load()
		resp, err := c.Get(base + "/info")
		if err != nil {
			t.Fatal(err)
		}
		first, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var wg sync.WaitGroup
		got := make([]string, h2cTogether)
		errs := make([]error, h2cTogether)
		for i := range got {
			wg.Go(func() {
				resp, err := c.Get(base + "/together")
				if err != nil {
					errs[i] = err
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
					err = fmt.Errorf("%s over %s: %s", resp.Status, resp.Proto, body)
				}
				got[i], errs[i] = string(body), err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if !strings.HasPrefix(g, "HTTP/2.0 ") || g != string(first) {
				t.Errorf("request %d: backend saw %q, the first request %q: want HTTP/2.0 on one connection", i, g, first)
			}
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("client dialled %d times, want 1", n)
		}
		if n := b.conns.Load() - conns0; n != 1 {
			t.Errorf("backend accepted %d connections, want 1", n)
		}
	})

	t.Run("full_duplex_stream", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequest(http.MethodPost, base+"/echo", pr)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for i := range 5 {
			line := fmt.Sprintf("line %d\n", i)
			if _, err := io.WriteString(pw, line); err != nil {
				t.Fatal(err)
			}
			got, err := br.ReadString('\n')
			if err != nil || got != line {
				t.Fatalf("echo %q, %v; want %q", got, err, line)
			}
		}
		pw.Close()
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after the request ended: %q, %v", rest, err)
		}
		if got := resp.Trailer.Get("X-Lines"); got != "5" {
			t.Errorf("trailer X-Lines %q, want 5", got)
		}
	})

	t.Run("large_body", func(t *testing.T) {
		const size = 8 << 20
		req, _ := http.NewRequest(http.MethodPost, base+"/digest", patternData(9, size))
		req.ContentLength = size
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if want := mustDigestOf(t, patternData(9, size)); string(got) != want {
			t.Fatalf("backend received %s, want %s", got, want)
		}
	})
}
