package domconf

import (
	"errors"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
)

func member(id string, inc uint64) localring.Member {
	return localring.Member{ID: localring.NodeID(id), Inc: inc}
}

func pos(seq uint64) localring.DomainOrder { return localring.DomainOrder{Seq: seq, Ring: 7} }

// stream feeds the same entries to several Views, as every node of the
// domain applies one stream.
type stream struct {
	seq   uint64
	ring  uint64 // the federation ring of the entries, 7 if unset
	views []*View
	away  []*View // views that miss the entries for now (out of their site's ring)
	evs   map[*View][]localring.Event
}

func (s *stream) entry(e bridge.Entry) {
	s.seq++
	e.Pos = pos(s.seq)
	if s.ring != 0 {
		e.Pos.Ring = s.ring
	}
	for _, v := range s.views {
		if slices.Contains(s.away, v) {
			continue
		}
		v.Entry(&e)
		s.evs[v] = append(s.evs[v], v.Ready().Events...)
	}
}

func (s *stream) conf(sites ...string) {
	s.entry(bridge.Entry{Kind: bridge.EntryConfig, Conf: bridge.DomainConf{ID: "r", Kind: localring.Regular, Sites: sites}})
}

func (s *stream) announce(site string, ms ...localring.Member) {
	p := encodeAnnounce(&announcement{site: site, sites: []string{"a", "b"}, members: ms})
	s.entry(bridge.Entry{Kind: bridge.EntryMessage, Origin: bridge.Origin{Site: site, ID: localring.MessageID{Sender: ms[0].ID, Inc: ms[0].Inc, Seq: s.seq}}, Payload: p})
}

func (s *stream) installs(v *View) []string {
	var out []string
	for _, e := range s.evs[v] {
		if e.Kind == localring.EventInstall {
			out = append(out, e.Conf.ID)
		}
	}
	return out
}

// TestRounds checks the configurations a domain's stream makes: a round
// opened by the domain's configuration installs the regular configuration
// of every site's nodes at the last site's announcement, the same at every
// node; a node that leaves its site makes a transitional and a regular
// configuration without it at once; one that joins opens a round; client
// traffic in a round is discarded and its sender told it was not sent.
func TestRounds(t *testing.T) {
	a1, a2, b1 := member("a-1", 1), member("a-2", 1), member("b-1", 1)
	va, _ := New(Config{Domain: "fed/x", Site: "a", Self: a1})
	vb, _ := New(Config{Domain: "fed/x", Site: "b", Self: b1})
	s := &stream{views: []*View{va, vb}, evs: map[*View][]localring.Event{}}

	va.LocalInstall(&localring.Configuration{ID: "r:a", Kind: localring.Regular, Members: []localring.Member{a1, a2}})
	if up := va.Ready().Up; len(up) != 1 {
		t.Fatalf("a-1, the lowest member of a, sent %d announcements, want 1", len(up))
	}
	s.conf("a", "b")
	s.announce("a", a1, a2)
	if va.Current() != nil || !va.InRound() {
		t.Fatalf("installed %v before b announced", va.Current())
	}
	s.announce("b", b1)
	for _, v := range s.views {
		c := v.Current()
		if c == nil || c.ID != "dr:3@7" || c.Kind != localring.Regular || !slices.Equal(c.Members, []localring.Member{a1, a2, b1}) {
			t.Fatalf("%s installed %+v, want dr:3@7 of a-1, a-2, b-1", v.cfg.Self.ID, c)
		}
	}

	// a-2 leaves a: transitional and regular configuration without it.
	s.announce("a", a1)
	if got := s.installs(va); !slices.Equal(got, []string{"dr:3@7", "dt:4@7/dr:3@7", "dr:4@7"}) {
		t.Fatalf("installs %v", got)
	}
	if c := vb.Current(); c.ID != "dr:4@7" || len(c.Members) != 2 {
		t.Fatalf("b-1 installed %+v", c)
	}

	// a-2 comes back with a new incarnation: a round; traffic in it is
	// discarded, and its sender told so.
	s.announce("a", a1, member("a-2", 2))
	if !va.InRound() || va.Current().Kind != localring.Transitional {
		t.Fatalf("a join did not open a round: %+v", va.Current())
	}
	msg := []byte{0xA7, 5, 0}
	s.entry(bridge.Entry{Kind: bridge.EntrySend, Origin: bridge.Origin{Site: "b", ID: localring.MessageID{Sender: "b-1", Inc: 1, Seq: 99}}, Payload: msg})
	s.entry(bridge.Entry{Kind: bridge.EntryMessage, Origin: bridge.Origin{Site: "b", ID: localring.MessageID{Sender: "b-1", Inc: 1, Seq: 99}}, Payload: msg})
	if va.Stats().Discarded != 1 || vb.Stats().Discarded != 1 {
		t.Fatalf("discarded %d and %d, want 1 each", va.Stats().Discarded, vb.Stats().Discarded)
	}
	last := s.evs[vb][len(s.evs[vb])-1]
	if last.Kind != localring.EventSend || last.Msg.Conf != "" {
		t.Fatalf("the sender was told %+v, want a send outside the regular configuration", last)
	}
	s.announce("b", b1)
	if c := va.Current(); c.Kind != localring.Regular || len(c.Members) != 3 || c.ID != vb.Current().ID {
		t.Fatalf("after the round: a-1 %+v, b-1 %+v", c, vb.Current())
	}
	// a-1's transitional configuration holds the members it knows go on:
	// its site's in its local ring (a-1; a-2 is not in it).
	if got := s.installs(va); !slices.Equal(got[len(got)-2:], []string{"dt:5@7/dr:4@7/r:a", "dr:8@7"}) {
		t.Fatalf("installs %v", got)
	}
	// A message in a regular configuration is delivered at its position.
	s.entry(bridge.Entry{Kind: bridge.EntryMessage, Origin: bridge.Origin{Site: "b", ID: localring.MessageID{Sender: "b-1", Inc: 1, Seq: 100}}, Payload: msg})
	d := s.evs[va][len(s.evs[va])-1]
	if d.Kind != localring.EventDeliver || Position(d.Msg.Order).Seq != s.seq || d.Msg.Conf != va.Current().ID {
		t.Fatalf("delivery %+v at %d", d, s.seq)
	}
}

// TestAnnounceCodec checks that announcements decode to what was encoded
// and that every truncation is refused, not panicked on.
func TestAnnounceCodec(t *testing.T) {
	a := &announcement{site: "a", sites: []string{"a", "b"}, members: []localring.Member{member("a-1", 3), member("a-2", 1<<40)}}
	b := encodeAnnounce(a)
	got, err := decodeAnnounce(b)
	if err != nil || got.site != a.site || !slices.Equal(got.sites, a.sites) || !slices.Equal(got.members, a.members) {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	for i := range len(b) {
		if _, err := decodeAnnounce(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
	if _, err := decodeAnnounce(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// TestMissedConfiguration: a node out of its site's local ring for a
// moment misses a configuration of the domain (a new federation ring) and
// the entries after it; when its site's ring takes it back, the stream
// goes on at it with a message of the new ring. It must not deliver that
// message in its old configuration: it opens a round, discards client
// traffic, and installs the next regular configuration, the same as the
// others', once its site announces it back in and the others answer.
func TestMissedConfiguration(t *testing.T) {
	a1, a2, b1 := member("a-1", 1), member("a-2", 1), member("b-1", 1)
	va1, _ := New(Config{Domain: "fed/x", Site: "a", Self: a1})
	va2, _ := New(Config{Domain: "fed/x", Site: "a", Self: a2})
	vb, _ := New(Config{Domain: "fed/x", Site: "b", Self: b1})
	s := &stream{views: []*View{va1, va2, vb}, evs: map[*View][]localring.Event{}}
	la := &localring.Configuration{ID: "r:a", Kind: localring.Regular, Members: []localring.Member{a1, a2}}
	va1.LocalInstall(la)
	va2.LocalInstall(la)
	s.conf("a", "b")
	s.announce("a", a1, a2)
	s.announce("b", b1)
	old := va2.Current()
	if old == nil || old.Kind != localring.Regular || len(old.Members) != 3 {
		t.Fatalf("a-2 installed %+v", old)
	}

	// a-2 is out of a's ring while the federation forms ring 8.
	s.away, s.ring = []*View{va2}, 8
	va1.LocalInstall(&localring.Configuration{ID: "r:a1", Kind: localring.Regular, Members: []localring.Member{a1}})
	s.conf("a", "b")
	s.announce("a", a1)
	s.announce("b", b1)
	if c := vb.Current(); c.Kind != localring.Regular || len(c.Members) != 2 {
		t.Fatalf("b-1 installed %+v, want a-1 and b-1", c)
	}

	// Back in a's ring: the next entry a-2 gets is a message of ring 8.
	s.away = nil
	la2 := &localring.Configuration{ID: "r:a2", Kind: localring.Regular, Members: []localring.Member{a1, a2}}
	va1.LocalInstall(la2)
	va2.LocalInstall(la2)
	before := len(s.evs[va2])
	msg := []byte{0xA7, 5, 0}
	s.entry(bridge.Entry{Kind: bridge.EntryMessage, Origin: bridge.Origin{Site: "b", ID: localring.MessageID{Sender: "b-1", Inc: 1, Seq: 50}}, Payload: msg})
	for _, e := range s.evs[va2][before:] {
		if e.Kind == localring.EventDeliver {
			t.Fatalf("a-2 delivered a message of ring 8 in %s, a configuration of ring 7", e.Msg.Conf)
		}
	}
	if va2.Stats().Missed != 1 || !va2.InRound() || va2.Current().Kind != localring.Transitional {
		t.Fatalf("a-2 after the gap: missed %d, in round %v, current %+v", va2.Stats().Missed, va2.InRound(), va2.Current())
	}
	if tc := va2.Current(); !slices.Equal(tc.Members, []localring.Member{a1, a2}) {
		t.Fatalf("a-2's transitional configuration %v, want the members of its local ring it knew: a-1, a-2", tc.Members)
	}

	// a announces a-2 back; b answers the round that opens.
	s.announce("a", a1, a2)
	s.announce("b", b1)
	for _, v := range s.views {
		c := v.Current()
		if c.Kind != localring.Regular || !slices.Equal(c.Members, []localring.Member{a1, a2, b1}) || c.ID != vb.Current().ID {
			t.Fatalf("%s installed %+v, want %s of a-1, a-2, b-1", v.cfg.Self.ID, c, vb.Current().ID)
		}
	}
	s.entry(bridge.Entry{Kind: bridge.EntryMessage, Origin: bridge.Origin{Site: "b", ID: localring.MessageID{Sender: "b-1", Inc: 1, Seq: 51}}, Payload: msg})
	for _, v := range s.views {
		if d := s.evs[v][len(s.evs[v])-1]; d.Kind != localring.EventDeliver || d.Msg.Conf != vb.Current().ID {
			t.Fatalf("%s: last event %+v, want the delivery in %s", v.cfg.Self.ID, d, vb.Current().ID)
		}
	}
}
