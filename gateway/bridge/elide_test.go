package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestElide: the active gateway injects, with Config.Elide, a stub of a
// message of another site that its site has no use for, and the message
// itself of its own site's; its log keeps the full message, a node that
// applies the stub keeps the stub (with Entry.Elided, on the wire too),
// and no catch-up answer carries a stub: a log with one in the range
// refuses, and logFrom names the place after which it can answer.
func TestElide(t *testing.T) {
	at := func(seq uint64) localring.DomainOrder { return localring.DomainOrder{Seq: seq, Ring: 4} }
	conf := Entry{Pos: at(1), Kind: EntryConfig, Conf: DomainConf{ID: "r:4:a", Kind: localring.Regular, Sites: []string{"a", "b"}}}
	msg := func(seq uint64, site string) Entry {
		return Entry{Pos: at(seq), Kind: EntryMessage, Svc: localring.Agreed, Payload: []byte(fmt.Sprintf("m%d", seq)),
			Origin: Origin{Site: site, ID: localring.MessageID{Sender: localring.NodeID(site + "1"), Inc: 1, Seq: seq}}}
	}
	gw, err := New(Config{Domain: "fed/test", Site: "a", Node: "a1", Elide: func(e *Entry) []byte {
		if string(e.Payload) == "m3" {
			return []byte("stub")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	gw.inject(conf)
	gw.inject(msg(2, "b"))
	gw.inject(msg(3, "b")) // a stub
	gw.inject(msg(4, "b"))
	own := msg(5, "a")
	own.Payload = []byte("m3") // the site's own message: never a stub
	gw.inject(own)
	downs := gw.Ready().Local
	if st := gw.Stats(); st.Elided != 1 || len(downs) != 5 {
		t.Fatalf("%d Downs, %d stubs; want 5, 1", len(downs), st.Elided)
	}
	if e := gw.log[2]; e.Elided || string(e.Payload) != "m3" {
		t.Errorf("the gateway's log holds %+v, want the full message", e)
	}

	// A node of the site applies them.
	n, err := New(Config{Domain: "fed/test", Site: "a", Node: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range downs {
		n.LocalDeliver(&localring.Message{Payload: d})
	}
	if st := n.Stats(); st.Applied != 5 || st.ElidedApplied != 1 || st.OutOfOrder != 0 {
		t.Fatalf("stats %+v", st)
	}
	var got []string
	for _, e := range n.Ready().Stream {
		if e.Kind == EntryMessage {
			got = append(got, fmt.Sprintf("%s:%s:%v", e.Pos, e.Payload, e.Elided))
		}
	}
	if want := fmt.Sprint([]string{at(2).String() + ":m2:false", at(3).String() + ":stub:true", at(4).String() + ":m4:false", at(5).String() + ":m3:false"}); fmt.Sprint(got) != want {
		t.Errorf("stream %v, want %v", got, want)
	}

	// Catch-up answers: none from a position before the stub.
	if _, ok := n.lookup("b", at(2), "r:4:a", false, at(5)); ok || n.Stats().ElidedRefused != 1 {
		t.Errorf("a node with a stub at %s answered from %s (%d refused)", at(3), at(2), n.Stats().ElidedRefused)
	}
	if es, ok := n.lookup("b", at(3), "r:4:a", false, at(5)); !ok || len(es) != 2 {
		t.Errorf("from %s, after the stub: %d entries, %v", at(3), len(es), ok)
	}
	if es, ok := gw.lookup("b", at(2), "r:4:a", false, at(5)); !ok || len(es) != 3 || es[0].Elided {
		t.Errorf("the gateway, which kept the message, answered %+v, %v", es, ok)
	}
	if f := n.logFrom(); f != at(3) {
		t.Errorf("logFrom %s, want the stub's place %s", f, at(3))
	}
	if f := gw.logFrom(); f != at(1) {
		t.Errorf("the gateway's logFrom %s, want %s", f, at(1))
	}

	// LogAfter: the entries after a position the log holds.
	if es, ok := n.LogAfter(at(3)); !ok || len(es) != 2 || es[0].Pos != at(4) {
		t.Errorf("LogAfter(%s): %+v, %v", at(3), es, ok)
	}
	if _, ok := n.LogAfter(localring.DomainOrder{}); ok {
		t.Error("LogAfter(zero) answered")
	}
	if _, ok := n.LogAfter(at(9)); ok {
		t.Errorf("LogAfter(%s), a position the log does not hold, answered", at(9))
	}
	if n.Holding() {
		t.Error("Holding with nothing held back")
	}

	// The marks on the wire.
	tag := DomainTag("fed/test")
	m := msg(3, "b")
	for _, marks := range [][2]bool{{true, false}, {false, true}, {true, true}} {
		x := m
		x.Elided, x.FedTrans = marks[0], marks[1]
		_, d, err := decodeLocal(encodeDown(tag, at(2), &x))
		if err != nil || d.down == nil || fmt.Sprint(d.down.entry) != fmt.Sprint(x) {
			t.Errorf("Down %+v decoded as %+v, %v", x, d.down, err)
		}
	}
	// 4 (InDoubt) goes alone: an Up delivered without a domain position
	// is its own site's, in a transitional configuration.
	for _, marks := range []byte{5, 6, 7, 8} {
		if _, _, err := decodeLocal(append(encodeDown(tag, at(2), &m), marks)); err == nil {
			t.Errorf("a Down with marks %d decoded", marks)
		}
	}
}

// TestAnswererWholeLog: a catch-up is answered by a site whose log holds
// the range in full, not refused for a stub. Site a brings c's messages
// down as stubs (Config.Elide). c's "missed" is ordered; a's gateway a1
// injects its stub, which a2 and a3 apply, and b's gateway b1 dies before
// it injects it (b is behind); then a1 dies too: a2, a new gateway with
// the stub in its log, and b2 join the next ring, where a (at base, the
// lowest id) was the answerer of the bridges before and refused b
// (Stats.ElidedRefused: b went through a partition and a merge, without
// "missed"). The ring's answerer is now c, whose log holds it: b catches
// up, misses nothing, and the ring continues the domain's configuration
// (no view changes). A site whose Sync names no stub is the answerer of
// the bridges before (sub-test "no stub": a's log is whole when a's
// gateway did not change).
func TestAnswererWholeLog(t *testing.T) {
	for _, c := range []struct {
		name      string
		aFailover bool
		answerer  string
	}{
		{"stub at a", true, "c"},
		{"no stub", false, "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 0, 3, 2, 2)
			for _, n := range h.site("a").nodes {
				n.b.cfg.Elide = func(e *Entry) []byte {
					if e.Origin.Site == "c" {
						return []byte("stub")
					}
					return nil
				}
			}
			h.fedConfig("a", "b", "c")
			h.settle()
			h.sendSettled("before", "b1", "c1")

			h.send("c1", "missed")
			missed := h.sent[len(h.sent)-1]
			h.localStep(h.site("c"))
			h.frozen[h.node("b1")] = true
			h.fedStep()
			h.localStep(h.site("a"))
			h.crash("b1")
			h.localConfig(h.site("b"))
			if c.aFailover {
				h.crash("a1")
				h.localConfig(h.site("a"))
			}
			h.afterRing([]string{"a", "b", "c"}, "a3", "b2", "c2")

			if st := h.node("a3").b.Stats(); st.ElidedApplied != 3 {
				t.Errorf("a3 applied %d stubs, want 3 (c's before, missed and after)", st.ElidedApplied)
			}
			var answered string
			for _, s := range h.sites {
				g := s.gw
				if st := g.b.Stats(); st.ElidedRefused != 0 || st.Gaps != 0 {
					t.Errorf("%s: %d catch-ups refused for a stub, %d refusals taken", g.id, st.ElidedRefused, st.Gaps)
				}
				if g.b.fed.answerer != "" {
					answered = g.b.fed.answerer
				}
			}
			if answered != c.answerer {
				t.Errorf("answerer %q, want %q", answered, c.answerer)
			}
			if st := h.node("b2").b.Stats(); st.CatchUps != 1 {
				t.Errorf("b2 stats %+v, want one catch-up", st)
			}
			for _, id := range []string{"b2", "c1", "a3"} {
				n := h.node(id)
				if !slices.Contains(h.messages(n), missed) {
					t.Errorf("%s did not deliver %s", id, missed)
				}
				if got := confs(n); got != "reg[a b c] cont[a b c]" {
					t.Errorf("%s configurations %q, want reg[a b c] cont[a b c]", id, got)
				}
			}
			for _, n := range h.site("b").nodes {
				if n.alive && string(payloadOf(n, missed)) != "missed" {
					t.Errorf("%s delivered %q for %s, want the message in full", n.id, payloadOf(n, missed), missed)
				}
			}
		})
	}
}
