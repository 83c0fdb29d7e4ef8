package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

// The backend is this benchmark's own binary re-executed with -backend,
// so the servers do not share a Go scheduler with the load generator.
// It serves three loopback ports:
//
//   - http: HTTP/1.1 keep-alive, every response a bodySize body; GET
//     /holding answers how many connections the hold port has open;
//   - sink: the bulk protocol (frames of frameSize bytes whose first byte
//     is 1 while more follow and 0 on the last; then the server answers
//     the byte count as 8 bytes big-endian), which needs no half-close;
//   - hold: accepts connections and keeps them until the peer closes,
//     counting them (the 10k idle connections land here).
const (
	bodySize  = 1024
	frameSize = 256 << 10
)

// backendAddrs are the backend's listen addresses.
type backendAddrs struct {
	http, sink, hold string
}

// runBackend serves until ctx ends; it prints its addresses as one line
// on stdout once listening.
func runBackend(ctx context.Context) error {
	listen := func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	hl, err1 := listen()
	sl, err2 := listen()
	ol, err3 := listen()
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	var holding atomic.Int64
	body := bytes.Repeat([]byte("x"), bodySize)
	size := strconv.Itoa(bodySize)
	srv := &http.Server{
		// No timeouts: keep-alive connections stay open as long as
		// their clients want.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/holding" {
				fmt.Fprintf(w, "%d", holding.Load())
				return
			}
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", size)
			w.Write(body)
		}),
		ErrorLog: nil,
	}
	go srv.Serve(hl)
	go acceptEach(sl, serveSink)
	go acceptEach(ol, func(c net.Conn) {
		holding.Add(1)
		io.Copy(io.Discard, c)
		holding.Add(-1)
		c.Close()
	})
	fmt.Printf("http=%s sink=%s hold=%s\n", hl.Addr(), sl.Addr(), ol.Addr())
	<-ctx.Done()
	srv.Close()
	sl.Close()
	ol.Close()
	return nil
}

func acceptEach(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}

// serveSink reads frames until the last one, then answers the byte count.
func serveSink(c net.Conn) {
	defer c.Close()
	frame := make([]byte, frameSize)
	var n uint64
	for {
		if _, err := io.ReadFull(c, frame); err != nil {
			return
		}
		n += frameSize
		if frame[0] == 0 {
			break
		}
	}
	var reply [8]byte
	binary.BigEndian.PutUint64(reply[:], n)
	c.Write(reply[:])
}

// startBackend re-executes this binary with -backend and reads its
// addresses. The caller must stop the child, also after an error.
func startBackend(ctx context.Context) (*benchkit.Child, backendAddrs, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, backendAddrs{}, fmt.Errorf("backend: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, backendAddrs{}, err
	}
	defer pr.Close()
	c, err := benchkit.StartChild("backend", exe, []string{"-backend"}, pw, childStderr)
	pw.Close()
	if err != nil {
		return nil, backendAddrs{}, err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(pr).ReadString('\n')
		line <- s
	}()
	var s string
	select {
	case s = <-line:
	case <-time.After(20 * time.Second):
		return c, backendAddrs{}, fmt.Errorf("backend (pid %d) printed no addresses in 20s: %s", c.PID, c.Stderr)
	case <-ctx.Done():
		return c, backendAddrs{}, ctx.Err()
	}
	var a backendAddrs
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "http":
			a.http = v
		case "sink":
			a.sink = v
		case "hold":
			a.hold = v
		}
	}
	if a.http == "" || a.sink == "" || a.hold == "" {
		return c, a, fmt.Errorf("backend (pid %d) printed %q, want http=ADDR sink=ADDR hold=ADDR: %s", c.PID, s, c.Stderr)
	}
	return c, a, nil
}

// holding asks the backend how many connections its hold port has open.
func holding(ctx context.Context, httpAddr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/holding", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}
