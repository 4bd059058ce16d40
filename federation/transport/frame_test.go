package transport

import (
	"bytes"
	"testing"
)

// FuzzSplitFrames: whatever a datagram holds, splitFrames never panics,
// and the packets it yields, framed again, are the datagram's valid
// prefix (all of it when it reports no error).
func FuzzSplitFrames(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, []byte("token")), bytes.Repeat([]byte{7}, 300)))
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 5, 1, 2})
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, d []byte) {
		var again []byte
		err := splitFrames(d, func(pkt []byte) bool {
			if len(pkt) == 0 {
				t.Fatal("an empty packet")
			}
			again = appendFrame(again, pkt)
			return true
		})
		if !bytes.HasPrefix(d, again) {
			t.Fatalf("re-framed %x is not a prefix of %x", again, d)
		}
		if err == nil && !bytes.Equal(again, d) {
			t.Fatalf("no error, but %x re-frames as %x", d, again)
		}
		if err != nil && bytes.Equal(again, d) {
			t.Fatalf("error %v for a datagram that re-frames whole", err)
		}
	})
}
