package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// cutOffAlone takes node id out of its site's local ring into a ring of
// its own with no gateway of the domain (the driver finds none:
// Site.NoGateway), as a node whose multicasts never arrive, or that
// receives none, is taken out for good; the rest of its site forms a ring
// without it. What the node submits there goes nowhere.
func cutOffAlone(h *harness, id string, ring uint64) {
	n := h.node(id)
	n.out = true
	h.localConfig(n.site)
	c := &localring.Configuration{ID: fmt.Sprintf("r:%d:%s", ring, id), Kind: localring.Regular, Ring: localring.RingID{Seq: ring, Rep: n.id},
		Members: []localring.Member{{ID: n.id, Inc: n.inc}}}
	n.b.LocalInstall(c, false)
	n.b.NoGateway()
	n.stream = append(n.stream, n.b.Ready().Stream...)
}

// TestNoGatewayLeaves: a3, no gateway, sends an Up that its site's ring
// delivers (a1, the gateway, has it), and is taken out of the ring into
// one of its own before it comes down (it receives no multicasts). The
// domain orders the Up in its configuration, where a1, a2 and b1 deliver
// it. a3, in a part of its site with no gateway, leaves the domain's
// configuration (EVS.md 2.4: cut off at the others' next change, it
// counts as failed there only if it goes on into another configuration):
// it tells its Up sent in the domain's regular configuration, installs a
// transitional configuration of itself alone, delivers the Up there
// without a domain position (EVS 1.1 and 3: the others delivered it, its
// sender's trace says where it was sent, and it delivers its own), then
// the regular configuration of its part, and applies nothing more. Without
// NoGateway a3's stream stays in the domain's configuration, the Up
// neither told sent nor delivered.
func TestNoGatewayLeaves(t *testing.T) {
	h := newDomain(t, 0, 3, 1)
	h.sendSettled("before", "a3", "b1")
	a3 := h.node("a3")
	dom := a3.b.Conf()
	before := len(a3.stream)

	h.send("a3", "u1")
	u1 := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // every node of a has it: a1 will submit it
	cutOffAlone(h, "a3", 40)
	h.settle()

	for _, id := range []string{"a1", "a2", "b1"} {
		if !slices.Contains(h.messages(h.node(id)), u1) {
			t.Errorf("%s did not deliver %s, which its sender's site had", id, u1)
		}
	}
	got := a3.stream[before:]
	want := []string{"send " + u1.String() + " in " + dom.ID, "trans [a3]", "deliver " + u1.String() + " in doubt", "reg [a3]"}
	var saw []string
	for _, e := range got {
		switch e.Kind {
		case EntrySend:
			saw = append(saw, "send "+e.Origin.String()+" in "+e.Conf.ID)
		case EntryConfig:
			saw = append(saw, fmt.Sprintf("%s %v", map[localring.ConfKind]string{localring.Regular: "reg", localring.Transitional: "trans"}[e.Conf.Kind], e.Conf.Part))
		case EntryMessage:
			s := "deliver " + e.Origin.String()
			if e.InDoubt {
				s += " in doubt"
			}
			saw = append(saw, s)
		}
	}
	if !slices.Equal(saw, want) {
		t.Fatalf("a3's stream after it was cut off: %q, want %q", saw, want)
	}
	if c := a3.b.Conf(); c.Kind != localring.Regular || !slices.Equal(c.Sites, []string{"a"}) || c.ID == dom.ID {
		t.Errorf("a3 is in %+v, want a regular configuration of its part", c)
	}
	if st := a3.b.Stats(); st.NoGateway != 1 || a3.b.Pending() != 0 {
		t.Errorf("a3 left %d times, %d Ups pending: want once, none", st.NoGateway, a3.b.Pending())
	}
	checkViews(t, a3)

	// Another local configuration of the same part changes nothing.
	n := len(a3.stream)
	c := &localring.Configuration{ID: "r:44:a3", Kind: localring.Regular, Ring: localring.RingID{Seq: 44, Rep: "a3"}, Members: []localring.Member{{ID: "a3", Inc: 1}}}
	a3.b.LocalInstall(c, false)
	a3.b.NoGateway()
	if r := a3.b.Ready(); len(r.Stream) != 0 || len(a3.stream) != n {
		t.Errorf("a3 changed its configuration in the same part: %+v", r.Stream)
	}
}

// TestNoGatewayBack: a3, cut off into a part of its site with no gateway
// (TestNoGatewayLeaves), comes back into its site's ring. Its Have names
// its part's configuration, which no log holds: a1 finds it apart and
// restarts it at the next regular configuration of the domain, which it
// installs as a change through a transitional configuration of its site
// alone (see "Members of another history"). Its Up sent while it was
// out of the domain, on its ring alone, waits, and goes up at the
// restart. Every node delivers it and every message sent after, at the
// same places, and a3 applies nothing of the domain between leaving and
// its restart.
func TestNoGatewayBack(t *testing.T) {
	h := newDomain(t, 0, 3, 1)
	h.sendSettled("before", "a3", "b1")
	a3 := h.node("a3")
	cutOffAlone(h, "a3", 40)
	h.sendSettled("without", "a1", "b1")
	// a3 sends on its ring alone: its own ring delivers the Up to it.
	a3.seq++
	out := Origin{Site: "a", ID: localring.MessageID{Sender: "a3", Inc: a3.inc, Seq: a3.seq}}
	a3.b.LocalDeliver(&localring.Message{ID: out.ID, Svc: localring.Agreed, Payload: a3.b.EncodeUp(localring.Agreed, []byte("out")), Order: localring.Order{Ring: 40, Seq: 1}})
	a3.b.Ready() // its ring alone: no one else has what it submits
	h.sent = append(h.sent, out)
	a3.out = false
	h.localConfig(h.site("a"))
	h.settle()
	h.fedConfig("a", "b") // the ring the site's announcement of a3 asks for
	h.settle()
	from := len(h.sent)
	h.sendSettled("after", "a1", "a3", "b1")
	h.checkOrder()
	for _, id := range []string{"a1", "a2", "a3", "b1"} {
		got := h.messages(h.node(id))
		for _, o := range append([]Origin{out}, h.sent[from:]...) {
			if !slices.Contains(got, o) {
				t.Errorf("%s did not deliver %s, sent after a3 came back (configurations %s)", id, o, confs(h.node(id)))
			}
		}
	}
	for _, e := range a3.stream {
		if e.Kind == EntryMessage && string(e.Payload) == "without" {
			t.Errorf("a3 delivered %s, sent while it was out of the domain", e.Origin)
		}
	}
	if st := a3.b.Stats(); st.Restarted != 1 {
		t.Errorf("a3 restarted %d times, want once", st.Restarted)
	}
	if c := confs(a3); c != "reg[a b] trans[a] reg[a] trans[a] reg[a b]" {
		t.Errorf("a3's configurations: %s", c)
	}
	checkViews(t, a3)
}

// confOf returns the configuration in which node n delivered message o
// ("" if it did not): the last regular or transitional one before it in
// its stream, a continuing one taken for the one it continues.
func confOf(n *hnode, o Origin) string {
	conf := ""
	for _, e := range n.stream {
		switch {
		case e.Kind == EntryConfig && e.Conf.Continues == "":
			conf = e.Conf.ID
		case e.Kind == EntryMessage && e.Origin == o:
			return conf
		}
	}
	return ""
}

// TestNoGatewayUpNotOrderedLater: a3, no gateway (Config.Gateways), sends
// an Up that a1, the gateway, submits, and is cut off into a part of its
// own before the domain orders it: it tells the Up sent in the domain's
// configuration and delivers it there in doubt (TestNoGatewayLeaves).
// The federation ring then changes the domain's configuration (b alone,
// then a and b again) before the Up is ordered. a1 does not submit it in
// the rings that continue none, and every node of a drops it at the
// domain's next configuration: ordered there, a1, a2 and b1 delivered it
// in a configuration that a3, its sender, never installed, and whose
// trace says it was sent in the one before (EVS 1.3; gateway/hiersim
// TestPersistentVictim, seed 40 of packets=no-local-loss). Its other Ups,
// ordered before, and every message after, are delivered as before.
func TestNoGatewayUpNotOrderedLater(t *testing.T) {
	h := newDomain(t, 0, 3, 1)
	for _, n := range h.site("a").nodes {
		n.b.cfg.Gateways = []localring.NodeID{"a1", "a2"}
	}
	h.sendSettled("before", "a3", "b1")
	a3 := h.node("a3")
	left := a3.b.Conf().ID

	h.send("a3", "u1")
	u1 := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // a1 submits it: queued on the federation ring
	cutOffAlone(h, "a3", 40)
	if confOf(a3, u1) == "" {
		t.Fatalf("a3 did not deliver its own %s as it left: %s", u1, confs(a3))
	}
	h.fedQ = nil // the ring ends before it orders u1
	h.fedConfig("b")
	h.settle()
	h.fedConfig("a", "b")
	h.settle()
	h.sendSettled("after", "a1", "b1")
	h.checkOrder()
	for _, id := range []string{"a1", "a2", "b1"} {
		n := h.node(id)
		if c := confOf(n, u1); c != "" && c != left {
			t.Errorf("%s delivered %s in %s; its sender a3 sent it in %s and never installed %s (configurations %s)", id, u1, c, left, c, confs(n))
		}
	}
	if st := h.node("a1").b.Stats(); st.LeftDropped != 1 {
		t.Errorf("a1 dropped %d Ups of a sender that left, want 1", st.LeftDropped)
	}
}

// TestSafeWaitsForConfMember: a3, no gateway (Config.Gateways), installed
// the domain's configuration reg[a b] and is then taken out of its
// site's ring, into a ring of its own, while the nodes' Views are in a
// round (SetDomainMembers nil, the harness's default: no node-level
// configuration names it). b1's Safe message is ordered. Were it
// delivered in reg[a b], a3, leaving that configuration for its part
// after gateway.PartGrace (NoGateway), would never hold it: EVS 7 at the
// site level (gateway/hiersim's stray-gateway, packets=all seed 99: fra-3
// left r:589864:ams, whose Safe messages sin-1/1/81 and later the others
// delivered there after it had left fra's ring). a1 waits for a3 as for
// a member of the configuration (Site.inConf): its site is blocked, it
// asks for the federation ring to form again, and every live node but
// a3 delivers the message in the transitional configuration, which a3
// never installs. a3 leaves reg[a b] into its part without it.
func TestSafeWaitsForConfMember(t *testing.T) {
	h := newHarness(t, 0, 3, 2)
	for _, n := range h.site("a").nodes {
		n.b.cfg.Gateways = []localring.NodeID{"a1", "a2"}
	}
	h.fedConfig("a", "b")
	h.settle()
	h.sendSettled("before", "a3", "b1")
	a3 := h.node("a3")
	dom := a3.b.Conf().ID
	a3.out = true
	h.localConfig(h.site("a"))
	c := &localring.Configuration{ID: "r:40:a3", Kind: localring.Regular, Ring: localring.RingID{Seq: 40, Rep: a3.id},
		Members: []localring.Member{{ID: a3.id, Inc: a3.inc}}}
	a3.b.LocalInstall(c, false)
	a3.stream = append(a3.stream, a3.b.Ready().Stream...)
	safe := h.sendSvc("b1", localring.Safe, "safe")
	h.settle()
	for _, n := range h.liveNodes() {
		if ok, conf := delivered(n, safe); ok {
			t.Errorf("%s delivered %s in %s while a3, which installed %s, does not hold it", n.id, safe, conf, dom)
		}
	}
	if a1 := h.node("a1"); a1.b.Stats().Acks != 0 || len(a1.reforms) != 1 {
		t.Fatalf("a1: %d Acks, asked to form rings %v again; want none, once", a1.b.Stats().Acks, a1.reforms)
	}
	h.fedConfig("a", "b")
	h.settle()
	h.checkOrder()
	for _, n := range h.liveNodes() {
		if n == a3 {
			continue
		}
		if ok, conf := delivered(n, safe); !ok || conf != "trans[a b]" {
			t.Errorf("%s delivered %s: %v, in %q; want in trans[a b]", n.id, safe, ok, conf)
		}
	}
	// PartGrace later: a3 leaves reg[a b] for its part, without the
	// message, which no one delivered in reg[a b].
	a3.b.NoGateway()
	a3.stream = append(a3.stream, a3.b.Ready().Stream...)
	if got, want := confs(a3), "reg[a b] trans[a] reg[a]"; got != want {
		t.Errorf("a3 configurations %q, want %q", got, want)
	}
	if ok, _ := delivered(a3, safe); ok {
		t.Errorf("a3 delivered %s out of its site's ring", safe)
	}
}
