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
