package groups

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// checkQueue checks the counts pump and onSend keep of the queue of
// local messages: inRing and waiting are the messages of out in the ring
// and not, and no message in the ring was handed at or before sentHand,
// the last one the ring sent (onSend skips its search for messages
// handed before that one when it was handed next).
func (n *Node) checkQueue() error {
	in, waiting := 0, 0
	for _, o := range n.out {
		if !o.inRing {
			waiting++
			continue
		}
		in++
		if o.hand <= n.sentHand {
			return fmt.Errorf("message %d in the ring was handed at %d, the last one sent at %d", o.seq, o.hand, n.sentHand)
		}
	}
	if in != n.inRing || waiting != n.waiting {
		return fmt.Errorf("queue of %d: %d in the ring and %d waiting, the node counts %d and %d", len(n.out), in, waiting, n.inRing, n.waiting)
	}
	return nil
}

// TestSkippedMessageHandedAgain: a message handed to the ring and never
// sent, while the ring sends the one handed after it (a driver that
// broke its contract), is handed again, after the one sent, and is
// delivered once. The first message is sent in its turn, so that the
// skip comes after onSend's shortcut for a message handed next.
func TestSkippedMessageHandedAgain(t *testing.T) {
	l := newLoop(t, Config{})
	for i := range 3 {
		if _, err := l.g.Multicast("c", localring.Agreed, 0, []string{"g"}, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	submits := func() (out [][]byte) {
		for _, s := range l.g.Ready().Submits {
			out = append(out, s.Payload)
		}
		return out
	}
	handed := submits()
	if len(handed) != 3 {
		t.Fatalf("%d messages handed, want 3", len(handed))
	}
	send := func(p []byte) {
		t.Helper()
		l.msgSeq++
		l.g.Step(localring.Event{Kind: localring.EventSend, Msg: localring.Message{
			ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: localring.Agreed, Payload: p, Conf: l.conf.ID}})
		if err := l.g.checkQueue(); err != nil {
			t.Fatal(err)
		}
	}
	send(handed[0])
	if again := submits(); len(again) != 0 {
		t.Fatalf("%d messages handed again after the first was sent, want none", len(again))
	}
	send(handed[2]) // the ring never sends handed[1]
	again := submits()
	if len(again) != 1 || !bytes.Equal(again[0], handed[1]) {
		t.Fatalf("handed again %q, want the skipped message %q alone", again, handed[1])
	}
	send(again[0])
	if l.g.Pending() != 0 {
		t.Errorf("%d messages pending, want 0", l.g.Pending())
	}
}

// TestMulticastIn: a multicast of a payload with room before it goes to
// the ring as Multicast's encoding, byte for byte, in the caller's array
// (no copy) when the room holds the header, and as a copy when it does
// not.
func TestMulticastIn(t *testing.T) {
	payload := []byte("the payload of a multicast")
	groups := []string{"g", "h", "g"}
	submit := func(l *loop) []byte {
		t.Helper()
		rd := l.g.Ready()
		if len(rd.Submits) != 1 {
			t.Fatalf("%d messages handed to the ring, want 1", len(rd.Submits))
		}
		return rd.Submits[0].Payload
	}
	ref := newLoop(t, Config{})
	if _, err := ref.g.Multicast("c", localring.Agreed, 7, groups, payload); err != nil {
		t.Fatal(err)
	}
	want := submit(ref)
	room := MulticastRoom("c", groups)
	for _, tc := range []struct {
		name  string
		room  int
		inBuf bool
	}{
		{"room", room, true},
		{"room to spare", room + 100, true},
		{"exact room", len(want) - len(payload), true},
		{"short room", len(want) - len(payload) - 1, false},
		{"no room", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoop(t, Config{})
			buf := append(make([]byte, tc.room, tc.room+len(payload)+8), payload...)
			seq, err := l.g.MulticastIn("c", localring.Agreed, 7, groups, buf, tc.room)
			if err != nil {
				t.Fatal(err)
			}
			got := submit(l)
			if !bytes.Equal(got, want) {
				t.Fatalf("ring payload\n%q, want Multicast's\n%q", got, want)
			}
			if in := &got[len(got)-1] == &buf[len(buf)-1]; in != tc.inBuf {
				t.Errorf("payload in the caller's buffer: %v, want %v", in, tc.inBuf)
			}
			if cap(got) != len(got) && tc.inBuf {
				t.Errorf("ring payload has capacity %d beyond its %d bytes: appends would write into the caller's buffer", cap(got), len(got))
			}
			if seq != 1 {
				t.Errorf("seq %d, want 1", seq)
			}
		})
	}
}
