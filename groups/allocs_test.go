package groups

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestAllocsPerDelivery bounds the group layer's allocations for a
// multicast the ring delivers to one local member: the Message with room
// for its first recipients and its group (delivery); 3 before the Message
// and Event.To shared one allocation. With Config.ReuseMessages none: the
// delivery is one a Release gave back.
func TestAllocsPerDelivery(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	got := allocsPerDelivery(t, Config{})
	t.Logf("%.1f allocations per delivery", got)
	if got > 1 {
		t.Errorf("%.1f allocations per delivery, want at most 1", got)
	}
	// With Config.ReuseMessages the delivery a Release gave back.
	got = allocsPerDelivery(t, Config{ReuseMessages: true})
	t.Logf("ReuseMessages: %.1f allocations per delivery", got)
	if got > 0 {
		t.Errorf("ReuseMessages: %.1f allocations per delivery, want none", got)
	}
}

// allocsPerDelivery counts the allocations of a multicast from n2 that
// the ring delivers to one local member, its Ready taken and released.
func allocsPerDelivery(t *testing.T, cfg Config) float64 {
	l := newLoop(t, cfg)
	if err := l.g.Join("c", "g"); err != nil {
		t.Fatal(err)
	}
	l.flush()
	n2 := localring.Member{ID: "n2", Inc: 1}
	w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: 1, client: "r", groups: []string{"g"}, data: make([]byte, 1024)}
	payload := w.append(nil)
	l.remoteJoin(n2, "r", "g")
	deliver := func() {
		l.deliver(n2, payload, localring.Agreed)
		rd := l.g.Ready()
		if len(rd.Events) != 1 || len(rd.Events[0].To) != 1 {
			t.Fatalf("events %+v, want one delivery to c", rd.Events)
		}
		l.g.Release(rd)
	}
	deliver()
	return testing.AllocsPerRun(1000, deliver)
}

// TestReuseMessages: with Config.ReuseMessages a delivery's Message is
// the Node's again after the Release of its Ready, and only then: the
// events of a Ready not yet released keep theirs while later deliveries
// come, and one released comes back cleared, holding no payload.
func TestReuseMessages(t *testing.T) {
	l := newLoop(t, Config{ReuseMessages: true})
	if err := l.g.Join("c", "g"); err != nil {
		t.Fatal(err)
	}
	l.flush()
	n2 := localring.Member{ID: "n2", Inc: 1}
	l.remoteJoin(n2, "r", "g")
	seq := uint64(0)
	deliver := func(data string) Ready {
		t.Helper()
		seq++
		w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: seq, client: "r", groups: []string{"g"}, data: []byte(data)}
		l.deliver(n2, w.append(nil), localring.Agreed)
		rd := l.g.Ready()
		if len(rd.Events) != 1 || rd.Events[0].Kind != EventDeliver || string(rd.Events[0].Msg.Payload) != data {
			t.Fatalf("events %+v, want the delivery of %q", rd.Events, data)
		}
		return rd
	}
	a := deliver("a")
	ma := a.Events[0].Msg
	b := deliver("b") // a not released: b has a Message of its own
	mb := b.Events[0].Msg
	if ma == mb || string(ma.Payload) != "a" || ma.Seq != 1 || len(a.Events[0].To) != 1 || a.Events[0].To[0] != "c" {
		t.Fatalf("a's message %+v (to %v) changed by b's delivery", ma, a.Events[0].To)
	}
	l.g.Release(b)
	if mb.Payload != nil || mb.Sender != "" || mb.Groups != nil {
		t.Fatalf("b's message after its Release %+v, want it cleared", mb)
	}
	c := deliver("c")
	if c.Events[0].Msg != mb {
		t.Errorf("c's delivery has a new Message, want b's, released, again")
	}
	if string(c.Events[0].Msg.Payload) != "c" || c.Events[0].Msg.Seq != 3 || c.Events[0].Msg.Groups[0] != "g" || c.Events[0].To[0] != "c" {
		t.Errorf("c's delivery %+v to %v", c.Events[0].Msg, c.Events[0].To)
	}
	// Without it every Message stays the caller's.
	l2 := newLoop(t, Config{})
	if err := l2.g.Join("c", "g"); err != nil {
		t.Fatal(err)
	}
	l2.flush()
	l2.remoteJoin(n2, "r", "g")
	w := wireMsg{kind: kindMulticast, epoch: l2.g.epoch, seq: 1, client: "r", groups: []string{"g"}, data: []byte("x")}
	l2.deliver(n2, w.append(nil), localring.Agreed)
	rd := l2.g.Ready()
	m := rd.Events[0].Msg
	l2.g.Release(rd)
	if string(m.Payload) != "x" {
		t.Errorf("without ReuseMessages a released Message changed: %+v", m)
	}
}

// TestReuseSentMessages: with Config.ReuseMessages the Message of a
// multicast's EventSent is the Node's again after the Release of its
// Ready, for a later multicast, and not before; a multicast sent
// allocates one object less than without.
func TestReuseSentMessages(t *testing.T) {
	l := newLoop(t, Config{ReuseMessages: true})
	a := sendMulticast(t, l, "a")
	if a.Payload != nil || a.Sender != "" {
		t.Fatalf("a's message after its Release %+v, want it cleared", a)
	}
	b := sendMulticast(t, l, "b")
	if b != a {
		t.Errorf("b's EventSent has a new Message, want a's, released, again")
	}
	if raceEnabled {
		return // allocation counts under the race detector mean nothing
	}
	reuse := testing.AllocsPerRun(100, func() { sendMulticast(t, l, "c") })
	l2 := newLoop(t, Config{})
	plain := testing.AllocsPerRun(100, func() { sendMulticast(t, l2, "c") })
	t.Logf("allocations per multicast sent: %.1f, with ReuseMessages %.1f", plain, reuse)
	if reuse > plain-1 {
		t.Errorf("ReuseMessages: %.1f allocations per multicast sent, want one less than %.1f", reuse, plain)
	}
}

// sendMulticast multicasts data from client c to group g at l's node,
// has the ring send it, and returns the Message of its EventSent after
// the Release of its Ready.
func sendMulticast(t *testing.T, l *loop, data string) *Message {
	t.Helper()
	if _, err := l.g.Multicast("c", localring.Agreed, 1, []string{"g"}, []byte(data)); err != nil {
		t.Fatal(err)
	}
	rd := l.g.Ready()
	if len(rd.Submits) != 1 {
		t.Fatalf("submits %+v, want one", rd.Submits)
	}
	l.msgSeq++
	l.g.Step(localring.Event{Kind: localring.EventSend, Msg: localring.Message{
		ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: localring.Agreed, Payload: rd.Submits[0].Payload, Conf: l.conf.ID}})
	rd = l.g.Ready()
	if len(rd.Events) != 1 || rd.Events[0].Kind != EventSent || string(rd.Events[0].Msg.Payload) != data {
		t.Fatalf("events %+v, want the EventSent of %q", rd.Events, data)
	}
	m := rd.Events[0].Msg
	l.g.Release(rd)
	return m
}
