// The predecessor whose order the Ups in doubt take, and its places
// (see the package comment, "The order of Ups in doubt is the
// predecessor's"): three cases the package comment kept as known gaps,
// each an EVS 6 break before (site a's nodes delivered the two Ups in
// doubt in the reverse of b's and c's order), none since.
package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestInDoubtOrderInterimTerm: a term between that submitted nothing.
// a1, a's gateway, has a4's Up u1 in a ring of a1 and a4 alone, then
// a3's u2 in a ring of a1, a2, a3: it submits u1, then u2, and b and c order both; a1 dies before it
// injects them. a2 takes over (a4 cut off) with u2 in doubt and dies in
// doubt, its member in no federation ring. a3 takes over with a4 back:
// u1 comes from a4's Again. The last gateway named is a2, which never had
// u1 and submitted nothing; a's first ring is one of its site alone.
// a3 saw a2's term whole and no ring settled in it (Site.predecessor):
// the Ups in doubt go in a1's order, u1 before u2 (in a2's, before,
// u2 then u1).
func TestInDoubtOrderInterimTerm(t *testing.T) {
	h := newDomain(t, 0, 4, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a2, a3, a4 := h.node("a2"), h.node("a3"), h.node("a4")
	a2.out, a3.out = true, true
	h.localConfig(h.site("a")) // a1, a4
	h.settle()
	h.send("a4", "u1")
	u1 := h.sent[len(h.sent)-1]
	h.localStep(h.site("a"))
	a2.out, a3.out, a4.out = false, false, true
	h.localConfig(h.site("a")) // a1, a2, a3
	for h.localStep(h.site("a")) {
	}
	h.send("a3", "u2")
	u2 := h.sent[len(h.sent)-1]
	h.localStep(h.site("a"))
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a1 submitted %d Ups, want 2", n)
	}
	h.frozen[h.node("a1")] = true
	h.fedStep() // ordered: u1, u2
	h.crash("a1")
	h.fedConfig("b", "c")
	h.settle()
	h.localConfig(h.site("a")) // a2, a3: a2's term
	if !a2.b.Active() {
		t.Fatal("a2 is not the active gateway")
	}
	h.settle()
	h.crash("a2") // in doubt, in no federation ring
	a4.out = false
	h.localConfig(h.site("a")) // a3, a4: a3's term
	if !a3.b.Active() {
		t.Fatal("a3 is not the active gateway")
	}
	h.settle()
	t.Logf("a3 pending %v, predecessor %s", pendingOrigins(a3), a3.b.pred)
	aloneInDoubt(t, h, u1, u2, a3, a4)
	if st := a3.b.Stats(); st.InDoubtEarlierPred != 1 {
		t.Errorf("a3 took an earlier gateway's order %d times, want once", st.InDoubtEarlierPred)
	}
}

// takeOver installs a new local ring at n's site, where n is the active
// gateway.
func (h *harness) takeOver(n *hnode) {
	h.t.Helper()
	h.localConfig(n.site)
	if !n.b.Active() {
		h.t.Fatalf("%s is not the active gateway", n.id)
	}
}

// aloneInDoubt has site a's active gateway form a federation ring of its
// site alone and runs the rings: b1 delivered u1 before u2, and each of
// nodes delivers both, in doubt, in that order.
func aloneInDoubt(t *testing.T, h *harness, u1, u2 Origin, nodes ...*hnode) {
	t.Helper()
	h.fedAlone("a")
	h.settle()
	want := streamOrder(h.node("b1"), u1, u2)
	if !slices.Equal(want, []Origin{u1, u2}) {
		t.Fatalf("b1 delivered %v, want u1 then u2", want)
	}
	for _, n := range nodes {
		if got := streamOrder(n, u1, u2); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v (in doubt), b1 %v: EVS 6", n.id, got, want)
		}
	}
}

// TestInDoubtOrderUnknownFirst: an Up whose predecessor's place the new
// term's node never saw. a2 is a's gateway in a
// ring of a2, a3 and a4 (a1 and a5 away), where a4 sends u; its member
// joins no federation ring. a1, back in a ring of a1, a4 and a5 (a2 and
// a3 away), gets u from a4's Again, then a5's v, submits u, then v, and
// b and c order both; a1 dies before it injects them. a3 takes over in a
// ring of a3 and a5 (a4 away): a5's Seen names a1 as the gateway before
// and where a1 had v, but nobody tells a3 where a1 had u (a4, its sender,
// is away), but a5 was there: its Relay does (Site.relay). a's first ring
// is one of its site alone. Without the Relay u went last, after v.
func TestInDoubtOrderUnknownFirst(t *testing.T) {
	h := newDomain(t, 0, 5, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a1, a2, a3, a4, a5 := h.node("a1"), h.node("a2"), h.node("a3"), h.node("a4"), h.node("a5")
	a1.out, a5.out = true, true
	h.localConfig(h.site("a")) // a2, a3, a4: a2's term
	h.settle()
	h.send("a4", "u")
	u := h.sent[len(h.sent)-1]
	h.settle()
	a1.out, a5.out, a2.out, a3.out = false, false, true, true
	a1.b.FedStopped() // its member was fenced while it was away
	h.collect(a1)
	h.localConfig(h.site("a")) // a1, a4, a5
	if !a1.b.Active() {
		t.Fatal("a1 is not the active gateway")
	}
	h.fedConfig("a", "b", "c")
	h.settleBeforeUps()
	h.send("a5", "v")
	v := h.sent[len(h.sent)-1]
	h.settleBeforeUps()
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a1 submitted %d Ups, want 2 (pending %v)", n, pendingOrigins(a1))
	}
	h.frozen[a1] = true
	h.fedStep() // ordered: u, v
	h.crash("a1")
	h.fedConfig("b", "c")
	h.settle()
	a2.out, a3.out, a4.out = false, false, true
	h.crash("a2")
	h.localConfig(h.site("a")) // a3, a5: a3's term
	if !a3.b.Active() {
		t.Fatal("a3 is not the active gateway")
	}
	h.settle()
	t.Logf("a3 pending %v, predecessor %s", pendingOrigins(a3), a3.b.pred)
	h.fedAlone("a")
	h.settle()
	want := streamOrder(h.node("b1"), u, v)
	if !slices.Equal(want, []Origin{u, v}) {
		t.Fatalf("b1 delivered %v, want u then v", want)
	}
	if st := a3.b.Stats(); st.RelayedFirsts == 0 || st.InDoubtEarlierPred != 0 {
		t.Errorf("a3 stats %+v: want places a Relay told it, and the predecessor's order", st)
	}
	for _, n := range []*hnode{a3, a5} {
		if got := streamOrder(n, u, v); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v (in doubt), b1 %v: EVS 6", n.id, got, want)
		}
	}
}

// settleBeforeUps runs every ring until nothing is left to deliver but
// Ups queued on the federation ring: those stay queued.
func (h *harness) settleBeforeUps() {
	h.settleWith(func() bool {
		n := slices.IndexFunc(h.fedQ, func(m hmsg) bool {
			x, err := decodeFed(m.payload)
			_, up := x.(*fedUp)
			return err == nil && up
		})
		if n < 0 {
			n = len(h.fedQ)
		}
		return h.fedStepFirst(n)
	})
}

// TestInDoubtOrderLeftFirst: a predecessor's place it left. a1, a's gateway in a ring of
// a1, a3 and a5, is deaf when a5's u is delivered there, and leaves the
// ring: a3 and a5 note a1's place for u as left. a3 is the gateway of the
// ring of a3, a4 and a5 that follows, where a4 sends w; its member joins
// no federation ring. a1, back in a ring of a1, a4 and a5 (a3 away), gets
// w from a4's Again, then u from a5's, submits w, then u, and b and c
// order both; a1 dies before it injects them. a3 takes over in a ring of
// a3 and a4 (a5 away): a4's Seen names a1 as the gateway before and where
// it had w; for u a3 knows only a1's left place in the first ring,
// before that of w, but a4 was where a1 had u and tells it in its Relay.
// a's first ring is one of its site alone. Without the Relay u went
// first, by the place a1 left.
func TestInDoubtOrderLeftFirst(t *testing.T) {
	h := newDomain(t, 0, 5, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a1, a2, a3, a4, a5 := h.node("a1"), h.node("a2"), h.node("a3"), h.node("a4"), h.node("a5")
	a2.out, a4.out = true, true
	h.localConfig(h.site("a")) // a1, a3, a5
	h.settle()
	a1.out = true // deaf
	h.send("a5", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a"))
	h.localTrans(h.site("a")) // a3, a5: a1 left
	a4.out = false
	h.localConfig(h.site("a")) // a3, a4, a5: a3's term
	if !a3.b.Active() {
		t.Fatal("a3 is not the active gateway")
	}
	h.settle()
	h.send("a4", "w")
	w := h.sent[len(h.sent)-1]
	h.settle()
	a1.out, a3.out = false, true
	a1.b.FedStopped() // its member was fenced while it was away
	h.collect(a1)
	h.localConfig(h.site("a")) // a1, a4, a5
	if !a1.b.Active() {
		t.Fatal("a1 is not the active gateway")
	}
	h.fedConfig("a", "b", "c")
	h.settleBeforeUps()
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a1 submitted %d Ups, want 2 (pending %v)", n, pendingOrigins(a1))
	}
	h.frozen[a1] = true
	h.fedStep() // ordered: w, u
	h.crash("a1")
	h.fedConfig("b", "c")
	h.settle()
	a3.out, a5.out = false, true
	a3.b.FedStopped() // its member was fenced while it was away
	h.collect(a3)
	h.localConfig(h.site("a")) // a3, a4: a3's term
	if !a3.b.Active() {
		t.Fatal("a3 is not the active gateway")
	}
	h.settle()
	t.Logf("a3 pending %v, predecessor %s", pendingOrigins(a3), a3.b.pred)
	h.fedAlone("a")
	h.settle()
	want := streamOrder(h.node("b1"), u, w)
	if !slices.Equal(want, []Origin{w, u}) {
		t.Fatalf("b1 delivered %v, want w then u", want)
	}
	if st := a3.b.Stats(); st.RelayedFirsts == 0 || st.InDoubtEarlierPred != 0 {
		t.Errorf("a3 stats %+v: want places a Relay told it, and the predecessor's order", st)
	}
	for _, n := range []*hnode{a3, a4} {
		if got := streamOrder(n, u, w); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v (in doubt), b1 %v: EVS 6", n.id, got, want)
		}
	}
}

// localTrans installs at site s's live nodes that are not out the
// transitional configuration of them that ends the local ring's regular
// one (localConfig installs the next regular one).
func (h *harness) localTrans(s *hsite) {
	c := &localring.Configuration{Kind: localring.Transitional, Ring: localring.RingID{Seq: s.ring + 4}}
	c.ID = fmt.Sprintf("t:%d/%d", s.ring+4, s.ring)
	var in []*hnode
	for _, n := range s.nodes {
		if n.alive && !n.out {
			in = append(in, n)
			c.Members = append(c.Members, localring.Member{ID: n.id, Inc: 1})
		}
	}
	for _, n := range in {
		n.b.LocalInstall(c, false)
		h.collect(n)
	}
}

// TestPredecessorSettled: the predecessor whose order the Ups in doubt
// take is the last gateway named before the term, unless this node saw
// that one's term whole (named only in Haves it delivered, after another
// gateway) and saw it inject nothing after the position its Have named
// (notePast): then the one before, and so on. An entry injected again
// (at or before that position), a restart, or one injected by a gateway
// named before the last one, settles nothing; a message or a
// configuration after it does.
func TestPredecessorSettled(t *testing.T) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a4"})
	if err != nil {
		t.Fatal(err)
	}
	pos := func(seq uint64) localring.DomainOrder { return localring.DomainOrder{Seq: seq, Ring: 4} }
	reg := func(seq uint64) *down {
		return &down{entry: Entry{Pos: pos(seq), Kind: EntryConfig, Conf: DomainConf{ID: fmt.Sprint("r:", seq), Kind: localring.Regular, Sites: []string{"a"}}}}
	}
	s.name(naming{gw: "a1", at: termAt{ring: 4}, pos: pos(2), own: true})
	s.notePast("a1", reg(3)) // a1's ring settled
	s.name(naming{gw: "a1", at: termAt{ring: 8}, pos: pos(3), own: true})
	s.name(naming{gw: "a2", at: termAt{ring: 12}, pos: pos(5), own: true})
	s.notePast("a2", reg(5)) // injected again: at the position a2 named
	s.pred, s.predAt = "a2", termAt{ring: 12}
	if got := s.predecessor(); got != "a1" {
		t.Errorf("a2's term settled no ring: predecessor %s, want a1", got)
	}
	s.name(naming{gw: "a2", at: termAt{ring: 16}, pos: pos(5), own: true})
	s.name(naming{gw: "a3", at: termAt{ring: 20}, pos: pos(5), own: true})
	s.notePast("a2", reg(7)) // a2 is not the last gateway named: a member answering a Have phase
	s.pred, s.predAt = "a3", termAt{ring: 20}
	if got := s.predecessor(); got != "a1" {
		t.Errorf("neither a3's term nor a2's (named at 12 and 16) settled a ring: predecessor %s, want a1", got)
	}
	rs := reg(8)
	rs.restart = true
	s.notePast("a3", rs)
	if got := s.predecessor(); got != "a1" {
		t.Errorf("a restart settles nothing: predecessor %s, want a1", got)
	}
	s.notePast("a3", &down{entry: Entry{Pos: pos(6), Kind: EntryMessage, Origin: Origin{Site: "b", ID: localring.MessageID{Sender: "b1", Inc: 1, Seq: 1}}, Svc: localring.Agreed}})
	if got := s.predecessor(); got != "a3" {
		t.Errorf("a3 injected a message after its Have's position: predecessor %s, want a3", got)
	}
	s.name(naming{gw: "a5", at: termAt{ring: 24}})
	s.pred, s.predAt = "a5", termAt{ring: 24}
	if got := s.predecessor(); got != "a5" {
		t.Errorf("a5 named in a Seen only (a ring this node was not in): predecessor %s, want a5", got)
	}
	t2, err := New(Config{Domain: "fed/test", Site: "a", Node: "a4"})
	if err != nil {
		t.Fatal(err)
	}
	t2.name(naming{gw: "a2", at: termAt{ring: 12}, pos: pos(5), own: true})
	t2.pred, t2.predAt = "a2", termAt{ring: 12}
	if got := t2.predecessor(); got != "a2" {
		t.Errorf("no gateway known before a2: predecessor %s, want a2", got)
	}
}

// TestRelayWire: a Relay decodes as it was encoded; one without a
// sender or a place for a first delivery, or cut short, does not. Its
// kind is new: a bridge that does not know it takes it for no bridge
// message of its own (isLocal) and ignores it.
func TestRelayWire(t *testing.T) {
	tag := DomainTag("fed/test")
	at := localring.Order{Ring: 12, Seq: 7, Index: 3}
	for _, r := range []*relayMsg{{ups: []relayUp{{sender: "a3", inc: 1, seq: 4, firsts: []first{{"a1", at, false}, {"a2", localring.Order{Ring: 16, Seq: 1}, true}}}, {sender: "a5", inc: 2, seq: 9}}}, {}} {
		if gt, d, err := decodeLocal(encodeRelay(tag, r)); err != nil || gt != tag || d.relay == nil || fmt.Sprint(*d.relay) != fmt.Sprint(*r) {
			t.Errorf("Relay %+v decoded as %+v of tag %#x, %v", r, d.relay, gt, err)
		}
	}
	for _, r := range []*relayMsg{{ups: []relayUp{{inc: 1, seq: 4}}}, {ups: []relayUp{{sender: "a3", inc: 1, seq: 4, firsts: []first{{"a1", localring.Order{}, false}}}}},
		{ups: []relayUp{{sender: "a3", inc: 1, seq: 4, firsts: []first{{"", at, false}}}}}} {
		if _, _, err := decodeLocal(encodeRelay(tag, r)); err == nil {
			t.Errorf("a Relay %+v decoded: it names the sender of each Up, and a node and a place for each first delivery", r)
		}
	}
	b := encodeRelay(tag, &relayMsg{ups: []relayUp{{sender: "a3", inc: 1, seq: 4, firsts: []first{{"a1", at, false}}}}})
	for i := range len(b) {
		if _, _, err := decodeLocal(b[:i]); err == nil {
			t.Errorf("a Relay cut at %d of %d bytes decoded", i, len(b))
		}
	}
	if _, _, err := decodeLocal(append(slices.Clone(b), 0)); err == nil {
		t.Error("a Relay with a trailing byte decoded")
	}
	if b[0] <= kindSeen {
		t.Errorf("the Relay's kind %#x is not a new one", b[0])
	}
}

// TestRelayChunks: a node relays, at a regular configuration, the places
// where the gateways it knows were named first had the pending Ups of
// other senders, its own and the other nodes' places left out, in as
// many Relays as it takes to stay within Config.MaxLocalBytes, every Up
// once, in pending order.
func TestRelayChunks(t *testing.T) {
	const max = 4096
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a2", MaxLocalBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	s.name(naming{gw: "a1", at: termAt{ring: 4}, own: true})
	at := localring.Order{Ring: 4, Seq: 1}
	const n = 1027
	for i := range n {
		s.pending = append(s.pending, pendingUp{fedUp: fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: "a3", Inc: 1, Seq: uint64(i + 1)}}},
			firsts: []first{{"a1", at, false}, {"a2", at, false}, {"a3", at, false}}})
	}
	s.pending = append(s.pending, pendingUp{fedUp: fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: "a2", Inc: 1, Seq: 1}}, svc: localring.Agreed}, firsts: []first{{"a1", at, false}}})
	s.LocalInstall(&localring.Configuration{ID: "r:8", Kind: localring.Regular, Ring: localring.RingID{Seq: 8}, Members: []localring.Member{{ID: "a1", Inc: 1}, {ID: "a2", Inc: 1}}}, false)
	var seqs []uint64
	relays, bytes := 0, 0
	for _, b := range s.Ready().Local {
		_, l, err := decodeLocal(b)
		if err != nil {
			t.Fatal(err)
		}
		if l.relay == nil {
			continue
		}
		relays++
		bytes += len(b)
		if len(b) > max {
			t.Errorf("a Relay of %d bytes, more than MaxLocalBytes %d", len(b), max)
		}
		for _, u := range l.relay.ups {
			if u.sender != "a3" || fmt.Sprint(u.firsts) != fmt.Sprint([]first{{"a1", at, false}}) {
				t.Fatalf("relayed %+v, want a3's Ups with a1's place alone", u)
			}
			seqs = append(seqs, u.seq)
		}
	}
	if len(seqs) != n || !slices.IsSorted(seqs) || slices.Compact(slices.Clone(seqs))[n-1] != n {
		t.Errorf("relayed %d Ups, want a3's %d in order once each", len(seqs), n)
	}
	if want := (bytes + max - 1) / max; relays > want+1 {
		t.Errorf("%d Relays of %d bytes in all, want about %d: each as full as it fits", relays, bytes, want)
	}
	t.Logf("%d Ups in %d Relays, %d bytes", n, relays, bytes)
}

// TestPredecessorOtherPart: a gateway of another part of the site named
// after this node's term began (a Seen: otherGw) is taken for the
// predecessor when this node never saw the predecessor's term settle a
// ring; one it saw settle stays (hiersim TestTakerDiesHole).
func TestPredecessorOtherPart(t *testing.T) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a3"})
	if err != nil {
		t.Fatal(err)
	}
	pos := localring.DomainOrder{Seq: 5, Ring: 4}
	s.name(naming{gw: "a1", at: termAt{ring: 4}, own: true, settled: true})
	s.name(naming{gw: "a2", at: termAt{ring: 8}})
	s.name(naming{gw: "a2", at: termAt{ring: 12}, pos: pos, own: true})
	s.name(naming{gw: "a3", at: termAt{ring: 16}, pos: pos, own: true})
	s.pred, s.predAt, s.termStart = "a2", termAt{ring: 12}, termAt{ring: 16}
	if got := s.predecessor(); got != "a2" {
		t.Errorf("no other gateway named: predecessor %s, want a2 (named in a Seen at 8)", got)
	}
	s.seen("a4", &seenMsg{gw: "a1", gwAt: termAt{ring: 24}})
	if got := s.predecessor(); got != "a1" {
		t.Errorf("a1 named at 24, after the term began at 16, a2 never seen to settle: predecessor %s, want a1", got)
	}
	s.notePast("a2", &down{entry: Entry{Pos: localring.DomainOrder{Seq: 6, Ring: 4}, Kind: EntryMessage, Origin: Origin{Site: "b", ID: localring.MessageID{Sender: "b1", Inc: 1, Seq: 1}}, Svc: localring.Agreed}})
	if got := s.predecessor(); got != "a1" {
		t.Errorf("a2 injected nothing while it was the last gateway named: predecessor %s, want a1", got)
	}
	s.namings[slices.IndexFunc(s.namings, func(n naming) bool { return n.gw == "a2" && n.own })].settled = true
	if got := s.predecessor(); got != "a2" {
		t.Errorf("a2's term settled a ring: predecessor %s, want a2", got)
	}
	s.seen("a4", &seenMsg{gw: "a3", gwAt: termAt{ring: 28}})
	if got := s.predecessor(); got != "a2" {
		t.Errorf("this node named in a Seen: predecessor %s, want a2", got)
	}
}

// TestInDoubtOrderQuietOther: a term of another part of the site, named
// to the new term's node only in a Seen, that submitted nothing. a2, a's
// gateway (a1 dead), delivers its u1 in a ring of its own (a3 away),
// where it submits it. a3 takes over in a ring of its own (a2 away),
// sends u2 and submits nothing. a2 comes back into a ring with a3 in the
// same term (its member still in the federation ring), gets u2 from a3's
// Again, and submits it; b and c order u1, then u2, a2's member cut off
// before it numbers them, then fenced. a3 first had u2, a2 u1. a3 takes
// over again in a ring of its own and submits nothing; a2 back takes
// over, and a3's Seen names a3 the gateway before, at a place a2 was
// not: the predecessor. a's first ring is one of its site alone: in a3's
// order, a delivered u2 before u1 (EVS 6: b and c u1 before u2), as the
// hiersim run of the global domain's starvation at seed 49 did. a3's
// Terms says that its terms submitted nothing (Site.quietTerm), and a2
// knows that its own did: the Ups in doubt go in a2's order.
func TestInDoubtOrderQuietOther(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a2, a3 := h.node("a2"), h.node("a3")
	h.crash("a1")
	h.takeOver(a2) // a2, a3: a2's term
	h.fedConfig("a", "b", "c")
	h.settle()
	a3.out = true
	h.localConfig(h.site("a")) // a2 alone
	h.settle()
	h.send("a2", "u1")
	u1 := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // a2 submits u1
	fedQ := h.fedQ           // u1, on its way round the federation ring
	h.fedQ = nil
	a2.out, a3.out = true, false
	h.takeOver(a3) // a3 alone: a3's term, in no federation ring
	h.settle()
	h.send("a3", "u2")
	u2 := h.sent[len(h.sent)-1]
	h.settle()
	a2.out = false
	h.site("a").gw = a2 // a2's term goes on: its member is still in the federation ring
	h.site("a").inFed = true
	h.takeOver(a2) // a2, a3: a2 gets u2 from a3's Again and submits it
	for h.localStep(h.site("a")) {
	}
	h.fedQ = append(fedQ, h.fedQ...)
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a2 submitted %d Ups, want 2", n)
	}
	h.site("a").inFed = false // a2's member cut off: b and c order u1, u2
	h.fedStep()
	h.fedConfig("b", "c")
	h.settle()
	a2.b.FedStopped() // fenced by a3's member below
	h.collect(a2)
	a2.out = true
	h.localConfig(h.site("a")) // a3 alone again: a3's term, in no federation ring
	h.settle()
	a2.out = false
	h.takeOver(a2) // a2, a3: a2's term
	h.settle()
	t.Logf("a2 pending %v, predecessor %s (named at %v)", pendingOrigins(a2), a2.b.pred, a2.b.predAt)
	aloneInDoubt(t, h, u1, u2, a2, a3)
	if st := a2.b.Stats(); st.InDoubt != 2 {
		t.Errorf("a2 delivered %d Ups in doubt, want 2", st.InDoubt)
	}
}

// TestPredecessorTerms: what a node knows for sure of gateway terms
// (Site.quietTerm) goes before what it saw of them. Its own term that
// submitted an Up is the predecessor, though it saw itself inject nothing
// after its Have's position (its Downs never came round); its own term
// that injected but submitted nothing (it settled a ring and stayed in
// doubt) is not. Another node's Terms says which of its terms, named
// where, submitted nothing: such a term is skipped, though named only in
// a Seen; one after the last the Terms covers, or at the one that
// submitted, is not.
func TestPredecessorTerms(t *testing.T) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	pos := func(seq uint64) localring.DomainOrder { return localring.DomainOrder{Seq: seq, Ring: 4} }
	s.since = termAt{ring: 4}
	s.name(naming{gw: "a1", at: termAt{ring: 4}, pos: pos(2), own: true, settled: true})
	s.name(naming{gw: "a2", at: termAt{ring: 8}, pos: pos(3), own: true, sub: true})
	s.name(naming{gw: "a2", at: termAt{ring: 12}, pos: pos(3), own: true})
	s.pred, s.predAt, s.termStart = "a2", termAt{ring: 12}, termAt{ring: 24}
	if got := s.predecessor(); got != "a2" {
		t.Errorf("a2's own term named at 8 submitted, its Downs never came round: predecessor %s, want a2", got)
	}
	s.namings[1].sub, s.namings[2].settled = false, true
	if got := s.predecessor(); got != "a1" {
		t.Errorf("a2's own terms submitted nothing, one injected: predecessor %s, want a1", got)
	}
	s.namings[1].sub, s.namings[2].settled = true, false
	s.name(naming{gw: "a3", at: termAt{ring: 16}})
	s.pred, s.predAt = "a3", termAt{ring: 16}
	if got := s.predecessor(); got != "a3" {
		t.Errorf("a3 named in a Seen only, no Terms of it: predecessor %s, want a3", got)
	}
	s.termsFrom("a3", &termsMsg{since: termAt{ring: 4}, upto: termAt{ring: 20}})
	if got := s.predecessor(); got != "a2" {
		t.Errorf("a3's Terms: its term named at 16 submitted nothing: predecessor %s, want a2", got)
	}
	s.termsFrom("a3", &termsMsg{since: termAt{ring: 4}, upto: termAt{ring: 12}})
	if got := s.predecessor(); got != "a2" {
		t.Errorf("an earlier Terms of a3 replaced a later one: predecessor %s, want a2", got)
	}
	s.termsFrom("a3", &termsMsg{since: termAt{ring: 4}, sub: termAt{ring: 16}, upto: termAt{ring: 20}})
	if got := s.predecessor(); got != "a3" {
		t.Errorf("a3's Terms: its term named at 16 submitted: predecessor %s, want a3", got)
	}
	s.termsFrom("a3", &termsMsg{since: termAt{ring: 18}, upto: termAt{ring: 20}})
	if got := s.predecessor(); got != "a3" {
		t.Errorf("a3's Terms from 18 on (a new incarnation) says nothing of 16: predecessor %s, want a3", got)
	}
	s.name(naming{gw: "a4", at: termAt{ring: 20}, pos: pos(3), own: true})
	s.pred, s.predAt = "a4", termAt{ring: 20}
	s.termsFrom("a4", &termsMsg{since: termAt{ring: 4}, sub: termAt{ring: 20}, upto: termAt{ring: 24}})
	if got := s.predecessor(); got != "a4" {
		t.Errorf("a4's Terms: its term named at 20 submitted, though a2 saw it inject nothing: predecessor %s, want a4", got)
	}
}

// TestTermsWire: a Terms decodes as it was encoded; one whose places are
// out of order, or cut short, or with a byte more, does not. Its kind is
// new: a bridge that does not know it takes it for no bridge message of
// its own (isLocal) and ignores it.
func TestTermsWire(t *testing.T) {
	tag := DomainTag("fed/test")
	for _, m := range []termsMsg{
		{since: termAt{ring: 4}, upto: termAt{ring: 4}},
		{since: termAt{ring: 4}, sub: termAt{ring: 8, epoch: 1}, upto: termAt{ring: 12}},
	} {
		b := encodeTerms(tag, &m)
		got, x, err := decodeLocal(b)
		if err != nil || got != tag || x.terms == nil || *x.terms != m {
			t.Errorf("%+v decoded as %+v (tag %x, %v)", m, x.terms, got, err)
		}
		for i := range len(b) {
			if _, _, err := decodeLocal(b[:i]); err == nil {
				t.Errorf("a Terms cut at %d of %d bytes decoded", i, len(b))
			}
		}
		if _, _, err := decodeLocal(append(slices.Clone(b), 0)); err == nil {
			t.Error("a Terms with a trailing byte decoded")
		}
	}
	for _, m := range []termsMsg{
		{since: termAt{ring: 8}, upto: termAt{ring: 4}},
		{since: termAt{ring: 8}, sub: termAt{ring: 4}, upto: termAt{ring: 12}},
		{since: termAt{ring: 4}, sub: termAt{ring: 12}, upto: termAt{ring: 12}},
	} {
		if _, _, err := decodeLocal(encodeTerms(tag, &m)); err == nil {
			t.Errorf("a Terms with its places out of order decoded: %+v", m)
		}
	}
	if b := encodeTerms(tag, &termsMsg{}); b[0] <= kindRelay {
		t.Errorf("the Terms' kind %#x is not a new one", b[0])
	}
}
