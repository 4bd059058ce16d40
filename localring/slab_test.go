package localring

import (
	"bytes"
	"testing"
)

// TestSlab: the slab's slices hold what was copied or appended, each with
// its length as its capacity and none overlapping another, one chunk
// allocated for many packets; a large slice and one that outgrew its room
// are allocations of their own.
func TestSlab(t *testing.T) {
	var s slab
	pkt := bytes.Repeat([]byte{7}, 1400)
	var got [][]byte
	for i := range 3 * slabChunk / len(pkt) {
		pkt[0] = byte(i)
		got = append(got, s.copy(pkt[:700], pkt[700:]))
	}
	for i, b := range got {
		if len(b) != len(pkt) || cap(b) != len(b) || b[0] != byte(i) || b[1] != 7 || b[len(b)-1] != 7 {
			t.Fatalf("copy %d: %d bytes (capacity %d) starting %d", i, len(b), cap(b), b[0])
		}
		if i > 0 && &got[i-1][len(pkt)-1] == &b[0] {
			t.Fatalf("copies %d and %d overlap", i-1, i)
		}
	}
	if allocs := testing.AllocsPerRun(1000, func() { s.copy(pkt) }); allocs > 0.1 {
		t.Errorf("%.2f allocations per 1,400-byte copy, want one per chunk of %d bytes", allocs, slabChunk)
	}

	b := s.room(100)
	b = append(b, "packet"...)
	b = s.keep(b)
	next := s.copy([]byte("next"))
	if string(b) != "packet" || cap(b) != len(b) || string(next) != "next" {
		t.Errorf("room and keep: %q (capacity %d), then %q", b, cap(b), next)
	}
	b = s.room(10)
	b = append(b, make([]byte, slabChunk)...) // moved by append
	before := len(s.buf)
	if b = s.keep(b); len(b) != slabChunk || len(s.buf) != before {
		t.Errorf("a slice that outgrew its room: %d bytes, and the chunk gave %d bytes for it", len(b), len(s.buf)-before)
	}
	if big := s.copy(make([]byte, slabChunk/4+1)); len(s.buf) != before || cap(big) != len(big) {
		t.Errorf("a slice over a quarter of a chunk took %d bytes of it", len(s.buf)-before)
	}
}
