package bridge

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// settleHolding is settle, with the federation messages keep says stay
// queued (in their order) rather than delivered.
func (h *harness) settleHolding(keep func(hmsg) bool) {
	h.settleWith(func() bool {
		var kept, rest []hmsg
		for _, m := range h.fedQ {
			if keep(m) {
				kept = append(kept, m)
			} else {
				rest = append(rest, m)
			}
		}
		h.fedQ = rest
		moved := h.fedStep()
		h.fedQ = append(kept, h.fedQ...)
		return moved
	})
}

// acksOf returns whether a federation message is an Ack of one of sites.
func acksOf(sites ...string) func(hmsg) bool {
	return func(m hmsg) bool {
		x, err := decodeFed(m.payload)
		a, ok := x.(*ackMsg)
		return err == nil && ok && slices.Contains(sites, a.site)
	}
}

// render renders a node's stream: its configuration entries as confs
// does, and o's delivery as "M".
func render(n *hnode, o Origin) string {
	var b []string
	for _, e := range n.stream {
		switch {
		case e.Kind == EntryConfig && e.Conf.Continues != "":
			b = append(b, fmt.Sprintf("cont%v", e.Conf.Sites))
		case e.Kind == EntryConfig:
			b = append(b, fmt.Sprintf("%s%v", e.Conf.Kind, e.Conf.Sites))
		case e.Kind == EntryMessage && e.Origin == o:
			b = append(b, "M")
		}
	}
	return strings.Join(b, " ")
}

// heldBehind: b2's Safe message M is ordered in the domain's first ring,
// and a's gateway (a1) dies before a acks it; a2 takes over, and the ring
// that continues the domain's configuration is held behind M at every
// node (continued). In that ring a and c ack M and the federation delivers
// their Acks; b's Ack is still queued when a2 dies too, and a3 takes
// over. The next ring (sites) has b's Ack delivered in its transitional
// configuration at the sites that come through it: their gateways number
// the mark there. a's new gateway catches up from b, whose log has that
// transitional configuration and the mark.
func heldBehind(t *testing.T, sites ...string) (*harness, Origin) {
	h := newDomain(t, 0, 3, 2, 2)
	m := h.sendSvc("b2", localring.Safe, "M")
	h.localStep(h.site("b"))
	h.gatewayDiesNumbering("a")
	h.localConfig(h.site("a")) // a2
	h.localStep(h.site("b"))
	h.localStep(h.site("c"))
	h.localStep(h.site("a"))
	h.fedConfigAfter(len(h.fedQ), "a", "b", "c")
	h.settleHolding(acksOf("b"))
	for _, n := range h.liveNodes() {
		if got := render(n, m); got != "reg[a b c]" {
			t.Fatalf("%s: %q before b's Ack, want M and the continuing ring held", n.id, got)
		}
	}
	if len(h.fedQ) == 0 {
		t.Fatal("b never acked")
	}
	h.frozen[h.node("a2")] = true
	h.crash("a2")
	h.localConfig(h.site("a")) // a3
	h.settleHolding(func(hmsg) bool { return true })
	h.fedConfigAfter(len(h.fedQ), sites...)
	return h, m
}

// TestCaughtUpMarkInTrans: the ring after the one that continued the
// domain's configuration is a change (c is not in it). b came through the
// federation's transitional configuration, where the mark lets out
// nothing: b's nodes deliver M, and the continuing entry after it, in
// their transitional configuration. a's new gateway's catch-up brought the
// mark among the entries of b's transitional configuration, which a
// delivers in its regular one (Entry.FedTrans): a's nodes applied it
// there, and delivered M and the continuing entry before their own
// transitional configuration. gateway/domconf changes the node-level
// configuration at such an entry: on different sides of the transitional
// entry at a and b, hiersim's starvation broke node-level EVS 1.1 and 1.3
// (regional, one site starving, seeds 3 and 49; every node, 43).
func TestCaughtUpMarkInTrans(t *testing.T) {
	h, m := heldBehind(t, "a", "b")
	h.settle()
	for _, n := range h.liveNodes("a", "b") {
		got := render(n, m)
		want := fmt.Sprintf("reg[a b c] trans[%s] M cont[a b c] reg[a b]", n.site.name)
		if got != want {
			t.Errorf("%s: %q, want %q: M and the continuing entry after the transitional configuration, as at every site", n.id, got, want)
		}
	}
	if st := h.node("a3").b.Stats(); st.CatchUps == 0 {
		t.Error("a3 did not catch up: the test does not test the answer's mark")
	}
}

// TestContinuedMarkInTrans: the ring after the one that continued the
// domain's configuration continues it too. b and c came through the
// federation's transitional configuration with the mark in it, and a's
// new gateway's catch-up brought it: every site applies it in the
// regular configuration, a among the entries the answer brought, b and c
// where they deliver that transitional configuration's messages in the
// regular one (continued). b and c dropped it, and the next ring ended
// before its own mark: they delivered M and the continuing entries in
// their transitional configuration, a in the regular one.
func TestContinuedMarkInTrans(t *testing.T) {
	h, m := heldBehind(t, "a", "b", "c")
	h.settleHolding(acksOf("a", "b", "c"))
	h.fedSplit(nil, []string{"a"}, []string{"b", "c"})
	h.settle()
	for _, n := range h.liveNodes() {
		got := render(n, m)
		want := "reg[a b c] M cont[a b c] cont[a b c] trans[a]"
		if n.site.name != "a" {
			want = "reg[a b c] M cont[a b c] cont[a b c] trans[b c]"
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want it to begin %q: M and the continuing entries in the regular configuration, as at every site", n.id, got, want)
		}
	}
	if st := h.node("a3").b.Stats(); st.CatchUps == 0 {
		t.Error("a3 did not catch up: the test does not test the answer's mark")
	}
}

// TestHeldBehindMarked: the continuing entry that waited behind M is
// marked held at every node of every site (Entry.HeldBehind), and so is
// the transitional entry of a section that has it after it; a continuing
// entry that came with nothing held is not, nor a transitional entry
// with none after it. gateway/domconf opens a round at a marked entry
// where the configuration changes, and a node that left its regular
// configuration at a marked transitional entry holds back what it emits
// until it knows whether a change comes (domconf TestChangeAfterTransitional).
func TestHeldBehindMarked(t *testing.T) {
	flags := func(n *hnode) string {
		var b []string
		for _, e := range n.stream {
			if e.Kind != EntryConfig {
				continue
			}
			k := "reg"
			switch {
			case e.Conf.Continues != "":
				k = "cont"
			case e.Conf.Kind == localring.Transitional:
				k = "trans"
			}
			if e.HeldBehind {
				k += "*"
			}
			b = append(b, k)
		}
		return strings.Join(b, " ")
	}
	h, _ := heldBehind(t, "a", "b")
	h.settle()
	for _, n := range h.liveNodes("a", "b") {
		if got, want := flags(n), "reg trans* cont* reg"; got != want {
			t.Errorf("caught up, the next ring a change: %s: %q, want %q", n.id, got, want)
		}
	}
	h, _ = heldBehind(t, "a", "b", "c")
	h.settleHolding(acksOf("a", "b", "c"))
	h.fedSplit(nil, []string{"a"}, []string{"b", "c"})
	h.settle()
	for _, n := range h.liveNodes() {
		if got, want := flags(n), "reg cont* cont trans reg"; got != want {
			t.Errorf("the next ring continuing, then a split: %s: %q, want %q", n.id, got, want)
		}
	}
}
