package bridge

import (
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// continuingAt returns the index in n's stream of the configuration
// entry that continues a configuration, or -1.
func continuingAt(n *hnode) int {
	for i, e := range n.stream {
		if e.Kind == EntryConfig && e.Conf.Continues != "" {
			return i
		}
	}
	return -1
}

// A gateway acks past a ring's entry that continues the domain's
// configuration before its View applied the entry: the entry is held
// behind a Safe message of the ring before (continued), the View applies
// the stream only as the bridge lets it out, and the Ack waits for the
// nodes of the configuration the View is in, none while a round is open
// (SetDomainMembers nil, the harness's default). Where a round completes
// at that entry, its configuration names a node that its site announced
// and that left the site's ring since: a3 here. The Ack does not wait for
// it, and the others deliver the Safe message after the entry there
// (the harness names no gateways, Config.Gateways: a3 is not taken for a
// node without one, which would be waited for as a node that installed
// the site-level configuration, Site.inConf; TestSafeWaitsForConfMember).
// That breaks no node-level EVS 7 (the package comment, "What holds means"): a3
// away never applies the entry, and back in its site's ring it applies
// it, from the re-injection, only with the message after it, which it
// delivers after the entry as the others did. With a hole in a3's
// re-injection (the message left out, Downs applied out of order) a3
// installed the entry without the message, and this test failed.
func TestAckBeforeViewNoSafeGap(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	a1, a3 := h.node("a1"), h.node("a3")
	first := h.sendSvc("b1", localring.Safe, "before the entry")
	h.localStep(h.site("b"))
	h.fedStep()
	h.localStep(h.site("a"))
	h.localStep(h.site("b"))
	// Every node holds first; no mark of the ring covers it: the ring
	// forms again (as at a View's ask) and continues the configuration.
	h.fedConfig("a", "b")
	h.fedStep() // the Syncs: the ring settles, its entries go down
	// a3 leaves a's ring before the entry reaches it: a1 and a2 apply the
	// entry and after (the local ring's transitional configuration of the
	// two), then install the regular configuration without a3, whose Have
	// phase gives a1 their positions: its first Ack of the ring covers
	// after. (Before, a3's report was of the ring before: no Ack.)
	a3.out = true
	after := h.sendSvc("b2", localring.Safe, "after the entry")
	for range 20 {
		h.fedStep()
		h.localStep(h.site("b"))
		h.localStep(h.site("a"))
	}
	if !a1.b.fed.ackTo.IsZero() {
		t.Fatalf("a1 acked through %s with a3 in its local ring", a1.b.fed.ackTo)
	}
	h.localConfig(h.site("a"))
	for a1.b.fed.ackTo.IsZero() {
		if !h.localStep(h.site("a")) {
			t.Fatal("a1 never acked in the ring formed again")
		}
	}
	var afterPos localring.DomainOrder
	for _, e := range a1.b.hold {
		if e.Kind == EntryMessage && e.Origin == after {
			afterPos = e.Pos
		}
	}
	if afterPos.IsZero() {
		t.Fatalf("a1 does not hold %s when it acks; the test does not make the case", after)
	}
	if a1.b.fed.ackTo.Less(afterPos) || continuingAt(a1) >= 0 {
		t.Fatalf("a1 acked through %s, %s at %s, its stream has the entry at %d: want the Ack past after, the entry still held",
			a1.b.fed.ackTo, after, afterPos, continuingAt(a1))
	}
	h.settle()
	h.checkOrder()
	h.wantAfterEntry(after)
	// a3 applied first alone: no entry, nothing after it.
	if continuingAt(a3) >= 0 {
		t.Fatalf("a3, out of its site's ring, has the entry: %s", confs(a3))
	}
	for _, o := range []Origin{first, after} {
		if ok, _ := delivered(a3, o); ok {
			t.Errorf("a3, out of its site's ring, delivered %s", o)
		}
	}
	// The Views applied the entry: the configuration names a3 (its
	// site's announcement before the entry listed it). A Safe message
	// now waits for it, as any (TestSafeWaitsForDomainMember).
	h.domainMembers("a", "a1", "a2", "a3")
	h.domainMembers("b", "b1", "b2")
	next := h.sendSvc("b1", localring.Safe, "next")
	h.settle()
	for _, n := range h.liveNodes() {
		if ok, conf := delivered(n, next); ok {
			t.Errorf("%s delivered %s in %s while a3 does not hold it", n.id, next, conf)
		}
	}
	if len(a1.reforms) != 1 || a1.strayReforms != 0 {
		t.Errorf("a1 asked to form rings %v again (%d for a member apart), want one for its blocked site", a1.reforms, a1.strayReforms)
	}
	// Back in its site's ring, a3 installs the configuration only with
	// after held: it delivers after behind the entry, as the others did,
	// and next on a mark.
	a3.out = false
	h.localConfig(h.site("a"))
	h.settle()
	h.checkOrder()
	h.wantAfterEntry(after, next)
	if ok, _ := delivered(a3, first); !ok {
		t.Errorf("a3 did not deliver %s", first)
	}
	for _, n := range h.liveNodes() {
		if got := confs(n); got != "reg[a b] cont[a b]" {
			t.Errorf("%s configurations %q, want the ring that continues", n.id, got)
		}
	}
}

// wantAfterEntry checks that every live node has the entry that continues
// the configuration (continuingAt) and delivered each of os after it.
func (h *harness) wantAfterEntry(os ...Origin) {
	h.t.Helper()
	for _, n := range h.liveNodes() {
		i := continuingAt(n)
		if i < 0 {
			h.t.Fatalf("%s has no entry that continues the configuration: %s", n.id, confs(n))
		}
		for _, o := range os {
			j := slices.IndexFunc(n.stream, func(e Entry) bool { return e.Kind == EntryMessage && e.Origin == o })
			switch {
			case j < 0:
				h.t.Errorf("%s did not deliver %s, and installed the entry (%s)", n.id, o, confs(n))
			case j < i:
				h.t.Errorf("%s delivered %s before the entry", n.id, o)
			}
		}
	}
}
