package gateway

import (
	"bytes"
)

// This file parses HTTP/1.1 message heads for the outbound fast path
// (h1.go). The parser is strict on purpose: it accepts only the common,
// unambiguous form of a message (CRLF line ends, token header names, no
// folded lines, one Content-Length of digits or "Transfer-Encoding:
// chunked" alone). Whatever it refuses in a request goes to net/http's
// server with every byte read so far, which serves it or answers the
// error; a response it refuses is a bad gateway. So the fast path never
// forwards a message that net/http would have read differently, which
// is what request smuggling feeds on.

// maxH1Headers is how many header lines a head may have on the fast path.
const maxH1Headers = 64

// h1Header is one header line: name and value, slices of the head.
type h1Header struct {
	name, value []byte
	// hop marks a hop-by-hop header, which is not forwarded.
	hop bool
}

// h1Head is a parsed message head; its slices point into the buffer it
// was parsed from.
type h1Head struct {
	// Request line.
	method, target []byte
	// Status line.
	status int
	reason []byte
	// minor is the HTTP/1.x minor version.
	minor int

	headers  [maxH1Headers]h1Header
	nheaders int

	host          []byte // the Host header's value
	contentLength int64  // -1: none
	chunked       bool
	close         bool // Connection: close (or HTTP/1.0 without keep-alive)
	upgrade       bool // an Upgrade header
	expect        bool // an Expect header
}

// findHeadEnd returns the length of the head at the start of b (through
// the blank line), 0 when b holds no complete head yet, or -1 when the
// head uses bare LF line ends, which the fast path does not take.
func findHeadEnd(b []byte) int {
	i := bytes.Index(b, crlfcrlf)
	end := len(b)
	if i >= 0 {
		end = i + 4
	}
	// A bare LF before the end: not the strict form.
	for j := 0; j < end; {
		k := bytes.IndexByte(b[j:end], '\n')
		if k < 0 {
			break
		}
		if j+k == 0 || b[j+k-1] != '\r' {
			return -1
		}
		j += k + 1
	}
	if i < 0 {
		return 0
	}
	return end
}

var crlfcrlf = []byte("\r\n\r\n")

// parseRequestHead parses a request head (as findHeadEnd delimited it)
// into h, reporting false for anything outside the strict form.
func parseRequestHead(b []byte, h *h1Head) bool {
	line, rest, ok := cutLine(b)
	if !ok {
		return false
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return false
	}
	h.method, h.target = line[:sp1], line[sp1+1:sp2]
	if !isToken(h.method) || bytes.IndexByte(h.target, ' ') >= 0 || !visibleASCII(h.target) {
		return false
	}
	if h.minor, ok = parseVersion(line[sp2+1:]); !ok {
		return false
	}
	return parseHeaders(rest, h)
}

// parseResponseHead parses a response head into h.
func parseResponseHead(b []byte, h *h1Head) bool {
	line, rest, ok := cutLine(b)
	if !ok || len(line) < 12 || line[8] != ' ' {
		return false
	}
	if h.minor, ok = parseVersion(line[:8]); !ok {
		return false
	}
	code := line[9:12]
	if code[0] < '1' || code[0] > '5' || !isDigit(code[1]) || !isDigit(code[2]) {
		return false
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	switch {
	case len(line) == 12:
		h.reason = nil
	case line[12] == ' ':
		h.reason = line[13:]
		if !fieldValue(h.reason) {
			return false
		}
	default:
		return false
	}
	return parseHeaders(rest, h)
}

// parseVersion accepts HTTP/1.0 and HTTP/1.1.
func parseVersion(v []byte) (int, bool) {
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || (v[7] != '0' && v[7] != '1') {
		return 0, false
	}
	return int(v[7] - '0'), true
}

// parseHeaders parses the header lines up to the blank line and derives
// the framing and connection facts.
func parseHeaders(b []byte, h *h1Head) bool {
	h.nheaders = 0
	h.host = nil
	h.contentLength = -1
	h.chunked, h.close, h.upgrade, h.expect = false, false, false, false
	var connection [8][]byte // tokens of Connection headers
	nconn := 0
	keepAlive := false
	sawTE, sawHost := false, false
	for {
		line, rest, ok := cutLine(b)
		if !ok {
			return false
		}
		b = rest
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || h.nheaders == maxH1Headers {
			return false
		}
		name := line[:colon]
		if !isToken(name) {
			return false // also refuses "Name :" and folded lines
		}
		value := bytes.Trim(line[colon+1:], " \t")
		if !fieldValue(value) {
			return false
		}
		hd := &h.headers[h.nheaders]
		h.nheaders++
		hd.name, hd.value, hd.hop = name, value, false
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if h.contentLength >= 0 || len(value) == 0 || len(value) > 18 {
				return false
			}
			var n int64
			for _, c := range value {
				if !isDigit(c) {
					return false
				}
				n = n*10 + int64(c-'0')
			}
			h.contentLength = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			if sawTE || !asciiEqualFold(value, "chunked") {
				return false
			}
			sawTE, h.chunked = true, true
			// Forwarded as is: the body is passed on in chunks, as it came.
		case asciiEqualFold(name, "Host"):
			if sawHost {
				return false
			}
			sawHost, h.host = true, value
		case asciiEqualFold(name, "Connection"):
			hd.hop = true
			for rest := value; len(rest) > 0; {
				tok := rest
				if i := bytes.IndexByte(rest, ','); i >= 0 {
					tok, rest = rest[:i], rest[i+1:]
				} else {
					rest = nil
				}
				tok = bytes.Trim(tok, " \t")
				switch {
				case asciiEqualFold(tok, "close"):
					h.close = true
				case asciiEqualFold(tok, "keep-alive"):
					keepAlive = true
				case len(tok) > 0:
					if nconn == len(connection) {
						return false // more than the fast path keeps track of
					}
					connection[nconn] = tok
					nconn++
				}
			}
		case asciiEqualFold(name, "Upgrade"):
			h.upgrade = true
			hd.hop = true
		case asciiEqualFold(name, "Expect"):
			h.expect = true
		case asciiEqualFold(name, "Keep-Alive"), asciiEqualFold(name, "Proxy-Connection"), asciiEqualFold(name, "Proxy-Authorization"), asciiEqualFold(name, "Proxy-Authenticate"):
			hd.hop = true
		}
	}
	if sawTE && h.contentLength >= 0 {
		return false // both framings: refuse, as RFC 9112 §6.1 allows
	}
	if h.minor == 0 && !keepAlive {
		h.close = true
	}
	// Headers that Connection names are hop-by-hop too; but one naming
	// the framing would have the body sent without it (a request
	// smuggled in the body): refused.
	for _, tok := range connection[:nconn] {
		if asciiEqualFold(tok, "Content-Length") || asciiEqualFold(tok, "Transfer-Encoding") {
			return false
		}
	}
	for _, tok := range connection[:nconn] {
		for i := range h.headers[:h.nheaders] {
			if asciiEqualFold(h.headers[i].name, string(tok)) {
				h.headers[i].hop = true
			}
		}
	}
	return len(b) == 0
}

// cutLine splits b at the first CRLF.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(b, crlf)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+2:], true
}

var crlf = []byte("\r\n")

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// fieldValue reports whether b has no control characters other than
// horizontal tab (so no CR, LF or NUL).
func fieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// visibleASCII reports whether b is non-empty printable ASCII.
func visibleASCII(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// asciiEqualFold compares b with the ASCII string s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
