package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// parseReq delimits and parses a request head the way the fast path does.
func parseReq(raw string) (*h1Head, int, bool) {
	var h h1Head
	end := findHeadEnd([]byte(raw))
	if end <= 0 {
		return nil, end, false
	}
	return &h, end, parseRequestHead([]byte(raw[:end]), &h)
}

func TestParseRequestHead(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		ok        bool
		check     func(*h1Head) string
	}{
		{"get", "GET /a?b=c HTTP/1.1\r\nHost: echo.demo.svc.clusterset.local:8080\r\nUser-Agent: x\r\n\r\n", true, func(h *h1Head) string {
			if string(h.method) != "GET" || string(h.target) != "/a?b=c" || string(h.host) != "echo.demo.svc.clusterset.local:8080" || h.contentLength != -1 || h.chunked || h.close {
				return "wrong fields"
			}
			return ""
		}},
		{"absolute", "POST http://echo.demo.svc.clusterset.local/x HTTP/1.1\r\nContent-Length: 12\r\n\r\n", true, func(h *h1Head) string {
			if h.contentLength != 12 || string(h.target) != "http://echo.demo.svc.clusterset.local/x" {
				return "wrong fields"
			}
			return ""
		}},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", true, func(h *h1Head) string {
			if !h.chunked {
				return "not chunked"
			}
			return ""
		}},
		{"close and hop-by-hop", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nX-Kept: 2\r\n\r\n", true, func(h *h1Head) string {
			if !h.close {
				return "close not seen"
			}
			var kept []string
			for _, x := range h.headers[:h.nheaders] {
				if !x.hop {
					kept = append(kept, string(x.name))
				}
			}
			if strings.Join(kept, ",") != "Host,X-Kept" {
				return "forwarded headers " + strings.Join(kept, ",")
			}
			return ""
		}},
		{"upgrade", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true, func(h *h1Head) string {
			if !h.upgrade {
				return "upgrade not seen"
			}
			return ""
		}},
		{"http/1.0 closes", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", true, func(h *h1Head) string {
			if h.minor != 0 || !h.close {
				return "1.0 without keep-alive must close"
			}
			return ""
		}},
		{"both framings", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, nil},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false, nil},
		{"signed length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", false, nil},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, nil},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, nil},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", false, nil},
		{"folded", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n", false, nil},
		{"nul in value", "GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n", false, nil},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, nil},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", false, nil},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", false, nil},
		{"connection names the length", "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\n", false, nil},
		{"connection names the coding", "POST / HTTP/1.1\r\nHost: h\r\nConnection: x, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, ok := parseReq(tc.raw)
			if ok != tc.ok {
				t.Fatalf("parsed %v, want %v", ok, tc.ok)
			}
			if ok && tc.check != nil {
				if msg := tc.check(h); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
	if end := findHeadEnd([]byte("GET / HTTP/1.1\nHost: h\n\n")); end != -1 {
		t.Fatalf("bare LF head: findHeadEnd %d, want -1 (net/http's)", end)
	}
	if end := findHeadEnd([]byte("GET / HTTP/1.1\r\nHost: h\r\n")); end != 0 {
		t.Fatalf("incomplete head: findHeadEnd %d, want 0", end)
	}
}

func TestParseResponseHead(t *testing.T) {
	var h h1Head
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nTrailer: X-T\r\n\r\n"
	if !parseResponseHead([]byte(raw), &h) || h.status != 200 || string(h.reason) != "OK" || h.contentLength != 5 || !h.close {
		t.Fatalf("parsed %v: %+v", raw, h)
	}
	for _, bad := range []string{
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 600 X\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 1\r\n\r\n",
	} {
		if parseResponseHead([]byte(bad), &h) {
			t.Errorf("accepted %q", bad)
		}
	}
	if !parseResponseHead([]byte("HTTP/1.1 204\r\n\r\n"), &h) || h.status != 204 {
		t.Fatal("a status line without a reason is valid")
	}
}

// FuzzParseRequestHead: whatever the fast path accepts, net/http reads
// the same way (method, target, host, framing, close): the fast path
// never forwards a request that the server behind net/http would frame
// differently.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: echo.demo.svc.clusterset.local\r\n\r\n",
		"POST http://a.b.svc.clusterset.local:80/x?y HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nConnection: close, x\r\nX: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 00\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, end, ok := parseReq(raw)
		if !ok {
			return
		}
		// The framing is never dropped from what is forwarded.
		for _, x := range h.headers[:h.nheaders] {
			if x.hop && (asciiEqualFold(x.name, "Content-Length") || asciiEqualFold(x.name, "Transfer-Encoding")) {
				t.Fatalf("%s is marked hop-by-hop in %q", x.name, raw[:end])
			}
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw[:end])))
		if err != nil {
			// net/http is stricter on some points (for example the
			// target's form or a Host with a bad authority): the fast
			// path sends those to net/http anyway when it cannot route
			// them, and what it forwards is still framed as parsed.
			return
		}
		if req.Method != string(h.method) || req.RequestURI != string(h.target) {
			t.Fatalf("method/target %q %q, net/http %q %q", h.method, h.target, req.Method, req.RequestURI)
		}
		chunked := len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked"
		if chunked != h.chunked {
			t.Fatalf("chunked %v, net/http %v", h.chunked, chunked)
		}
		if !chunked {
			want := req.ContentLength
			if want == 0 && h.contentLength == -1 {
				want = -1
			}
			if want != h.contentLength {
				t.Fatalf("content length %d, net/http %d", h.contentLength, req.ContentLength)
			}
		}
		if h.minor == 1 && req.Close != h.close {
			t.Fatalf("close %v, net/http %v", h.close, req.Close)
		}
		if h.host != nil && req.Host != string(h.host) && !strings.HasPrefix(string(h.target), "http") {
			t.Fatalf("host %q, net/http %q", h.host, req.Host)
		}
	})
}

// chunkedCopy runs copyChunked on raw.
func chunkedCopy(raw string) (string, int64, error) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	n, err := copyChunked(w, bufio.NewReaderSize(strings.NewReader(raw), 64))
	w.Flush()
	return out.String(), n, err
}

func TestCopyChunked(t *testing.T) {
	raw := "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT"
	got, n, err := chunkedCopy(raw)
	if err != nil || got != raw[:len(raw)-4] || n != 11 {
		t.Fatalf("copied %q (%d data bytes), %v", got, n, err)
	}
	for _, bad := range []string{
		"5\r\nhello\r\n",           // cut short
		"5\r\nhelloX\r\n0\r\n\r\n", // no CRLF after the data
		"g\r\n",                    // not hex
		"5\nhello\r\n0\r\n\r\n",    // bare LF
		"0\r\nBad Trailer\r\n\r\n",
		"ffffffffffffffff\r\n", // too large
	} {
		if _, _, err := chunkedCopy(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzCopyChunked: a chunked body the fast path passes on decodes, with
// net/http's chunked reader, to the bytes it counted.
func FuzzCopyChunked(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\n\r\n")
	f.Add("3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\n")
	f.Add("A\r\n0123456789\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		out, n, err := chunkedCopy(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(raw, out) {
			t.Fatalf("the copy %q is not the input's start", out)
		}
		data, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(out)))
		if err != nil {
			t.Fatalf("net/http cannot decode what was passed on (%q): %v", out, err)
		}
		if int64(len(data)) != n {
			t.Fatalf("counted %d data bytes, net/http decodes %d", n, len(data))
		}
	})
}

func TestSplitAbsolute(t *testing.T) {
	for in, want := range map[string]string{
		"http://a.b:80/x?y": "a.b:80 /x?y",
		"HTTP://a.b":        "a.b /",
		"http://a.b?q":      "a.b /?q",
	} {
		h, p, ok := splitAbsolute([]byte(in))
		if !ok || string(h)+" "+string(p) != want {
			t.Errorf("splitAbsolute(%q) = %q %q %v, want %q", in, h, p, ok, want)
		}
	}
	for _, bad := range []string{"https://a/", "http://", "http://u@a/", "ftp://a/"} {
		if _, _, ok := splitAbsolute([]byte(bad)); ok {
			t.Errorf("splitAbsolute(%q) accepted", bad)
		}
	}
}

// TestParseRequestHeadNoAllocs: parsing a head allocates nothing.
func TestParseRequestHeadNoAllocs(t *testing.T) {
	raw := []byte("GET http://echo.demo.svc.clusterset.local:8080/x HTTP/1.1\r\nHost: echo.demo.svc.clusterset.local:8080\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n")
	var h h1Head
	if a := testing.AllocsPerRun(100, func() {
		if findHeadEnd(raw) != len(raw) || !parseRequestHead(raw, &h) {
			t.Fatal("not parsed")
		}
	}); a != 0 {
		t.Fatalf("%.1f allocations per head, want 0", a)
	}
}
