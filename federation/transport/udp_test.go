package transport

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// keyPair returns the two ends' keys of a connection whose exporter gave
// m, and a transport that receives with the server's.
func keyPair(t testing.TB, m []byte) (client *ringKeys, rx *Transport) {
	t.Helper()
	cl, err := ringKeysFrom(m, true)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ringKeysFrom(m, false)
	if err != nil {
		t.Fatal(err)
	}
	rx = &Transport{
		cfg:      &resolved{Config: Config{MaxPacket: DefaultUDPPacket}},
		in:       make(chan inPacket, 64),
		ringKeys: map[uint64]*ringKeys{},
	}
	sv.p, sv.c = &peer{site: "a"}, &conn{done: make(chan struct{})}
	rx.ringKeys[sv.recvID] = sv
	return cl, rx
}

func material(seed byte) []byte {
	m := make([]byte, ringKeyMaterial)
	for i := range m {
		m[i] = seed + byte(i)
	}
	return m
}

// received drains what rx queued for Recv.
func received(rx *Transport) [][]byte {
	var out [][]byte
	for {
		select {
		case p := <-rx.in:
			out = append(out, p.data)
		default:
			return out
		}
	}
}

// TestSealedRefusals: a sealed datagram is taken once; the same bytes
// again (a replay, or a duplicate from the network), one sealed with
// another key under the right key id, one altered in flight, one with a
// key id of no connection and one that is no sealed datagram are dropped
// and counted, each under its own counter.
func TestSealedRefusals(t *testing.T) {
	cl, rx := keyPair(t, material(1))
	frames := appendFrame(appendFrame(nil, []byte("message one")), []byte("token"))
	d := cl.seal(nil, frames)
	rx.handleSealed(d)
	if got := received(rx); len(got) != 2 || string(got[0]) != "message one" || string(got[1]) != "token" {
		t.Fatalf("first delivery: %q", got)
	}
	rx.handleSealed(d) // replayed
	forger, _ := keyPair(t, material(99))
	forger.sendID = cl.sendID // the right key id, another key
	forger.next.Store(100)    // a fresh counter
	rx.handleSealed(forger.seal(nil, frames))
	tampered := cl.seal(nil, frames)
	tampered[sealedHeaderLen+3] ^= 1
	rx.handleSealed(tampered)
	stranger, _ := keyPair(t, material(50))
	rx.handleSealed(stranger.seal(nil, frames))
	rx.handleSealed([]byte{0x01, 2, 3})
	rx.handleSealed(append([]byte{0x02}, d[1:]...))
	if got := received(rx); len(got) != 0 {
		t.Fatalf("refused datagrams delivered %q", got)
	}
	st := &rx.stats
	if st.ringReplayed.Load() != 1 || st.ringForged.Load() != 2 || st.ringUnknownKey.Load() != 1 || st.ringMalformed.Load() != 2 || st.ringReceived.Load() != 1 {
		t.Errorf("counts: replayed %d (want 1), forged %d (2), unknown key %d (1), malformed %d (2), received %d (1)",
			st.ringReplayed.Load(), st.ringForged.Load(), st.ringUnknownKey.Load(), st.ringMalformed.Load(), st.ringReceived.Load())
	}
	// The tampered datagram's counter was not used up by the forgery:
	// the genuine one with that counter would still be taken. And the
	// sender goes on.
	rx.handleSealed(cl.seal(nil, frames))
	if got := received(rx); len(got) != 2 {
		t.Fatalf("the next genuine datagram: %d packets", len(got))
	}
}

// TestPacer: a writer that always has data sends the pacer's rate, plus
// at most one bucket at the start; after a pause it bursts at most a
// bucket.
func TestPacer(t *testing.T) {
	const bits = 50_000_000
	p := newPacer(bits)
	now := time.Unix(1000, 0)
	start := now
	sent := 0
	for now.Sub(start) < time.Second {
		d := p.reserve(now, 1280)
		now = now.Add(d) // the writer sleeps, then sends
		sent += 1280
	}
	want := float64(bits) / 8
	if got := float64(sent); got > want+p.depth+1280 || got < want-1280 {
		t.Errorf("sent %.0f bytes in a second at %d bit/s, want %.0f (+ a bucket of %.0f)", got, bits, want, p.depth)
	}
	now = now.Add(time.Second) // idle
	burst := 0
	for p.reserve(now, 1280) == 0 {
		burst += 1280
	}
	if float64(burst) > p.depth {
		t.Errorf("burst of %d bytes after a pause, bucket %.0f", burst, p.depth)
	}
	if wantDepth := want * pacerBurst.Seconds(); p.depth != wantDepth {
		t.Errorf("bucket %.0f bytes, want %.0f (%v at the rate)", p.depth, wantDepth, pacerBurst)
	}
}

// FuzzHandleSealed: whatever arrives, handleSealed never panics, and what
// it delivers came from a datagram the sender's key seals to exactly
// these bytes; the same bytes a second time deliver nothing.
func FuzzHandleSealed(f *testing.F) {
	cl, _ := keyPair(f, material(7))
	f.Add(cl.seal(nil, appendFrame(nil, []byte("hello"))))
	f.Add(cl.seal(nil, appendFrame(appendFrame(nil, []byte("a")), bytes.Repeat([]byte{9}, 1000))))
	f.Add(cl.seal(nil, []byte{0, 9, 1})) // authentic, frames do not add up
	f.Add([]byte{0x01})
	f.Add(make([]byte, sealedHeaderLen+sealedTagLen+3))
	f.Fuzz(func(t *testing.T, d []byte) {
		cl, rx := keyPair(t, material(7))
		in := bytes.Clone(d)
		rx.handleSealed(d)
		got := received(rx)
		if len(got) > 0 {
			_, ctr, ok := parseSealed(in)
			if !ok {
				t.Fatalf("delivered %d packets of a datagram parseSealed refuses", len(got))
			}
			var frames []byte
			for _, p := range got {
				frames = appendFrame(frames, p)
			}
			if binary.BigEndian.Uint64(in[1:9]) != cl.sendID {
				t.Fatalf("delivered a datagram of another key id")
			}
			// Authentic: the sender's key seals the packets delivered, with
			// the datagram's counter, to exactly its bytes (unless its
			// frames stopped adding up after them, counted as malformed).
			cl.next.Store(ctr - 1)
			if again := cl.seal(nil, frames); !bytes.Equal(again, in) && rx.stats.ringMalformed.Load() == 0 {
				t.Fatalf("delivered %q from a datagram the sender's key does not make", got)
			}
		}
		rx.handleSealed(in)
		if again := received(rx); len(again) > 0 {
			t.Fatalf("the same datagram delivered twice")
		}
	})
}
