// Package slab carves many small byte slices out of a few large chunks:
// one allocation per chunk instead of one per slice, for the copies a
// hot path keeps (a ring node's packets, an agent's and a client's
// payloads read off a connection).
//
// Every slice a Slab hands out has its length as its capacity, so
// nothing appended to one runs into the next, and no byte of a chunk is
// handed out twice: the holder of a slice may keep it, and the Slab
// never reuses or writes the memory it points into. A chunk lives as
// long as anything carved from it, so a slice kept keeps its chunk; a
// slice of more than the Slab's alone threshold gets an allocation of
// its own, so that a large slice kept does not hold a chunk much larger
// than itself.
//
// A Slab is not safe for concurrent use, and it starts no goroutine and
// reads no clock (it is held to localring's pure-state-machine rule,
// localring's TestPureStateMachine).
package slab

// Slab hands out slices carved from chunks of chunk bytes. The zero Slab
// gives every slice an allocation of its own.
type Slab struct {
	buf   []byte // the current chunk; its length is what was handed out
	chunk int    // the size of a chunk
	alone int    // a slice of more bytes than this gets an allocation of its own
}

// New returns a Slab of chunks of chunk bytes that gives a slice of more
// than alone bytes an allocation of its own (alone at most chunk).
func New(chunk, alone int) Slab {
	return Slab{chunk: chunk, alone: min(alone, chunk)}
}

// Copy returns the parts joined, in the slab.
func (s *Slab) Copy(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := s.Room(n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return s.Keep(b)
}

// CopyAfter returns p after room bytes, in the slab: a slice of
// room+len(p) bytes whose first room bytes are zero, for the caller to
// write a header into before the payload.
func (s *Slab) CopyAfter(room int, p []byte) []byte {
	b := s.Room(room + len(p))[:room]
	clear(b)
	return s.Keep(append(b, p...))
}

// Room returns a slice of length 0 with room for n bytes, for the caller
// to append to and hand to Keep; nothing else may use the slab in
// between.
func (s *Slab) Room(n int) []byte {
	if n > s.alone {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, s.chunk)
	}
	return s.buf[len(s.buf):len(s.buf)]
}

// Keep returns b, a slice Room returned and the caller appended to, with
// its length as its capacity; the bytes it takes from the chunk are not
// the slab's anymore. A b that outgrew the chunk (append moved it) is
// returned as it is.
func (s *Slab) Keep(b []byte) []byte {
	b = b[:len(b):len(b)]
	if free := s.buf[len(s.buf):cap(s.buf)]; len(b) > 0 && len(b) <= len(free) && &b[0] == &free[0] {
		s.buf = s.buf[:len(s.buf)+len(b)]
	}
	return b
}
