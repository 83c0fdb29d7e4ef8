package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	thousand := make([]int, 1000)
	for i := range thousand {
		thousand[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples", nil, 99, 0},
		{"one value", ms(7), 99.9, 7 * time.Millisecond},
		{"p50 of 1..1000", ms(thousand...), 50, 500 * time.Millisecond},
		{"p99 of 1..1000", ms(thousand...), 99, 990 * time.Millisecond},
		{"p99.9 of 1..1000", ms(thousand...), 99.9, 999 * time.Millisecond},
		{"p100 is max", ms(thousand...), 100, 1000 * time.Millisecond},
		{"p99 of 10 is max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p0 is min", ms(1, 2, 3), 0, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

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

func TestReplaceSection(t *testing.T) {
	const section = "## Gateway data plane\n\nnew\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{
			name: "appended when absent",
			doc:  "# Benchmarks\n\n## Summary\n\nold\n",
			want: "# Benchmarks\n\n## Summary\n\nold\n\n## Gateway data plane\n\nnew\n",
		},
		{
			name: "replaced at the end",
			doc:  "# Benchmarks\n\n## Summary\n\nx\n\n## Gateway data plane\n\nold\n### sub\n\nold\n",
			want: "# Benchmarks\n\n## Summary\n\nx\n\n## Gateway data plane\n\nnew\n",
		},
		{
			name: "replaced before the next section",
			doc:  "# B\n\n## Gateway data plane\n\nold\n\n## Other\n\nkept\n",
			want: "# B\n\n## Gateway data plane\n\nnew\n\n## Other\n\nkept\n",
		},
		{
			name: "a longer heading is another section",
			doc:  "# B\n\n## Gateway data plane notes\n\nkept\n",
			want: "# B\n\n## Gateway data plane notes\n\nkept\n\n## Gateway data plane\n\nnew\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replaceSection(tc.doc, section); got != tc.want {
				t.Errorf("replaceSection:\n got %q\nwant %q", got, tc.want)
			}
		})
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
