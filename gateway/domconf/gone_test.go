package domconf

import (
	"testing"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// TestGoneTold: an EntrySend marked Gone (its site dropped the Up as
// done elsewhere: gateway/bridge Entry.Gone) never has its message come
// down, so the View tells it at once, as the bridge says: unsent (conf
// ""), or, marked Elsewhere, sent in a configuration this node left
// (groups.SentElsewhere). Held until its message came, as every other
// send, the group layer was told nothing, and handed it again after its
// next send told (bridge TestGoneOwnUpElsewhere).
func TestGoneTold(t *testing.T) {
	a1, b1 := member("a-1", 1), member("b-1", 1)
	va, vb := newView(t, "a", a1), newView(t, "b", b1)
	s := newStream(va, vb)
	s.conf("a", "b")
	s.announce("a", a1)
	s.announce("b", b1)
	s.reform("a", "b")
	for _, c := range []struct {
		seq       uint64
		elsewhere bool
		conf      string
	}{{70, false, ""}, {71, true, groups.SentElsewhere}} {
		before := len(s.evs[va])
		away := s.away
		s.away = []*View{vb}
		s.entry(bridge.Entry{Kind: bridge.EntrySend, Svc: localring.Agreed, Origin: origin(a1, c.seq), Payload: payload(c.seq), Gone: true, Elsewhere: c.elsewhere})
		s.away = away
		s.seq--
		evs := s.evs[va][before:]
		if len(evs) != 1 || evs[0].Kind != localring.EventSend || evs[0].Msg.ID != origin(a1, c.seq).ID || evs[0].Msg.Conf != c.conf {
			t.Errorf("a-1's Up %d gone (elsewhere %v): events %+v, want its send told in %q", c.seq, c.elsewhere, evs, c.conf)
		}
	}
	if st := va.Stats(); st.GoneTold != 2 {
		t.Errorf("a-1 stats %+v: want 2 sends told gone", st)
	}
}
