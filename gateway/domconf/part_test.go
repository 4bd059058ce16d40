package domconf

import (
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
)

// TestPartAlone: a-2, no gateway, is taken out of its site's ring into a
// ring of its own, with no gateway of the domain; its bridge leaves the
// domain's configuration (bridge.Site.NoGateway): its message 10, which
// the others may deliver in the domain's configuration, told sent there,
// delivered in doubt in a transitional configuration of a-2 alone, then
// the regular configuration of its part (bridge.DomainConf.Part). a-2
// installs it at once, with the members of its local ring, a-2 alone:
// no announcement of its part can come down, and a round waiting for
// one left it in its transitional configuration for as long as it is
// cut off. Its traces pass the EVS checker with the others', who go on
// without it and deliver 10 in the domain's configuration.
func TestPartAlone(t *testing.T) {
	s, va1, va2, vb := abDomain(t)
	reg := va2.Current().ID
	last := s.log[len(s.log)-1].Pos // the last entry a-2 applied
	s.sent(va2, 10)
	at := s.seq

	s.away = []*View{va2}
	s.deliver(va2, 10)
	s.sent(vb, 11)
	s.deliver(vb, 11)

	s.away, s.seq = []*View{va1, vb}, at
	va2.LocalInstall(&localring.Configuration{ID: "r:40:a-2", Kind: localring.Regular, Ring: localring.RingID{Seq: 40, Rep: "a-2"},
		Members: []localring.Member{va2.cfg.Self}})
	va2.Ready() // its announcement goes up its ring alone: nowhere
	s.entry(bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: last.Seq, Ring: last.Ring + 1},
		Conf: bridge.DomainConf{ID: "part:a/a-2:t:40:a-2/101:a+b", Kind: localring.Transitional, Sites: []string{"a"}, Part: []string{"a-2"}}})
	s.entry(bridge.Entry{Kind: bridge.EntryMessage, Svc: localring.Agreed, Origin: origin(va2.cfg.Self, 10), Payload: payload(10),
		Pos: localring.DomainOrder{Seq: last.Seq, Ring: last.Ring + 2}, InDoubt: true})
	s.entry(bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: last.Seq, Ring: last.Ring + 3},
		Conf: bridge.DomainConf{ID: "part:a:r:40:a-2", Kind: localring.Regular, Sites: []string{"a"}, Part: []string{"a-2"}}})

	c := va2.Current()
	if c == nil || c.Kind != localring.Regular || !strings.HasSuffix(c.ID, "/part:a:r:40:a-2") || !slices.Equal(c.Members, []localring.Member{va2.cfg.Self}) || va2.InRound() {
		t.Fatalf("a-2 is in %+v (round open: %v), want the regular configuration of its part, a-2 alone", c, va2.InRound())
	}
	if st := va2.Stats(); st.Parts != 1 {
		t.Errorf("a-2 installed %d configurations of its part, want 1", st.Parts)
	}
	var sent, delivered string
	for _, e := range s.evs[va2] {
		switch {
		case e.Kind == localring.EventSend && e.Msg.ID.Seq == 10:
			sent = e.Msg.Conf
		case e.Kind == localring.EventDeliver && e.Msg.ID.Seq == 10:
			delivered = e.Msg.Conf
		}
	}
	if sent != reg || !strings.HasPrefix(delivered, "dt:") {
		t.Errorf("a-2's message 10 told sent in %q, delivered in %q: want sent in %s, delivered in its transitional configuration", sent, delivered, reg)
	}
	s.checkAll(t)
}
