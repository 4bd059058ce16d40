package groups

import (
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestSentElsewhere drives a Node as a federation domain's view does for
// an Up its site dropped as done elsewhere (gateway/bridge Entry.Gone).
// Told nothing, m1 stayed as on its way: the Node handed it again once
// m2, handed after it, was told sent (a second copy wherever the first
// was delivered), or, m1 the last it handed before a merge, never handed
// another (Node.stale stayed at 1). Told sent elsewhere (SentElsewhere),
// it is dropped: neither reported sent nor handed again, and reported
// sent elsewhere (EventSentElsewhere, with its Seq), so that its sender
// is told (agent: the client's flush, and an error). Told unsent (conf
// ""), it is handed again, once.
func TestSentElsewhere(t *testing.T) {
	tell := func(l *loop, s Submit, conf string) {
		l.msgSeq++
		l.g.Step(localring.Event{Kind: localring.EventSend, Msg: localring.Message{
			ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: s.Svc, Payload: s.Payload, Conf: conf}})
	}
	multicast := func(l *loop, data string) Submit {
		if _, err := l.g.Multicast("c", localring.Agreed, 0, []string{"g"}, []byte(data)); err != nil {
			t.Fatal(err)
		}
		rd := l.g.Ready()
		if len(rd.Submits) != 1 {
			t.Fatalf("%s: %d submits, want 1", data, len(rd.Submits))
		}
		return rd.Submits[0]
	}

	t.Run("then a later send", func(t *testing.T) {
		l := newLoop(t, Config{})
		m1 := multicast(l, "m1")
		m2 := multicast(l, "m2")
		tell(l, m1, SentElsewhere)
		tell(l, m2, l.conf.ID)
		rd := l.g.Ready()
		sent, elsewhere := 0, 0
		for _, e := range rd.Events {
			switch e.Kind {
			case EventSent:
				sent++
				if string(e.Msg.Payload) != "m2" {
					t.Errorf("reported sent: %q, want only m2", e.Msg.Payload)
				}
			case EventSentElsewhere:
				elsewhere++
				if m := e.Msg; string(m.Payload) != "m1" || m.Seq != 1 || m.Conf != SentElsewhere || m.Sender != "n1:c" || !slices.Equal(m.Groups, []string{"g"}) {
					t.Errorf("reported sent elsewhere: %+v, want m1 (seq 1, n1:c to g) in %q", m, SentElsewhere)
				}
			}
		}
		if len(rd.Submits) != 0 || sent != 1 || elsewhere != 1 || l.g.Pending() != 0 {
			t.Errorf("%d handed again, %d reported sent, %d sent elsewhere, %d pending: want m1 dropped and reported so, m2 sent",
				len(rd.Submits), sent, elsewhere, l.g.Pending())
		}
		if st := l.g.Stats(); st.Elsewhere != 1 || st.Resent != 0 {
			t.Errorf("stats %+v: want one sent elsewhere, none sent again", st)
		}
		if err := l.g.checkQueue(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the last before a merge", func(t *testing.T) {
		l := newLoop(t, Config{})
		m1 := multicast(l, "m1")
		l.merge(t)
		if _, err := l.g.Multicast("c", localring.Agreed, 0, []string{"g"}, []byte("m2")); err != nil {
			t.Fatal(err)
		}
		if n := len(l.g.Ready().Submits); n != 0 {
			t.Fatalf("m2 handed (%d) while m1 of the old state is on its way", n)
		}
		tell(l, m1, SentElsewhere)
		rd := l.g.Ready()
		if len(rd.Submits) != 1 || string(rd.Submits[0].Payload[len(rd.Submits[0].Payload)-2:]) != "m2" {
			t.Fatalf("after m1 told sent elsewhere: submits %d, want m2 alone", len(rd.Submits))
		}
		if len(rd.Events) != 1 || rd.Events[0].Kind != EventSentElsewhere || string(rd.Events[0].Msg.Payload) != "m1" {
			t.Errorf("after m1 told sent elsewhere: events %v, want m1 sent elsewhere", rd.Events)
		}
	})

	t.Run("unsent", func(t *testing.T) {
		l := newLoop(t, Config{})
		m1 := multicast(l, "m1")
		tell(l, m1, "")
		rd := l.g.Ready()
		if len(rd.Submits) != 1 || l.g.Stats().Resent != 1 {
			t.Errorf("m1 told unsent: %d submits, %d resent; want handed again once", len(rd.Submits), l.g.Stats().Resent)
		}
	})
}

// merge installs a configuration that adds n4, whose empty report
// completes the state exchange: a new epoch, and everything in the ring
// handed with the old one (Node.stale).
func (l *loop) merge(t *testing.T) {
	t.Helper()
	ring := localring.RingID{Seq: l.conf.Ring.Seq + 4, Rep: "n1"}
	old := l.conf
	l.g.Step(localring.Event{Kind: localring.EventInstall, Conf: &localring.Configuration{
		ID: "t:" + ring.String() + "/" + old.ID, Kind: localring.Transitional, Ring: ring, Members: old.Members}})
	l.conf = &localring.Configuration{ID: "r:" + ring.String(), Kind: localring.Regular, Ring: ring,
		Members: append(append([]localring.Member(nil), old.Members...), localring.Member{ID: "n4", Inc: 1})}
	l.g.Step(localring.Event{Kind: localring.EventInstall, Conf: l.conf})
	for _, s := range l.g.Ready().Submits {
		l.deliver(localring.Member{ID: "n1", Inc: 1}, s.Payload, s.Svc) // its report
	}
	for _, id := range []localring.NodeID{"n2", "n3", "n4"} {
		w := wireMsg{kind: kindReport, rep: &report{conf: l.conf.ID, last: true}}
		l.deliver(localring.Member{ID: id, Inc: 1}, w.append(nil), localring.Agreed)
	}
	if !l.g.Synced() || l.g.stale != 1 {
		t.Fatalf("after the merge: synced %v, stale %d; want synced, m1 stale", l.g.Synced(), l.g.stale)
	}
}
