package slab

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestNoByteTwice hands out slices of many sizes, through Copy, CopyAfter
// and Room/Keep, fills each with a pattern of its own, and checks that
// every one has its length as its capacity and still holds its pattern
// at the end (two that shared a byte would not), and that the slices of
// at most the alone threshold came from chunks, the larger ones not.
func TestNoByteTwice(t *testing.T) {
	const chunk, alone = 1 << 10, 1 << 8
	s := New(chunk, alone)
	r := rand.New(rand.NewPCG(1, 2))
	var got [][]byte
	chunks := 0
	for i := range 2000 {
		n := r.IntN(alone + alone/2)
		p := bytes.Repeat([]byte{byte(i)}, n)
		before := s.buf
		var b []byte
		switch i % 4 {
		case 0:
			b = s.Copy(p)
		case 1:
			b = s.Copy(p[:n/2], nil, p[n/2:])
		case 2:
			room := r.IntN(n + 1)
			b = s.CopyAfter(room, p[room:])
			if !bytes.Equal(b[:room], make([]byte, room)) {
				t.Fatalf("CopyAfter(%d, ...) room %v, want zeros", room, b[:room])
			}
			copy(b, p) // the caller's header
		case 3:
			b = s.Keep(append(s.Room(n), p...))
		}
		if len(b) != n || cap(b) != n || !bytes.Equal(b, p) {
			t.Fatalf("slice %d: len %d cap %d, want %d and %d, and the bytes copied", i, len(b), cap(b), n, n)
		}
		switch {
		case n > alone && len(s.buf) != len(before) || n > alone && cap(s.buf) != cap(before):
			t.Fatalf("slice %d of %d bytes came from the chunk, want an allocation of its own", i, n)
		case n > 0 && n <= alone && (len(s.buf) < n || &s.buf[len(s.buf)-n] != &b[0]):
			t.Fatalf("slice %d of %d bytes is not the end of the chunk", i, n)
		case n > 0 && n <= alone && cap(s.buf) != chunk:
			t.Fatalf("chunk of %d bytes, want %d", cap(s.buf), chunk)
		}
		if n > 0 && n <= alone && cap(before) > 0 && &s.buf[:1][0] != &before[:1][0] {
			chunks++
		}
		got = append(got, b)
	}
	for i, b := range got {
		for _, c := range b {
			if c != byte(i) {
				t.Fatalf("slice %d holds %d, want %d: a byte handed out twice", i, c, byte(i))
			}
		}
	}
	if chunks == 0 {
		t.Error("never started a new chunk")
	}
}

// TestAppendDoesNotReachNext checks that appending to a slice handed out
// moves it, leaving the next slice of the chunk alone.
func TestAppendDoesNotReachNext(t *testing.T) {
	s := New(64, 16)
	a := s.Copy([]byte("aaaa"))
	b := s.Copy([]byte("bbbb"))
	a = append(a, "xxxx"...)
	if string(b) != "bbbb" || string(a) != "aaaaxxxx" {
		t.Errorf("a %q, b %q: want aaaaxxxx and bbbb", a, b)
	}
}

// TestOutgrewChunk: a slice from Room that the caller appended past its
// room moved out of the chunk; Keep returns it as it is and takes
// nothing from the chunk, whose bytes go to the next slice.
func TestOutgrewChunk(t *testing.T) {
	s := New(64, 32)
	s.Copy(make([]byte, 30))
	s.Copy(make([]byte, 20))
	b := s.Room(10) // 14 bytes left in the chunk
	b = append(b, bytes.Repeat([]byte{'x'}, 30)...)
	used := len(s.buf)
	b = s.Keep(b)
	if len(b) != 30 || cap(b) != 30 || used != 50 || len(s.buf) != used {
		t.Fatalf("kept len %d cap %d, chunk used %d then %d: want 30, 30, and 50 both", len(b), cap(b), used, len(s.buf))
	}
	c := s.Copy([]byte("cc"))
	if &c[0] != &s.buf[used] {
		t.Error("the next slice did not take the chunk's bytes the outgrown one left")
	}
	if string(b) != string(bytes.Repeat([]byte{'x'}, 30)) {
		t.Errorf("outgrown slice %q changed", b)
	}
}

// TestEmptyAndZero: an empty copy takes nothing; the zero Slab gives
// every slice an allocation of its own; New keeps alone within a chunk.
func TestEmptyAndZero(t *testing.T) {
	s := New(64, 16)
	if b := s.Copy(); len(b) != 0 || cap(b) != 0 {
		t.Errorf("empty copy len %d cap %d", len(b), cap(b))
	}
	if b := s.CopyAfter(0, nil); len(b) != 0 || cap(b) != 0 {
		t.Errorf("empty CopyAfter len %d cap %d", len(b), cap(b))
	}
	var z Slab
	if b := z.Copy([]byte("abc")); string(b) != "abc" || cap(b) != 3 || z.buf != nil {
		t.Errorf("zero Slab: %q cap %d, chunk %d: want its own allocation", b, cap(b), cap(z.buf))
	}
	if s := New(64, 100); s.alone != 64 {
		t.Errorf("New(64, 100) alone %d, want 64", s.alone)
	}
}

// TestSlab (localring's slab test before the package, with localring's
// chunks): the slab's slices hold what was copied or appended, each with
// its length as its capacity and none overlapping another, one chunk
// allocated for many packets; a large slice and one that outgrew its room
// are allocations of their own.
func TestSlab(t *testing.T) {
	const slabChunk = 32 << 10
	s := New(slabChunk, slabChunk/4)
	pkt := bytes.Repeat([]byte{7}, 1400)
	var got [][]byte
	for i := range 3 * slabChunk / len(pkt) {
		pkt[0] = byte(i)
		got = append(got, s.Copy(pkt[:700], pkt[700:]))
	}
	for i, b := range got {
		if len(b) != len(pkt) || cap(b) != len(b) || b[0] != byte(i) || b[1] != 7 || b[len(b)-1] != 7 {
			t.Fatalf("copy %d: %d bytes (capacity %d) starting %d", i, len(b), cap(b), b[0])
		}
		if i > 0 && &got[i-1][len(pkt)-1] == &b[0] {
			t.Fatalf("copies %d and %d overlap", i-1, i)
		}
	}
	if allocs := testing.AllocsPerRun(1000, func() { s.Copy(pkt) }); allocs > 0.1 {
		t.Errorf("%.2f allocations per 1,400-byte copy, want one per chunk of %d bytes", allocs, slabChunk)
	}

	b := s.Room(100)
	b = append(b, "packet"...)
	b = s.Keep(b)
	next := s.Copy([]byte("next"))
	if string(b) != "packet" || cap(b) != len(b) || string(next) != "next" {
		t.Errorf("room and keep: %q (capacity %d), then %q", b, cap(b), next)
	}
	b = s.Room(10)
	b = append(b, make([]byte, slabChunk)...) // moved by append
	before := len(s.buf)
	if b = s.Keep(b); len(b) != slabChunk || len(s.buf) != before {
		t.Errorf("a slice that outgrew its room: %d bytes, and the chunk gave %d bytes for it", len(b), len(s.buf)-before)
	}
	if big := s.Copy(make([]byte, slabChunk/4+1)); len(s.buf) != before || cap(big) != len(big) {
		t.Errorf("a slice over a quarter of a chunk took %d bytes of it", len(s.buf)-before)
	}
}

// TestCopyAfterRoomZero: CopyAfter's room is zero even where a Room the
// caller wrote into and never kept left bytes in the chunk.
func TestCopyAfterRoomZero(t *testing.T) {
	s := New(64, 32)
	_ = append(s.Room(8), "dirtydirty"...) // not kept
	b := s.CopyAfter(4, []byte("pay"))
	if string(b) != "\x00\x00\x00\x00pay" || cap(b) != len(b) {
		t.Errorf("CopyAfter(4, pay) = %q (capacity %d), want four zeros and pay", b, cap(b))
	}
}
