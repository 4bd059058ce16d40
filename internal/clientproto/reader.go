package clientproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Reader reads frames from a stream. It is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewReader returns a Reader of r that accepts frames of at most
// MaxHelloFrame bytes until SetMax raises the bound.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: MaxHelloFrame}
}

// SetMax sets the largest frame length (type and body) Next accepts.
func (r *Reader) SetMax(n int) { r.max = n }

// Next reads and parses the next frame. The frame's Payload aliases the
// Reader's buffer: it is valid until the next call, so copy it to keep
// it. At the end of the stream Next returns io.EOF (io.ErrUnexpectedEOF
// inside a frame); a frame that is too long or does not parse yields an
// error that wraps ErrMalformed.
func (r *Reader) Next() (Frame, error) {
	var hdr [LengthSize]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return Frame{}, fmt.Errorf("%w: zero frame length", ErrMalformed)
	}
	if uint64(n) > uint64(r.max) {
		return Frame{}, fmt.Errorf("%w: frame length %d (bytes %x) exceeds the limit of %d; is the peer an Atoll client speaking this protocol?", ErrMalformed, n, hdr, r.max)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return Parse(b)
}
