package groups

import (
	"encoding/binary"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestSendAgainAfterLaterMessages drives a Node as a federation domain
// does: the ring tells each handed copy's fate in the order the copies
// were handed, and only once the domain orders it, so a sender has many
// messages on their way. While the domain discards (a round: every copy
// told unsent), each told copy's message is handed again after the others;
// a copy told unsent must not make the Node take the messages queued
// before it, handed again after it and on their way, for unsent. Every
// copy told sent in a regular configuration is delivered everywhere, so
// more than one per message is a duplicate. Before the fix the 12
// messages were handed 119 times (36 with it), and 11 of them were told
// sent, so delivered, 2 to 22 times.
func TestSendAgainAfterLaterMessages(t *testing.T) {
	l := newLoop(t, Config{})
	const msgs, discarded = 12, 24
	for i := range msgs {
		if _, err := l.g.Multicast("c", localring.Agreed, 0, []string{"g"}, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	seqOf := func(p []byte) uint64 {
		s, _ := binary.Uvarint(p[epochAt+8:])
		return s
	}
	var flight [][]byte // copies handed, not yet told, in handing order
	handed := map[uint64]int{}
	take := func() {
		for _, s := range l.g.Ready().Submits {
			flight = append(flight, s.Payload)
			handed[seqOf(s.Payload)]++
		}
	}
	take()
	sent := map[uint64]int{} // copies told sent in the regular configuration
	for told := 0; len(flight) > 0; told++ {
		p := flight[0]
		flight = flight[1:]
		conf := l.conf.ID
		if told < discarded {
			conf = "" // the domain discards it: told unsent
		} else {
			sent[seqOf(p)]++
		}
		l.msgSeq++
		l.g.Step(localring.Event{Kind: localring.EventSend, Msg: localring.Message{
			ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: localring.Agreed, Payload: p, Conf: conf}})
		if err := l.g.checkQueue(); err != nil {
			t.Fatal(err)
		}
		take()
		if told > 10*msgs {
			t.Fatalf("still handing copies after %d told: %d on their way", told, len(flight))
		}
	}
	total := 0
	for seq, n := range handed {
		total += n
		if sent[seq] != 1 {
			t.Errorf("message %d: %d copies told sent in the regular configuration (delivered), want 1; handed %d times", seq, sent[seq], n)
		}
	}
	if len(handed) != msgs {
		t.Errorf("%d messages handed, want %d", len(handed), msgs)
	}
	if l.g.Pending() != 0 {
		t.Errorf("%d messages still pending", l.g.Pending())
	}
	t.Logf("%d messages, %d handings", msgs, total)
}
