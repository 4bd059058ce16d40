package localring

// slab holds the bytes a node keeps per packet: the copies of the packets
// it receives (Step), the packets it sends (sendNew) and the messages it
// joins from their fragments (reassembly.join). It carves them out of
// chunks of slabChunk bytes, one allocation per chunk instead of one per
// packet: at full load with 1 KiB messages through a ring of three that
// was, per message and all nodes together, two of every three
// allocations and most of the bytes (BenchmarkOrdering, TestOrderingAllocs).
//
// Every slice it hands out has its length as its capacity, so nothing
// appended to one runs into the next, and no byte of a chunk is handed out
// twice: what Message.Payload promises (the node never reuses or writes
// the memory a payload points into) holds. A chunk lives as long as
// anything carved from it, so an application that keeps a delivered
// payload keeps its chunk; a slice of more than slabChunk/4 bytes gets an
// allocation of its own, so that a large message kept does not hold a
// chunk much larger than itself.
type slab struct {
	buf []byte // the current chunk; its length is what was handed out
}

const slabChunk = 32 << 10

// copy returns the parts joined, in the slab.
func (s *slab) copy(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := s.room(n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return s.keep(b)
}

// room returns a slice of length 0 with room for n bytes, for the caller
// to append to and hand to keep; nothing else may use the slab in
// between.
func (s *slab) room(n int) []byte {
	if n > slabChunk/4 {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, slabChunk)
	}
	return s.buf[len(s.buf):len(s.buf)]
}

// keep returns b, a slice room returned and the caller appended to, with
// its length as its capacity; the bytes it takes from the chunk are not
// the slab's anymore. A b that outgrew the chunk (append moved it) is
// returned as it is.
func (s *slab) keep(b []byte) []byte {
	b = b[:len(b):len(b)]
	if free := s.buf[len(s.buf):cap(s.buf)]; len(b) > 0 && len(b) <= len(free) && &b[0] == &free[0] {
		s.buf = s.buf[:len(s.buf)+len(b)]
	}
	return b
}
