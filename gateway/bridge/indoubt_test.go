package bridge

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// cutAsDies runs site a's gateway failover with the Ups in doubt: a1, a's
// active gateway, submits seven of a's Ups (its own first), the
// federation orders the first four (b and c number and inject them; a1
// numbers them too, and dies before it injects any), and the other three
// die with it, never ordered. b and c go on in a ring of their own, and
// a2 takes over. It returns the four ordered Ups with the places b1 gave
// them, the three never ordered, the seven in pending order, and an Up b1
// sent while a was in no ring (a does not deliver it: a partition and a
// merge of a, as at every failover that changes the configuration). With
// logEntries, every node keeps that many entries, and c1 sends as many
// Ups more while a is away: a's gap is beyond every log.
func cutAsDies(t *testing.T, logEntries int) (h *harness, ordered map[Origin]localring.DomainOrder, unordered, pending []Origin, away Origin) {
	h, first := diesAfterFour(t, logEntries)
	h.fedConfig("b", "c")
	h.settle()
	ordered = map[Origin]localring.DomainOrder{}
	for _, e := range h.node("b1").stream {
		if e.Kind == EntryMessage && slices.Contains(h.sent[first:first+4], e.Origin) {
			ordered[e.Origin] = e.Pos
		}
	}
	if len(ordered) != 4 {
		t.Fatalf("b1 delivered %d of the four Ups ordered, want 4", len(ordered))
	}
	h.sendSettled("while-a-is-away", "b1")
	away = h.sent[len(h.sent)-1]
	for i := 0; logEntries > 0 && i < logEntries; i++ {
		h.sendSettled(fmt.Sprint("away-", i), "c1")
	}
	h.localConfig(h.site("a")) // a2 takes over: a new gateway term
	if !h.node("a2").b.Active() {
		t.Fatal("a2 is not the active gateway")
	}
	h.settle() // a's Have phase
	return h, ordered, h.sent[first+4 : first+7], h.sent[first : first+7], away
}

// diesAfterFour has a1, a's active gateway, submit seven of a's Ups (its
// own first), the federation order the first four (b and c number and
// inject them; a1 numbers them too, and dies before it injects any), and
// a1 die; the other three die with it, never ordered. It returns the
// harness and the index of the first of the seven in h.sent.
func diesAfterFour(t *testing.T, logEntries int) (*harness, int) {
	h := newDomain(t, logEntries, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	first := len(h.sent)
	h.send("a1", "own") // a1's own: never told sent once a1 dies (an orphan)
	for i := range 3 {
		h.send("a2", fmt.Sprint("up-", i))
		h.send("a3", fmt.Sprint("up-", i))
	}
	h.localStep(h.site("a")) // a1 submits the seven
	if n := len(h.fedQ); n != 7 {
		t.Fatalf("a1 submitted %d Ups, want 7", n)
	}
	h.frozen[h.node("a1")] = true
	h.fedStepFirst(4)
	h.crash("a1")
	return h, first
}

// upsFrom returns the Ups site submitted on the federation ring, from the
// log's i-th message on.
func upsFrom(h *harness, site string, i int) []Origin {
	var o []Origin
	for _, m := range h.fedLog[i:] {
		if x, err := decodeFed(m.payload); err == nil && string(m.id.Sender) == site {
			if u, ok := x.(*fedUp); ok {
				o = append(o, u.origin)
			}
		}
	}
	return o
}

// TestInDoubtAlone: a site cut off from every other site as its gateway
// dies (hiersim TestCutAsGatewayDies). a's new gateway term cannot learn
// which of its pending Ups its predecessor's member got ordered: b and c
// ordered four of the seven a1 submitted. a2's first ring is one of a
// alone, where a leaves its configuration: a delivers the seven in its
// transitional configuration, in pending order, without a domain
// position (Entry.InDoubt), after everything it holds of the regular
// one, and submits none of them to any ring, then or after the heal;
// their senders are told they were sent in the regular configuration.
// b's and c's places for the four stay theirs alone, nobody delivers one
// twice, and an Up a sends after the term began goes up as before. Sent
// again in a's ring alone (the bridge before Entry.InDoubt), the four
// were ordered a second time at other places.
func TestInDoubtAlone(t *testing.T) {
	h, ordered, unordered, want, _ := cutAsDies(t, 0)
	a2, a3 := h.node("a2"), h.node("a3")
	reg := a2.b.Conf().ID
	log := len(h.fedLog)
	h.fedAlone("a")
	h.settle()
	h.sendSettled("alone", "a2")
	after := h.sent[len(h.sent)-1]
	if got := upsFrom(h, "a", log); !slices.Equal(got, []Origin{after}) {
		t.Errorf("a's ring alone got Ups %v from a2, want only the one sent after the term began, %s", got, after)
	}
	if st := a2.b.Stats(); st.InDoubt != 7 || st.Resubmitted != 0 || st.CatchUps+st.Gaps != 0 {
		t.Errorf("a2 stats %+v: want 7 Ups delivered in doubt, none submitted again, no catch-up", st)
	}

	// The heal: a partition and a merge (the others cannot answer a, nor a
	// them: two histories).
	h.fedConfig("a", "b", "c")
	h.settle()
	h.sendSettled("merged", "a2", "b1", "c1")
	if got := upsFrom(h, "a", log); slices.ContainsFunc(got, func(o Origin) bool { _, in := ordered[o]; return in || slices.Contains(unordered, o) }) {
		t.Errorf("a's gateway submitted again an Up in doubt: %v", got)
	}

	h.checkOrder()
	// a's nodes: the regular configuration's prefix, then their own
	// transitional configuration with the seven in pending order, no
	// position, then a's ring alone.
	for _, n := range []*hnode{a2, a3} {
		if c := confs(n); c != "reg[a b c] trans[a] reg[a] trans[a] reg[a b c]" {
			t.Errorf("%s configurations %q, want reg[a b c] trans[a] reg[a] trans[a] reg[a b c]", n.id, c)
		}
		var doubt []Origin
		trans, lastReg := false, ""
		for _, e := range n.stream {
			switch {
			case e.Kind == EntryConfig:
				trans = e.Conf.Kind == localring.Transitional && lastReg == reg
				if e.Conf.Kind == localring.Regular {
					lastReg = e.Conf.ID
				}
			case e.Kind == EntryMessage && e.InDoubt:
				if !trans {
					t.Errorf("%s delivered %s in doubt outside the transitional configuration after %s", n.id, e.Origin, reg)
				}
				doubt = append(doubt, e.Origin)
			case e.Kind == EntrySend && slices.Contains(want, e.Origin) && e.Conf.ID != reg:
				t.Errorf("%s was told %s sent in %s, want %s (where the earlier gateway submitted it)", n.id, e.Origin, e.Conf.ID, reg)
			}
		}
		if !slices.Equal(doubt, want) {
			t.Errorf("%s delivered in doubt %v, want %v", n.id, doubt, want)
		}
	}
	// Every live node delivers each message once (messages fails
	// otherwise); b and c deliver the four at the places they gave them
	// and not the three never ordered, which a alone delivers.
	h.live(func(s *hsite, n *hnode) {
		got := h.messages(n)
		for o, p := range ordered {
			if !slices.Contains(got, o) {
				t.Errorf("%s did not deliver %s", n.id, o)
			}
			if s.name == "a" {
				continue
			}
			for _, e := range n.stream {
				if e.Kind == EntryMessage && e.Origin == o && (e.Pos != p || e.InDoubt) {
					t.Errorf("%s delivered %s at %s (in doubt %v), want %s", n.id, o, e.Pos, e.InDoubt, p)
				}
			}
		}
		for _, o := range unordered {
			if slices.Contains(got, o) != (s.name == "a") {
				t.Errorf("%s delivered %s: %v, want %v", n.id, o, !(s.name == "a"), s.name == "a")
			}
		}
		if n.b.Pending() != 0 {
			t.Errorf("%s still holds %d Ups pending", n.id, n.b.Pending())
		}
	})
}

// TestInDoubtAnswered: the same failover, with a2's first ring one of
// every site. The catch-up answer tells a what the others ordered: the
// four come down at their places, a2 takes them for done, and only the
// three never ordered are submitted again and ordered anew (no copy of
// the four goes up: a site refused a catch-up over their places would
// deliver it, gateway/hiersim TestRefusedBesideCaughtUp).
func TestInDoubtAnswered(t *testing.T) {
	h, ordered, unordered, _, away := cutAsDies(t, 0)
	a2 := h.node("a2")
	h.afterRing([]string{"a", "b", "c"}, "a2", "c2")
	if st := a2.b.Stats(); st.InDoubt != 0 || st.CatchUps != 1 || st.Gaps != 0 {
		t.Errorf("a2 stats %+v, want one catch-up and nothing delivered in doubt", st)
	}
	if st := a2.b.Stats(); st.Resubmitted != 3 {
		t.Errorf("a2 submitted %d Ups again, want the three never ordered", st.Resubmitted)
	}
	if d := h.node("b1").b.Stats().Duplicates; d != 0 {
		t.Errorf("b1 dropped %d duplicates, want none: no copy of the four ordered before a1 died goes up", d)
	}
	b1 := h.messages(h.node("b1"))
	h.live(func(s *hsite, n *hnode) {
		want := b1
		if s.name == "a" {
			want = slices.DeleteFunc(slices.Clone(b1), func(o Origin) bool { return o == away })
		}
		if got := h.messages(n); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v, want %v", n.id, got, want)
		}
		for _, e := range n.stream {
			if p, ok := ordered[e.Origin]; ok && e.Kind == EntryMessage && e.Pos != p || e.InDoubt {
				t.Errorf("%s delivered %s at %s (in doubt %v), want %s", n.id, e.Origin, e.Pos, e.InDoubt, p)
			}
		}
	})
	for _, o := range unordered {
		if !slices.Contains(b1, o) {
			t.Errorf("b1 did not deliver %s, never ordered before a1 died", o)
		}
	}
}

// TestInDoubtRefused: the same failover, with a2's first ring one of
// every site, but a's gap beyond the others' logs: its catch-up is
// refused, and a leaves its configuration without learning what b and c
// ordered. It delivers the seven in its transitional configuration,
// without a domain position, and submits none of them; b and c keep the
// four at their places.
func TestInDoubtRefused(t *testing.T) {
	h, ordered, unordered, want, _ := cutAsDies(t, 4)
	a2 := h.node("a2")
	log := len(h.fedLog)
	h.afterRing([]string{"a", "b", "c"}, "a2", "c2")
	if st := a2.b.Stats(); st.InDoubt != 7 || st.Gaps != 1 || st.CatchUps != 0 || st.Resubmitted != 0 {
		t.Errorf("a2 stats %+v, want one refusal, 7 Ups delivered in doubt, none submitted again", st)
	}
	if got := upsFrom(h, "a", log); len(got) != 1 || got[0] != h.sent[len(h.sent)-2] {
		t.Errorf("a's gateway submitted %v, want only the Up sent after the term began", got)
	}
	h.live(func(s *hsite, n *hnode) {
		var doubt []Origin
		for _, e := range n.stream {
			if e.Kind != EntryMessage {
				continue
			}
			if e.InDoubt {
				doubt = append(doubt, e.Origin)
			} else if p, ok := ordered[e.Origin]; ok && (s.name == "a" || e.Pos != p) {
				t.Errorf("%s delivered %s at %s, want %s", n.id, e.Origin, e.Pos, map[bool]string{true: "in doubt", false: p.String()}[s.name == "a"])
			} else if slices.Contains(unordered, e.Origin) {
				t.Errorf("%s delivered %s, never ordered before a1 died, with a position", n.id, e.Origin)
			}
		}
		if s.name == "a" && !slices.Equal(doubt, want) || s.name != "a" && len(doubt) > 0 {
			t.Errorf("%s delivered in doubt %v", n.id, doubt)
		}
	})
}

// TestInDoubtNoRoom drives the fallback of Site.inDoubt that no path is
// known to reach: a's new gateway term leaves its configuration with Ups
// in doubt, and the next regular configuration leaves no place of the
// stream for them. Before, the term took them as resolved and submitted
// them again (EVS 6 and 1.3: b and c ordered four of them already). Now
// it counts the case (Stats.InDoubtNoRoom), injects none of them, and its
// first settled ring submits none of them either; the Ups sent after the
// term began go up as before.
func TestInDoubtNoRoom(t *testing.T) {
	h, _, _, pending, _ := cutAsDies(t, 0)
	a2 := h.node("a2")
	if !a2.b.doubt {
		t.Fatal("a2's term is not in doubt: the test does not reach the case")
	}
	before := len(a2.b.out.Local)
	at := a2.b.injected
	a2.b.inDoubt(localring.DomainOrder{Seq: at.Seq, Ring: at.Ring + 1})
	if got := a2.b.Stats().InDoubtNoRoom; got != 1 {
		t.Fatalf("InDoubtNoRoom = %d, want 1", got)
	}
	if a2.b.doubt || a2.b.injected != at || len(a2.b.out.Local) != before {
		t.Fatalf("a2 injected with no room (doubt %v, injected %v, was %v, %d local messages, were %d)", a2.b.doubt, a2.b.injected, at, len(a2.b.out.Local), before)
	}
	for _, p := range a2.b.pending {
		if slices.Contains(pending, p.origin) && !p.doubt {
			t.Errorf("%v taken out of doubt", p.origin)
		}
	}
	mark := len(h.fedLog)
	h.sendSettled("after", "a3")
	h.fedAlone("a")
	h.settle()
	for _, o := range upsFrom(h, "a", mark) {
		if slices.Contains(pending, o) {
			t.Errorf("a submitted %v, an Up in doubt, again", o)
		}
	}
	if st := a2.b.Stats(); st.InDoubt != 0 {
		t.Errorf("a2 delivered %d Ups in doubt, want none (no room was left for them)", st.InDoubt)
	}
}

// TestInDoubtSiteMissing: the domain splits as a's gateway dies (hiersim
// TestSplitUnseen). a1 submits two of a's Ups; b's gateway receives them,
// c's never does, and the federation ends in components of b alone and c
// alone as a1 dies: b delivers them in its transitional configuration, c
// does not have them. a2 takes over, and its first ring is one with c,
// which answers its catch-up: the answer does not bring them, and b, which
// delivered them, is not in the ring. Taking that answer for the domain's
// word, a2 submitted them again, and the ring of a and c ordered them at
// other places than b had delivered them. Left in doubt after the answer
// (as fedState.split), a delivered them after the answer's entries, in an
// order b's need not agree with (hiersim: EVS 6 and 9). A site of the
// domain's configuration missing from the ring may have delivered Ups in
// doubt alone, where the answer cannot say: a takes the answer for a
// refusal (Stats.InDoubtMissing), and delivers the two in its own
// transitional configuration right after what it holds, without a domain
// position, submitting neither.
func TestInDoubtSiteMissing(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	first := len(h.sent)
	h.send("a2", "up-0")
	h.send("a3", "up-1")
	h.localStep(h.site("a")) // a1 submits the two
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a1 submitted %d Ups, want 2", n)
	}
	doubt := h.sent[first:]
	h.frozen[h.node("a1")] = true
	h.fedSplit(map[int][]int{1: {0, 1}}, []string{"b"}, []string{"c"})
	h.crash("a1")
	h.settle()
	h.localConfig(h.site("a")) // a2 takes over
	h.settle()
	log := len(h.fedLog)
	h.fedConfig("a", "c")
	h.settle()
	h.sendSettled("after", "a2", "c1")
	after := h.sent[len(h.sent)-1]
	h.checkOrder()
	if got := upsFrom(h, "a", log); slices.ContainsFunc(got, func(o Origin) bool { return slices.Contains(doubt, o) }) {
		t.Errorf("a's gateway submitted again %v, Ups b alone delivered: %v", doubt, got)
	}
	if st := h.node("a2").b.Stats(); st.CatchUps != 0 || st.Gaps != 1 || st.InDoubtMissing != 1 || st.InDoubt != 2 {
		t.Errorf("a2 stats %+v: want one answer taken for a refusal, the two Ups delivered in doubt", st)
	}
	h.live(func(s *hsite, n *hnode) {
		got := h.messages(n)
		for _, o := range doubt {
			if want := s.name != "c"; slices.Contains(got, o) != want {
				t.Errorf("%s delivered %s: %v, want %v", n.id, o, !want, want)
			}
		}
		for _, e := range n.stream {
			if e.Kind == EntryMessage && slices.Contains(doubt, e.Origin) && e.InDoubt != (s.name == "a") {
				t.Errorf("%s delivered %s in doubt: %v, want %v", n.id, e.Origin, e.InDoubt, s.name == "a")
			}
		}
		if s.name != "b" && !slices.Contains(got, after) {
			t.Errorf("%s did not deliver %s, sent after the term began", n.id, after)
		}
	})
}

// TestInDoubtOwnTrans: a's new gateway term stays in doubt after its
// catch-up answer (fedState.split) in a ring that continues the domain's
// configuration, and the federation's ring then ends through a
// transitional configuration that a comes through with b. a1 submits
// seven Ups, the federation orders four, and a1 dies; b and c come
// through the federation's transitional configuration into a ring with
// a2's member that continues the domain's configuration, and b answers
// a2's catch-up with the four. The answer is taken as fedState.split
// leaves it (set here: a site of the ring that came through another
// transitional configuration than the answerer's, as hiersim makes it,
// takes a ring of the harness more than it has), so the three others
// stay in doubt, and a stays in the domain's configuration. That ring
// then ends into one of a and b: a delivers the three in its own
// transitional configuration (Site.ownTrans), of a alone, named after its
// site and its Ups in doubt, not in the federation's one, which b
// installs too and delivers without them. Delivered there (the bridge
// before), a and b installed one configuration id with different
// messages, and went on into the same regular one (EVS 4 and 7 at the
// site level: hiersim's three-sites starvation at seed 31 of 1-100 at
// f7f7536, ams and fra each with Ups in doubt there, 372 deliveries
// missing).
func TestInDoubtOwnTrans(t *testing.T) {
	h, first := diesAfterFour(t, 0)
	h.site("a").inFed = false  // a1's member left with it
	h.localConfig(h.site("a")) // a2 takes over
	h.settle()
	unordered := h.sent[first+4 : first+7]
	a2 := h.node("a2")
	h.fedConfig("a", "b", "c")
	a2.b.fed.split = true
	h.settle()
	if st := a2.b.Stats(); st.InDoubtSplit != 1 || st.CatchUps != 1 || st.Continued == 0 {
		t.Fatalf("a2 stats %+v: want one answer that left the term in doubt, in a ring that continues the domain's configuration", st)
	}
	h.sendSettled("in-abc", "a2", "b1", "c1")
	h.afterRing([]string{"a", "b"}, "a2", "b1")
	if st := a2.b.Stats(); st.InDoubt != 3 || st.InDoubtFedTrans != 1 {
		t.Errorf("a2 stats %+v: want three Ups delivered in doubt, in a transitional configuration of a's own", st)
	}
	// Every transitional configuration id is installed with one set of
	// messages, and a's Ups in doubt are delivered in one of a alone.
	type inConf struct {
		node string
		msgs []Origin
	}
	byID := map[string]inConf{}
	h.live(func(s *hsite, n *hnode) {
		var doubt []Origin
		conf, sites := "", []string(nil)
		msgs := map[string][]Origin{}
		for _, e := range n.stream {
			switch e.Kind {
			case EntryConfig:
				conf, sites = e.Conf.ID, e.Conf.Sites
				if e.Conf.Kind == localring.Transitional {
					msgs[conf] = []Origin{}
				}
			case EntryMessage:
				if _, ok := msgs[conf]; ok {
					msgs[conf] = append(msgs[conf], e.Origin)
				}
				if !slices.Contains(unordered, e.Origin) {
					continue
				}
				doubt = append(doubt, e.Origin)
				if !e.InDoubt || !slices.Equal(sites, []string{"a"}) || !strings.HasPrefix(conf, "site:a:") {
					t.Errorf("%s delivered %s (in doubt %v) in %s %v, want in doubt, in a's own transitional configuration", n.id, e.Origin, e.InDoubt, conf, sites)
				}
			}
		}
		if s.name == "b" {
			// b's transitional configuration into a's and b's ring
			// leaves a out: a installs one of its own instead.
			if got, want := confs(n), "reg[a b c] cont[a b c] trans[b] reg[a b]"; got != want {
				t.Errorf("%s configurations %q, want %q", n.id, got, want)
			}
		}
		if want := map[bool][]Origin{true: unordered}[s.name == "a"]; !slices.Equal(doubt, want) {
			t.Errorf("%s delivered %v of the Ups in doubt, want %v", n.id, doubt, want)
		}
		for id, m := range msgs {
			if o, ok := byID[id]; ok && !slices.Equal(o.msgs, m) {
				t.Errorf("%s delivered %v in %s, %s %v", n.id, m, id, o.node, o.msgs)
			} else if !ok {
				byID[id] = inConf{string(n.id), m}
			}
		}
	})
}

// TestInDoubtNotSubmittedAfter: a's new term delivers its seven Ups in
// doubt as a's ring alone settles (TestInDoubtAlone), and its Downs do not
// come round the local ring (the gateway paused as it injected them): the
// Ups stay pending at a2. The next ring continues the domain's
// configuration, which ends the term's doubt (resolve): the seven stay in
// doubt until they come down, and are not submitted. Taken out of doubt
// there, a2 submitted them, and the others delivered them after a had in
// doubt (hiersim's regional starvation at seed 91 of 1-100 at f7f7536:
// a-1's Ups in doubt submitted again in the next ring, EVS 1.3 at b).
func TestInDoubtNotSubmittedAfter(t *testing.T) {
	h, _, _, pending, _ := cutAsDies(t, 0)
	a2 := h.node("a2")
	log := len(h.fedLog)
	h.fedAlone("a")
	for h.fedStep() {
	}
	if st := a2.b.Stats(); st.InDoubt != 7 {
		t.Fatalf("a2 stats %+v: want the seven Ups delivered in doubt", st)
	}
	h.site("a").queue = nil // the Downs never come round
	h.fedConfig("a")
	for h.fedStep() {
	}
	if st := a2.b.Stats(); st.Continuing == 0 {
		t.Fatalf("a2 stats %+v: want a ring that continues the domain's configuration", st)
	}
	if got := upsFrom(h, "a", log); slices.ContainsFunc(got, func(o Origin) bool { return slices.Contains(pending, o) }) {
		t.Errorf("a's gateway submitted Ups it delivered in doubt: %v", got)
	}
}

// TestInDoubtAgainAfterSync: an Up announced again after the term's Sync
// named no Up in doubt, before the ring settled (Site.afterSync). a1 dies
// after its member numbered a2's Up; a2's term stays in doubt after b's
// answer brought it (fedState.split, set as in TestInDoubtOwnTrans), with
// no Up in doubt, in a ring that continues the domain's configuration.
// a3 sends u, which a2 misses (deaf to it, as hiersim's Options.hide).
// The ring ends into one of a and b: a2's Sync comes through the
// federation's transitional configuration and names no Up in doubt, then
// a's local ring forms again and a3 announces u again. Taken in doubt (the
// bridge before), u was delivered at a's nodes alone in the federation's
// transitional configuration, which b installed without it, and a and b
// went on into the same regular configuration (EVS 4 at the site level);
// now u goes up once the ring settled, and every node of a and b delivers
// it there.
func TestInDoubtAgainAfterSync(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a2 := h.node("a2")
	h.send("a2", "up")
	h.localStep(h.site("a")) // a1 submits it
	h.frozen[h.node("a1")] = true
	h.fedStep() // ordered; a1 numbers it and dies before it injects it
	h.crash("a1")
	h.site("a").inFed = false
	h.takeOver(a2)
	h.settle()
	h.fedConfig("a", "b", "c")
	a2.b.fed.split = true
	h.settle()
	if st := a2.b.Stats(); st.InDoubtSplit != 1 || st.Continued == 0 || !a2.b.doubt || a2.b.doubtID() != "" {
		t.Fatalf("a2 stats %+v, doubt %v %q: want its term in doubt with no Up in doubt after an answer, in a ring that continues the domain's configuration", st, a2.b.doubt, a2.b.doubtID())
	}
	a2.out = true
	h.send("a3", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // a3 has u, a2 not
	a2.out = false
	h.fedConfig("a", "b")      // a2's Sync: through the federation's transitional configuration, no Up in doubt
	h.localConfig(h.site("a")) // a3 announces u again
	for h.localStep(h.site("a")) {
	}
	h.settle()
	h.sendSettled("after", "a2", "b1")
	h.checkOrder()
	if st := a2.b.Stats(); st.AgainsAfterSync != 1 || st.InDoubt != 0 {
		t.Errorf("a2 stats %+v: want one Again after its Sync, not in doubt, and no Up delivered in doubt", st)
	}
	byID := map[string][]Origin{}
	h.live(func(s *hsite, n *hnode) {
		conf := ""
		msgs := map[string][]Origin{}
		for _, e := range n.stream {
			switch e.Kind {
			case EntryConfig:
				conf = e.Conf.ID
				if e.Conf.Kind == localring.Transitional {
					msgs[conf] = []Origin{}
				}
			case EntryMessage:
				if _, ok := msgs[conf]; ok {
					msgs[conf] = append(msgs[conf], e.Origin)
				}
				if e.Origin == u && (e.InDoubt || e.Pos.IsZero()) {
					t.Errorf("%s delivered u in doubt, in %s", n.id, conf)
				}
			}
		}
		if got := streamOrder(n, u); s.name != "c" && len(got) != 1 {
			t.Errorf("%s delivered u %d times, want once", n.id, len(got))
		}
		for id, m := range msgs {
			if o, ok := byID[id]; ok && !slices.Equal(o, m) {
				t.Errorf("%s delivered %v in %s, another node %v", n.id, m, id, o)
			} else if !ok {
				byID[id] = m
			}
		}
	})
}
