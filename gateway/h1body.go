package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Message bodies on the HTTP/1.1 fast path, copied in their own framing.

// copyFlushing copies n bytes (all until EOF when n < 0) from src to w,
// flushing w whenever src has nothing buffered, so a streamed body
// reaches the client as it comes rather than when a buffer fills.
func copyFlushing(w *bufio.Writer, src *bufio.Reader, n int64) (int64, error) {
	var done int64
	for n < 0 || done < n {
		if src.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return done, err
			}
		}
		want := src.Size()
		if n >= 0 && n-done < int64(want) {
			want = int(n - done)
		}
		p, err := src.Peek(max(1, min(want, src.Buffered())))
		if len(p) > 0 {
			if _, werr := w.Write(p); werr != nil {
				return done, werr
			}
			src.Discard(len(p))
			done += int64(len(p))
		}
		if err != nil {
			if n < 0 && errors.Is(err, io.EOF) {
				return done, nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
	}
	return done, nil
}

// maxChunkLine bounds a chunk-size line and each trailer line.
const maxChunkLine = 4 << 10

// maxTrailerBytes bounds a chunked body's trailers.
const maxTrailerBytes = 64 << 10

var errBadChunk = errors.New("malformed chunked body")

// copyChunked copies a chunked body from src to w as it is, chunk
// extensions and trailers included, checking its framing. It returns
// the bytes of chunk data copied.
func copyChunked(w *bufio.Writer, src *bufio.Reader) (int64, error) {
	var data int64
	for {
		if src.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return data, err
			}
		}
		line, err := readCRLFLine(src)
		if err != nil {
			return data, err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return data, errBadChunk
		}
		w.Write(line)
		if size == 0 {
			// Trailers, then the blank line.
			total := 0
			for {
				line, err := readCRLFLine(src)
				if err != nil {
					return data, err
				}
				total += len(line)
				if total > maxTrailerBytes {
					return data, errBadChunk
				}
				if len(line) > 2 {
					colon := bytes.IndexByte(line, ':')
					if colon <= 0 || !isToken(line[:colon]) || !fieldValue(line[colon+1:len(line)-2]) {
						return data, errBadChunk
					}
				}
				w.Write(line)
				if len(line) == 2 {
					return data, nil
				}
			}
		}
		n, err := copyFlushing(w, src, size)
		data += n
		if err != nil {
			return data, err
		}
		end, err := readCRLFLine(src)
		if err != nil {
			return data, err
		}
		if len(end) != 2 {
			return data, errBadChunk
		}
		w.Write(end)
	}
}

// readCRLFLine returns the next line through its CRLF (a slice of src's
// buffer, valid until the next read), refusing bare LF and long lines.
func readCRLFLine(src *bufio.Reader) ([]byte, error) {
	line, err := src.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errBadChunk
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' || len(line) > maxChunkLine {
		return nil, errBadChunk
	}
	return line, nil
}

// parseChunkSize parses "HEX[;ext]\r\n".
func parseChunkSize(line []byte) (int64, bool) {
	line = line[:len(line)-2]
	end := len(line)
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		if !fieldValue(line[i:]) {
			return 0, false
		}
		end = i
	}
	hex := line[:end]
	for len(hex) > 0 && (hex[len(hex)-1] == ' ' || hex[len(hex)-1] == '\t') {
		hex = hex[:len(hex)-1]
	}
	if len(hex) == 0 || len(hex) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range hex {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}
