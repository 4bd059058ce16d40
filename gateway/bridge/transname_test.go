package bridge

import (
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestCaughtUpTransNamedNext: a catch-up answer holds the others'
// transitional configuration without the site, a regular configuration
// without it (R2), and later a regular configuration with it (R3, which
// its new gateway's member joined, and whose Syncs it missed: the ring
// settled at b and c alone). The site leaves its configuration at R2
// and comes back into R3: its transitional configuration of its own
// leads into R3, and is named after it, not after the ring the answer
// came in.
func TestCaughtUpTransNamedNext(t *testing.T) {
	h := newDomain(t, 0, 2, 2, 2)
	h.sendSettled("w", "a2", "b2")
	h.crash("a1")
	h.fedConfig("b", "c") // R2
	h.settle()
	h.sendSettled("in-r2", "b1")
	h.localConfig(h.site("a")) // a2 takes over
	h.localStep(h.site("a"))
	h.localStep(h.site("a"))
	h.fedConfig("a", "b", "c") // R3
	r3 := h.fedConf.ID
	// Every message reaches b and c, none a; the ring ends.
	for range 20 {
		q := h.fedQ
		h.fedQ = nil
		for _, m := range q {
			h.fedPkt++
			for _, id := range []string{"b1", "c1"} {
				h.node(id).b.FedDeliver(m.fedAt(h.fedRing, h.fedPkt))
			}
		}
		h.collect(h.node("b1"))
		h.collect(h.node("c1"))
		for _, s := range []string{"b", "c"} {
			h.localStep(h.site(s))
		}
		h.localStep(h.site("a"))
	}
	h.fedConfig("a", "b", "c")
	h.settle()
	h.sendSettled("after", "a2", "b1")
	h.checkOrder()
	for _, n := range h.site("a").nodes {
		if !n.alive {
			continue
		}
		if got, want := confs(n), "reg[a b c] trans[a] reg[a b c] trans[a] reg[a b c]"; got != want {
			t.Errorf("%s configurations %q, want %q", n.id, got, want)
		}
		for i, e := range n.stream {
			if e.Kind != EntryConfig || e.Conf.Kind != localring.Transitional {
				continue
			}
			for _, x := range n.stream[i+1:] {
				if x.Kind == EntryConfig && x.Conf.Kind == localring.Regular {
					if want := "site:a:t:" + ringOf(x.Conf.ID) + "/"; !strings.HasPrefix(e.Conf.ID, want) {
						t.Errorf("%s installed %s, then %s: its transitional configuration names another next ring", n.id, e.Conf.ID, x.Conf.ID)
					}
					break
				}
			}
		}
	}
	if st := h.node("a2").b.Stats(); st.CatchUps == 0 {
		t.Errorf("a2 stats %+v: want a catch-up (the answer that brings R2 and %s)", st, r3)
	}
}
