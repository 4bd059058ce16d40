package agent

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// TestRandomGarbage sends 400 random and mutated request streams
// after valid hellos (seeded, so a failure replays): for each the agent
// answers, ends the session with a goodbye, or waits for the rest of a
// frame that was cut short; it never crashes, its ring goes on, and a
// well-behaved client on another session is served throughout. (The
// frame decoder itself is fuzzed by go test -fuzz in
// internal/clientproto.)
func TestRandomGarbage(t *testing.T) {
	c := newRing(t, 1)
	a := c.agents["n1"].a
	good := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "good")
	good.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	good.waitView("g", "n1:good")

	var valid []byte
	for _, fr := range []cp.Frame{
		{Type: cp.TypeJoin, Req: 1, Group: "g"},
		{Type: cp.TypeMulticast, Req: 2, Svc: 5, Groups: []string{"g", "h"}, Payload: []byte("payload")},
		{Type: cp.TypeSend, Req: 3, Svc: 3, To: "n1:good", Payload: []byte("p2p")},
		{Type: cp.TypeListGroups, Req: 4},
		{Type: cp.TypeGetView, Req: 5, Group: "g"},
		{Type: cp.TypeFlush, Req: 6},
		{Type: cp.TypeLeave, Req: 7, Group: "g"},
	} {
		valid = cp.Append(valid, &fr)
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("ATOLL_GARBAGE_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (ATOLL_GARBAGE_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	ended, answered, waiting := 0, 0, 0
	for i := range 400 {
		var b []byte
		switch i % 3 {
		case 0: // random bytes
			b = make([]byte, rng.IntN(64))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		default: // valid frames with a few bytes flipped, cut, or repeated
			b = bytes.Clone(valid)
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
			if rng.IntN(4) == 0 {
				b = b[:rng.IntN(len(b))]
			}
		}
		conn, err := a.LocalConn()
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		r, w := hello(t, conn, "", 1, 1)
		if w.Type != cp.TypeWelcome {
			t.Fatalf("input %d: hello: %+v", i, w)
		}
		go func() {
			conn.Write(b)
			conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypePing, Req: 0xFFFFFFFF}))
		}()
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	read:
		for {
			f, err := r.Next()
			switch {
			case err != nil:
				waiting++ // cut short, a length the agent waits to fill, or slow
				break read
			case f.Type == cp.TypeGoodbye:
				if f.Code != cp.CodeProtocol || f.Text == "" {
					t.Errorf("input %d %x: goodbye %+v", i, b, f)
				}
				ended++
				break read
			case f.Type == cp.TypePong && f.Req == 0xFFFFFFFF:
				answered++
				break read
			}
		}
		conn.Close()
		if i%100 == 0 {
			good.ok(cp.Frame{Type: cp.TypePing})
		}
	}
	t.Logf("400 inputs: %d sessions ended with a reason, %d answered, %d waiting for more bytes", ended, answered, waiting)
	good.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: []byte("still here")})
	good.waitFrame("own message", func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == "still here" })
	if st := a.Status(); st.State != "operational" || st.Counters.ClientProtocolErrors < uint64(ended) {
		t.Errorf("after the garbage: state %s, %d protocol errors counted, %d goodbyes seen", st.State, st.Counters.ClientProtocolErrors, ended)
	}
}
