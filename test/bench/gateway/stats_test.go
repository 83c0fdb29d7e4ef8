package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummarizeSorts(t *testing.T) {
	d := summarize([]time.Duration{5, 1, 4, 2, 3})
	if d.n != 5 || d.p50 != 3 || d.max != 5 || d.mean != 3 {
		t.Errorf("summarize = %+v, want n 5, p50 3, max 5, mean 3", d)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRotate(t *testing.T) {
	in := []string{"a", "b", "c"}
	for r, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(in, r); !slices.Equal(got, want) {
			t.Errorf("rotate(%v, %d) = %v, want %v", in, r, got, want)
		}
	}
	if !slices.Equal(in, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its input: %v", in)
	}
}

func TestHTTPConnRecv(t *testing.T) {
	body := string(make([]byte, bodySize))
	for _, tc := range []struct {
		name    string
		resp    string
		wantErr bool
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nDate: x\r\n\r\n" + body, false},
		{"lower-case header", "HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n" + body, false},
		{"not 200", "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 1024\r\n\r\n" + body, true},
		{"wrong length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", true},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n", true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\nabc", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := fakeConn(tc.resp)
			if err := h.recv(); (err != nil) != tc.wantErr {
				t.Errorf("recv() = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// fakeConn is an httpConn whose responses come from s.
func fakeConn(s string) *httpConn {
	return &httpConn{br: bufio.NewReader(strings.NewReader(s))}
}
