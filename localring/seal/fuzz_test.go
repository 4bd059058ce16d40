package seal_test

import (
	"bytes"
	"testing"

	"github.com/atoll-gcs/atoll/localring/seal"
)

// FuzzOpen feeds arbitrary packets to Open in every mode. Whatever the
// input (random, truncated, oversized, bit-flipped, replayed), Open must
// not panic, and in ModeAuth and ModeEncrypt it may accept only a packet
// the legitimate sender sealed, byte for byte, and only once.
func FuzzOpen(f *testing.F) {
	type legit struct {
		mode  seal.Mode
		suite seal.Suite
		pkts  [][]byte
	}
	var senders []legit
	for _, mode := range modes {
		for _, suite := range suites {
			if mode == seal.ModeNone && suite != seal.AES256GCM {
				continue
			}
			a := mustNew(f, baseConfig(mode, suite, "a", 1))
			l := legit{mode: mode, suite: suite}
			for i, n := range []int{0, 1, 17, 300} {
				pkt := a.Seal(nil, payload(n, uint64(i)))
				l.pkts = append(l.pkts, pkt)
				f.Add(uint8(len(senders)), pkt)
				f.Add(uint8(len(senders)), pkt[:len(pkt)/2])
				f.Add(uint8(len(senders)), append(bytes.Clone(pkt), 0, 0, 0))
			}
			senders = append(senders, l)
		}
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(0), bytes.Repeat([]byte{0xff}, seal.HeaderLen+seal.TagLen))

	f.Fuzz(func(t *testing.T, which uint8, pkt []byte) {
		l := senders[int(which)%len(senders)]
		b := mustNew(t, baseConfig(l.mode, l.suite, "b", 1))
		in := bytes.Clone(pkt)
		for attempt := range 2 { // the second attempt is a replay
			got, from, err := b.Open(nil, in)
			if !bytes.Equal(in, pkt) {
				t.Fatal("Open modified its input")
			}
			if err != nil {
				if _, ok := err.(*seal.Error); !ok {
					t.Fatalf("Open returned %T %v, want *seal.Error", err, err)
				}
				if line := b.Diagnose(in, err); line == "" {
					t.Fatal("empty Diagnose line")
				}
				continue
			}
			if attempt > 0 {
				t.Fatalf("replayed packet accepted: %+v", from)
			}
			if l.mode == seal.ModeNone {
				continue
			}
			known := false
			for _, p := range l.pkts {
				known = known || bytes.Equal(p, in)
			}
			if !known {
				t.Fatalf("forged packet authenticated: %x -> %x from %+v", in, got, from)
			}
		}
		// And in place, which must never panic on short or odd input.
		b2 := mustNew(t, baseConfig(l.mode, l.suite, "c", 1))
		b2.OpenInPlace(bytes.Clone(pkt))
	})
}
