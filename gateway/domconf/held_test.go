package domconf

import (
	"testing"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
)

// TestHeldAfterContinues: a regular configuration of the federation that
// continues the domain's (a gateway failover) comes into the stream while
// a site's bridge still holds a Safe message of the ring before it (the
// bridge keeps held messages for a mark of the new ring: bridge,
// continued); the message comes after the entry, with the old ring's
// position. Site a had its mark before the failover and delivered the
// message before the entry. The message is no sign of a configuration the
// node missed: b-1 must deliver it in the configuration it was sent in,
// as a-2 did, and not open a round (follow), which discarded it at b-1,
// its sender, told it was not sent, while a-2 delivered it (EVS 1.1), and
// discarded a-2's next message at b-1 too. gateway/hiersim's domconf
// layer found it at every seed of its gateway crash, pause and local cut
// (sites opened their round at the first held message, each at another
// place).
func TestHeldAfterContinues(t *testing.T) {
	a2, b1 := member("a-2", 1), member("b-1", 1)
	va := newView(t, "a", a2)
	vb := newView(t, "b", b1)
	s := newStream(va, vb)
	s.conf("a", "b")
	s.announce("a", a2)
	s.announce("b", b1)
	s.reform("a", "b")
	before := va.Current().ID
	ring, seq := s.ring, s.seq

	held := bridge.Entry{Kind: bridge.EntryMessage, Pos: localring.DomainOrder{Seq: seq + 1, Ring: ring}, Svc: localring.Safe, Origin: origin(b1, 100), Payload: payload(100)}
	heldSend := held
	heldSend.Kind, heldSend.Pos = bridge.EntrySend, localring.DomainOrder{}
	cont := bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: seq + 3, Ring: ring + 1},
		Conf: bridge.DomainConf{ID: "r:failover", Kind: localring.Regular, Sites: []string{"a", "b"}, Continues: "r"}}
	next := bridge.Entry{Kind: bridge.EntryMessage, Pos: localring.DomainOrder{Seq: seq + 4, Ring: ring + 1}, Svc: localring.Agreed, Origin: origin(a2, 101), Payload: payload(101)}
	nextSend := next
	nextSend.Kind, nextSend.Pos = bridge.EntrySend, localring.DomainOrder{}
	apply := func(v *View, es ...bridge.Entry) {
		for i := range es {
			v.Entry(&es[i])
			s.evs[v] = append(s.evs[v], v.Ready().Events...)
		}
	}
	apply(va, held, cont, nextSend, next)
	apply(vb, cont, heldSend, held, next)

	for _, v := range s.views {
		if c := v.Current(); v.InRound() || c.ID != before || v.Stats().Missed != 0 || v.Stats().Discarded != 0 {
			t.Errorf("%s: in %s, in round %v, stats %+v; want %s, no round, nothing missed or discarded", v.cfg.Self.ID, c.ID, v.InRound(), v.Stats(), before)
		}
		var n int
		for _, e := range s.evs[v] {
			if e.Kind == localring.EventDeliver && e.Msg.Conf == before {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s delivered %d messages in %s, want 2", v.cfg.Self.ID, n, before)
		}
	}
	s.checkAll(t)
}
