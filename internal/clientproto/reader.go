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
	r     *bufio.Reader
	max   int
	buf   []byte
	hdr   [LengthSize]byte
	names names // the member and group names seen, shared by the frames
}

// NewReader returns a Reader of r that accepts frames of at most
// MaxHelloFrame bytes until SetMax raises the bound.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: MaxHelloFrame}
}

// SetShareLists makes the frames' lists of names (the Groups of a
// Multicast or a Message) share one slice with the previous list when
// they hold the same names, instead of a slice each: for a reader whose
// frames are read and never modified (the agent's), which saves an
// allocation per message. Do not modify the lists of such a reader's
// frames.
func (r *Reader) SetShareLists(on bool) { r.names.share = on }

// SetMax sets the largest frame length (type and body) Next accepts.
func (r *Reader) SetMax(n int) { r.max = n }

// Buffered reports whether a whole frame is buffered, so that Next
// returns it without reading from the stream (and without blocking): a
// reader that batches the frames it reads hands on its batch when this is
// false, before Next waits for the peer.
func (r *Reader) Buffered() bool {
	if r.r.Buffered() < LengthSize {
		return false
	}
	hdr, _ := r.r.Peek(LengthSize)
	return uint64(r.r.Buffered()) >= LengthSize+uint64(binary.BigEndian.Uint32(hdr))
}

// Wait waits until Next can return a frame without waiting for the
// stream (for a frame larger than the reader's buffer: until the buffer
// is full of its start). It consumes nothing, so an error, a read
// deadline that passed say, leaves the stream as it was: a reader whose
// wait is cut short by a deadline may clear it and wait again.
func (r *Reader) Wait() error {
	hdr, err := r.r.Peek(LengthSize)
	if err != nil {
		return err
	}
	n := LengthSize + int(min(binary.BigEndian.Uint32(hdr), uint32(r.max)))
	_, err = r.r.Peek(min(n, r.r.Size()))
	return err
}

// Next reads and parses the next frame. The frame's Payload aliases the
// Reader's buffer: it is valid until the next call, so copy it to keep
// it (it may alias the buffered reader's buffer, which the next call
// reuses). Its names of members and groups may be shared with earlier frames
// (strings are immutable; the slices that hold them are the frame's own),
// and a message's MsgID shares a block of bytes with other frames' ids.
// At the end of the stream Next returns io.EOF (io.ErrUnexpectedEOF inside
// a frame); a frame that is too long or does not parse yields an
// error that wraps ErrMalformed.
func (r *Reader) Next() (Frame, error) {
	var f Frame
	err := r.NextInto(&f)
	return f, err
}

// NextInto is Next that parses the frame into f, all of which it
// overwrites: a Frame is 408 bytes, and a reader of many frames (the
// agent's sessions, a client) spares the copies that returning one by
// value costs (BenchmarkReaderNext, 1 KiB multicasts: about a fifth of
// the time per frame).
func (r *Reader) NextInto(f *Frame) error {
	*f = Frame{}
	var n uint32
	if p, err := r.r.Peek(LengthSize); err == nil {
		n = binary.BigEndian.Uint32(p)
	}
	if n != 0 && uint64(n) <= uint64(r.max) && r.r.Buffered() >= LengthSize+int(n) {
		// The whole frame is in the buffered reader's buffer: parse it
		// there, without copying it out (the common case: most frames
		// are small, and arrive many to a read).
		b, _ := r.r.Peek(LengthSize + int(n))
		err := parse(f, b[LengthSize:], &r.names)
		r.r.Discard(LengthSize + int(n))
		return err
	}
	hdr := r.hdr[:]
	if _, err := io.ReadFull(r.r, hdr); err != nil {
		return err
	}
	n = binary.BigEndian.Uint32(hdr)
	if n == 0 {
		return fmt.Errorf("%w: zero frame length", ErrMalformed)
	}
	if uint64(n) > uint64(r.max) {
		return fmt.Errorf("%w: frame length %d (bytes %x) exceeds the limit of %d; is the peer an Atoll client speaking this protocol?", ErrMalformed, n, hdr, r.max)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return parse(f, b, &r.names)
}
