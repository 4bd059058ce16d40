package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// sendSvc submits an Up of service svc from node id.
func (h *harness) sendSvc(id string, svc localring.Service, payload string) Origin {
	n := h.node(id)
	n.seq++
	mid := localring.MessageID{Sender: n.id, Inc: 1, Seq: n.seq}
	n.site.queue = append(n.site.queue, hmsg{mid, n.b.EncodeUp(svc, []byte(payload))})
	o := Origin{Site: n.site.name, ID: mid}
	h.sent = append(h.sent, o)
	return o
}

// delivered reports whether node n's stream has message o, and where:
// the configuration entry it follows.
func delivered(n *hnode, o Origin) (bool, string) {
	conf := ""
	for _, e := range n.stream {
		switch {
		case e.Kind == EntryConfig:
			conf = fmt.Sprintf("%s%v", e.Conf.Kind, e.Conf.Sites)
		case e.Kind == EntryMessage && e.Origin == o:
			return true, conf
		}
	}
	return false, ""
}

// liveNodes returns the live nodes of every site, or of the sites named.
func (h *harness) liveNodes(sites ...string) []*hnode {
	var out []*hnode
	for _, s := range h.sites {
		if len(sites) > 0 && !slices.Contains(sites, s.name) {
			continue
		}
		for _, n := range s.nodes {
			if n.alive && !n.out {
				out = append(out, n)
			}
		}
	}
	return out
}

// A Safe message is delivered in the domain's regular configuration only
// once every site of it holds it: while one site's local ring has not
// brought it to its members, no node of any site delivers it, nor the
// Agreed message ordered after it (one order); an Agreed message ordered
// before it is delivered at once. When that site's members hold it, its
// gateway acks, the federation orders the Ack, every gateway injects the
// mark, and every node delivers both, in the regular configuration.
func TestSafeWaitsForEverySite(t *testing.T) {
	h := newDomain(t, 0, 2, 3, 2)
	before := h.sendSvc("a2", localring.Agreed, "before")
	safe := h.sendSvc("a2", localring.Safe, "safe")
	after := h.sendSvc("b3", localring.Agreed, "after")
	// Up through the local rings and the federation ring: every gateway
	// injects the three Downs.
	h.localStep(h.site("a"))
	h.localStep(h.site("b"))
	h.fedStep()
	// Sites a and b apply them and say so; site c's local ring is slow.
	for range 20 {
		h.localStep(h.site("a"))
		h.localStep(h.site("b"))
		h.fedStep()
	}
	for _, n := range h.liveNodes() {
		if ok, _ := delivered(n, before); !ok && n.site.name != "c" {
			t.Errorf("%s has not delivered the Agreed message before the Safe one", n.id)
		}
		for _, o := range []Origin{safe, after} {
			if ok, _ := delivered(n, o); ok {
				t.Errorf("%s delivered %s while site c's members do not hold the Safe message", n.id, o)
			}
		}
	}
	if st := h.node("a1").b.Stats(); st.Acks == 0 || st.Marks != 0 {
		t.Errorf("a1: %d Acks, %d marks; want a's Ack and no mark without c's", st.Acks, st.Marks)
	}
	h.settle()
	h.checkOrder()
	for _, n := range h.liveNodes() {
		for _, o := range []Origin{before, safe, after} {
			if ok, conf := delivered(n, o); !ok || conf != "reg[a b c]" {
				t.Errorf("%s delivered %s: %v, in %q; want in reg[a b c]", n.id, o, ok, conf)
			}
		}
		if got := h.messages(n); !slices.Equal(got, []Origin{before, safe, after}) {
			t.Errorf("%s delivered %v", n.id, got)
		}
		if st := n.b.Stats(); st.SafeHeld != 1 || st.SafeMarked != 1 || st.SafeInTrans != 0 {
			t.Errorf("%s: %d Safe held, %d delivered on a mark, %d in a transitional configuration; want 1, 1, 0", n.id, st.SafeHeld, st.SafeMarked, st.SafeInTrans)
		}
	}
	if st := h.node("c1").b.Stats(); st.Marks == 0 {
		t.Errorf("c1 numbered no mark")
	}
	// Agreed traffic alone sends no Held and no Ack.
	held := h.node("b2").b.Stats().HeldSent
	acks := h.node("b1").b.Stats().Acks
	for i := range 3 {
		h.sendSvc("c2", localring.Agreed, fmt.Sprint("agreed-", i))
		h.settle()
	}
	if h.node("b2").b.Stats().HeldSent != held || h.node("b1").b.Stats().Acks != acks {
		t.Errorf("Agreed messages made b2 send Helds or b1 Acks")
	}
}

// A site leaves the domain's configuration before it acked a Safe
// message: no mark covers it, and the sites that go on deliver it in the
// transitional configuration that ends the regular one (EVS: every member
// of that transitional configuration holds it), with the Agreed message
// behind it; nothing stays held.
func TestSafeSiteLeaves(t *testing.T) {
	h := newDomain(t, 0, 2, 2, 2)
	safe := h.sendSvc("a2", localring.Safe, "safe")
	after := h.sendSvc("a2", localring.Agreed, "after")
	h.localStep(h.site("a"))
	h.fedStep()
	for range 20 {
		h.localStep(h.site("a"))
		h.localStep(h.site("b"))
		h.fedStep()
	}
	// c's gateway dies: the federation goes on with a and b.
	h.crash("c1")
	h.fedConfig("a", "b")
	h.settle()
	h.checkOrder()
	for _, n := range h.liveNodes("a", "b") {
		for _, o := range []Origin{safe, after} {
			if ok, conf := delivered(n, o); !ok || conf != "trans[a b]" {
				t.Errorf("%s delivered %s: %v, in %q; want in trans[a b]", n.id, o, ok, conf)
			}
		}
		if st := n.b.Stats(); st.SafeInTrans != 1 || st.SafeMarked != 0 || len(n.b.hold) != 0 {
			t.Errorf("%s: %d Safe delivered in a transitional configuration, %d on a mark, %d held; want 1, 0, 0", n.id, st.SafeInTrans, st.SafeMarked, len(n.b.hold))
		}
	}
	// A Safe message of the new configuration needs a and b alone.
	next := h.sendSvc("b1", localring.Safe, "next")
	h.settle()
	for _, n := range h.liveNodes("a", "b") {
		if ok, conf := delivered(n, next); !ok || conf != "reg[a b]" {
			t.Errorf("%s delivered %s: %v, in %q; want in reg[a b]", n.id, next, ok, conf)
		}
	}
}

// A gateway failover releases what it held: a's gateway dies after the
// federation ordered a Safe message and before a acked it. b and c
// deliver it in the transitional configuration without a; a's new
// gateway catches up, and a's nodes deliver it in a's own transitional
// configuration. Nothing stays held, every live node delivers it once, and
// a Safe message after the merge is delivered on a mark in the merged
// configuration.
func TestSafeFailover(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	safe := h.sendSvc("b2", localring.Safe, "safe")
	h.localStep(h.site("b"))
	h.fedStep()
	// b and c apply it and ack; a1 freezes before it injects it, and dies.
	h.frozen[h.node("a1")] = true
	for range 20 {
		h.localStep(h.site("b"))
		h.localStep(h.site("c"))
		h.fedStep()
	}
	h.crash("a1")
	h.fedConfig("b", "c")
	h.settle()
	h.localConfig(h.site("a")) // a2 takes over
	h.fedConfig("a", "b", "c")
	h.settle()
	h.checkOrder()
	for _, n := range h.liveNodes() {
		want := "trans[b c]"
		if n.site.name == "a" {
			want = "trans[a]"
		}
		if ok, conf := delivered(n, safe); !ok || conf != want {
			t.Errorf("%s delivered %s: %v, in %q; want in %s", n.id, safe, ok, conf, want)
		}
		if len(n.b.hold) != 0 {
			t.Errorf("%s still holds %d messages", n.id, len(n.b.hold))
		}
	}
	merged := h.sendSvc("a3", localring.Safe, "merged")
	h.settle()
	for _, n := range h.liveNodes() {
		if ok, conf := delivered(n, merged); !ok || conf != "reg[a b c]" {
			t.Errorf("%s delivered %s: %v, in %q; want in reg[a b c]", n.id, merged, ok, conf)
		}
	}
}

// A member of a site that has not applied a Safe message keeps its site
// from acking it: a3 is out of a's local ring when the Down comes (it
// misses it), and back in the next configuration; a acks only once a3
// caught up from the site's re-injection.
func TestSafeWaitsForLaggingMember(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	a := h.site("a")
	h.node("a3").out = true
	h.localConfig(a)
	h.settle()
	safe := h.sendSvc("b1", localring.Safe, "safe")
	h.localStep(h.site("b"))
	h.fedStep()
	h.localStep(a) // a1 and a2 apply the Down; their Helds are queued
	// a3 returns before a1 and a2 said they hold it: the new local
	// configuration's Haves name what each member applied.
	h.node("a3").out = false
	h.localConfig(a)
	h.localStep(a) // the Helds of the old configuration, and the Haves: a3's names the position before the Down
	if h.node("a3").b.Last() == h.node("a1").b.Last() {
		t.Fatal("a3 applied the Down while out of the local ring")
	}
	h.fedStep()
	if st := h.node("a1").b.Stats(); st.Acks != 0 {
		t.Errorf("a1 acked with a3 behind")
	}
	for _, n := range h.liveNodes() {
		if ok, _ := delivered(n, safe); ok {
			t.Errorf("%s delivered %s while a3, a member of a's local ring, does not hold it", n.id, safe)
		}
	}
	h.settle()
	if st := h.node("a1").b.Stats(); st.Acks == 0 {
		t.Errorf("a1 never acked")
	}
	for _, n := range h.liveNodes() {
		if ok, conf := delivered(n, safe); !ok || conf != "reg[a b]" {
			t.Errorf("%s delivered %s: %v, in %q; want in reg[a b]", n.id, safe, ok, conf)
		}
	}
}

// The messages of Safe delivery across sites decode as encoded, and an
// Ack goes on the federation ring Safe (FedService).
func TestSafeCodecs(t *testing.T) {
	tag := DomainTag("fed/test")
	hm := &heldMsg{ring: 12, last: localring.DomainOrder{Seq: 40, Ring: 8}}
	b := encodeHeld(tag, hm)
	if gt, d, err := decodeLocal(b); err != nil || gt != tag || d.held == nil || *d.held != *hm {
		t.Errorf("Held %+v decoded as %+v of tag %#x, %v", hm, d.held, gt, err)
	}
	for i := range len(b) {
		if _, _, err := decodeLocal(b[:i]); err == nil {
			t.Errorf("a Held cut at %d of %d bytes decoded", i, len(b))
		}
	}
	a := &ackMsg{site: "b", ring: 8, through: localring.DomainOrder{Seq: 40, Ring: 8}}
	ab := encodeAck(a)
	if got, err := decodeFed(ab); err != nil || fmt.Sprint(got) != fmt.Sprint(a) {
		t.Errorf("Ack %+v decoded as %+v, %v", a, got, err)
	}
	for i := range len(ab) {
		if _, err := decodeFed(ab[:i]); err == nil {
			t.Errorf("an Ack cut at %d of %d bytes decoded", i, len(ab))
		}
	}
	if FedService(ab) != localring.Safe {
		t.Errorf("an Ack goes on the federation ring %v, want Safe", FedService(ab))
	}
	mark := Entry{Pos: localring.DomainOrder{Seq: 44, Ring: 8}, Kind: EntrySafe, Through: localring.DomainOrder{Seq: 40, Ring: 8}}
	prev := localring.DomainOrder{Seq: 43, Ring: 8}
	if gt, d, err := decodeLocal(encodeDown(tag, prev, &mark)); err != nil || gt != tag || d.down == nil || fmt.Sprint(d.down.entry) != fmt.Sprint(mark) {
		t.Errorf("mark %+v decoded as %+v, %v", mark, d.down, err)
	}
	c := &catchUp{to: "a", from: prev, entries: []Entry{mark}}
	if got, err := decodeFed(encodeCatchUp(c)); err != nil || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Errorf("catch-up with a mark %+v decoded as %+v, %v", c, got, err)
	}
}

// TestContinuedAfterHeld: b2's Safe message is ordered, and a's gateway
// dies before a acks it, so no mark comes in the old ring and every site
// still holds it when the federation ring that continues the domain's
// configuration (a2 took over) is applied; a mark of the new ring lets it
// out. The continuing entry must come after it in every node's stream, in
// position order, as the messages after the entry do: a site whose mark
// came before the old ring ended has it before the entry, and
// gateway/domconf changes the node-level configuration at that entry. The
// bridge put the entry in the stream at once, before what it held.
func TestContinuedAfterHeld(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	safe := h.sendSvc("b2", localring.Safe, "held")
	h.localStep(h.site("b"))
	h.gatewayDiesNumbering("a")
	h.localConfig(h.site("a")) // a2 takes over
	h.localStep(h.site("b"))
	h.localStep(h.site("c"))
	h.localStep(h.site("a"))
	h.fedConfigAfter(len(h.fedQ), "a", "b", "c")
	h.settle()
	h.checkOrder()
	held := 0
	for _, n := range h.liveNodes() {
		if got := confs(n); got != "reg[a b c] cont[a b c]" {
			t.Fatalf("%s configurations %q, want the ring that continues", n.id, got)
		}
		if st := n.b.Stats(); st.SafeHeld > 0 {
			held++
		}
		var last localring.DomainOrder
		found := false
		for _, e := range n.stream {
			if e.Kind == EntrySend {
				continue
			}
			if e.Pos.Less(last) {
				t.Errorf("%s: %s at %s after %s in its stream", n.id, describe(e), e.Pos, last)
			}
			last = e.Pos
			found = found || e.Kind == EntryMessage && e.Origin == safe
		}
		if !found {
			t.Errorf("%s did not deliver %s", n.id, safe)
		}
	}
	if held == 0 {
		t.Fatal("no node held the Safe message back: the test does not test the hold")
	}
}

func describe(e Entry) string {
	if e.Kind == EntryConfig {
		return fmt.Sprintf("configuration %s (continues %q)", e.Conf.ID, e.Conf.Continues)
	}
	return fmt.Sprintf("message %s", e.Origin)
}

// awayDomain is a domain of sites a (a1-a3) and b (b1, b2) whose
// node-level configuration names every node, with a3 out of a's local
// ring.
func awayDomain(t *testing.T) *harness {
	h := newDomain(t, 0, 3, 2)
	h.domainMembers("a", "a1", "a2", "a3")
	h.domainMembers("b", "b1", "b2")
	h.node("a3").out = true
	h.localConfig(h.site("a"))
	h.settle()
	return h
}

// wantIn checks that every live node delivered each of os in
// configuration conf (delivered's name of it).
func (h *harness) wantIn(conf string, os ...Origin) {
	h.t.Helper()
	for _, n := range h.liveNodes() {
		for _, o := range os {
			if ok, c := delivered(n, o); !ok || c != conf {
				h.t.Errorf("%s delivered %s: %v, in %q; want in %s", n.id, o, ok, c, conf)
			}
		}
	}
}

// domainMembers tells every node of every site which of its site's nodes
// the domain's node-level regular configuration names, as a driver does
// from its gateway/domconf View (SetDomainMembers).
func (h *harness) domainMembers(site string, ids ...string) {
	for _, n := range h.site(site).nodes {
		n.b.SetDomainMembers(ids)
		h.collect(n)
	}
}

// A Safe message waits for every node of the domain's node-level
// configuration at a site, not only for the members of the site's local
// ring: a3, named by the domain's configuration, is out of a's ring when
// b1's Safe message is ordered, and would install another configuration
// without it (a part of its site that goes on alone). No mark covers the
// message; a's gateway asks for the federation ring to form again
// (Ready.Reform), its Sync names the site blocked, and the ring formed
// again does not continue the domain's configuration: every live node
// but a3 delivers the message in the transitional configuration (EVS 7:
// every member of it holds the message), none in the regular one that
// names a3. Before, a acked for a1 and a2 alone, and every node
// delivered it in reg[a b], whose member a3 never did.
func TestSafeWaitsForDomainMember(t *testing.T) {
	h := awayDomain(t)
	safe := h.sendSvc("b1", localring.Safe, "safe")
	after := h.sendSvc("b2", localring.Agreed, "after")
	h.settle()
	for _, n := range h.liveNodes() {
		for _, o := range []Origin{safe, after} {
			if ok, conf := delivered(n, o); ok {
				t.Errorf("%s delivered %s in %s while a3, a node of the domain's configuration, does not hold it", n.id, o, conf)
			}
		}
	}
	if a1 := h.node("a1"); a1.b.Stats().Acks != 0 || !slices.Equal(a1.reforms, []uint64{a1.b.FedRing()}) {
		t.Errorf("a1: %d Acks, asked to form rings %v again; want none, ring %d once", a1.b.Stats().Acks, a1.reforms, a1.b.FedRing())
	}
	// The ring formed again (the driver's answer to Ready.Reform).
	h.fedConfig("a", "b")
	h.settle()
	h.checkOrder()
	for _, n := range h.liveNodes() {
		if got := confs(n); got != "reg[a b] trans[a b] reg[a b]" {
			t.Errorf("%s configurations %q, want a change of the domain's configuration", n.id, got)
		}
		if len(n.b.hold) != 0 {
			t.Errorf("%s still holds %d messages", n.id, len(n.b.hold))
		}
	}
	h.wantIn("trans[a b]", safe, after)
	if st := h.node("a1").b.Stats(); st.BlockedSyncs != 1 {
		t.Errorf("a1 sent %d Syncs that name its site blocked, want 1", st.BlockedSyncs)
	}
	// The round that the change opens takes a3 out of the domain's
	// configuration: a Safe message after it waits for a1 and a2 alone.
	h.domainMembers("a", "a1", "a2")
	next := h.sendSvc("b1", localring.Safe, "next")
	h.settle()
	h.wantIn("reg[a b]", next)
}

// A node of the domain's configuration that is back in its site's ring
// before the ring forms again acks as any member: a3, out when the Safe
// message is ordered, comes back, catches up from its site's
// re-injection, and every node, a3 included, delivers the message on a
// mark in the regular configuration, with no change of it.
func TestSafeDomainMemberBack(t *testing.T) {
	h := awayDomain(t)
	safe := h.sendSvc("b1", localring.Safe, "safe")
	h.settle()
	if ok, _ := delivered(h.node("b2"), safe); ok {
		t.Fatalf("b2 delivered %s while a3 does not hold it", safe)
	}
	h.node("a3").out = false
	h.localConfig(h.site("a"))
	h.settle()
	h.checkOrder()
	for _, n := range h.liveNodes() {
		if got := confs(n); got != "reg[a b]" {
			t.Errorf("%s configurations %q, want no change", n.id, got)
		}
	}
	h.wantIn("reg[a b]", safe)
}

// A blocked site's Sync, or one in doubt, decodes as encoded, with or
// without the fields before the flag, and a clear last flag is not sent,
// nor an empty doubt id.
func TestSyncBlockedCodec(t *testing.T) {
	for _, s := range []*syncMsg{
		{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, conf: "r:8:a", blocked: true},
		{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, conf: "r:8:a", floor: localring.DomainOrder{Seq: 30, Ring: 4}, blocked: true},
		{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, conf: "r:8:a", floor: localring.DomainOrder{Seq: 30, Ring: 4}},
		// A site in doubt (TestInDoubtOwnTrans), with the blocked flag
		// clear or set before it.
		{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, trans: "t:8:a/4:a", conf: "r:4:a", doubt: true},
		{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, trans: "t:8:a/4:a", conf: "r:4:a", blocked: true, doubt: true},
		// With the digest of its Ups in doubt after the flag (a bridge
		// older than it sends none).
		{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, conf: "r:4:a", doubt: true, doubtID: "~0123456789abcdef", doubtN: 3},
	} {
		b := encodeSync(s)
		if got, err := decodeFed(b); err != nil || fmt.Sprint(got) != fmt.Sprint(s) {
			t.Errorf("Sync %+v decoded as %+v, %v", s, got, err)
		}
		for i := range len(b) {
			if _, err := decodeFed(b[:i]); err == nil && i > 0 {
				if got, _ := decodeFed(b[:i]); fmt.Sprint(got) == fmt.Sprint(s) {
					t.Errorf("a Sync cut at %d of %d bytes decoded as the whole", i, len(b))
				}
			}
		}
		if s.doubtID != "" {
			if _, err := decodeFed(append(encodeSync(&syncMsg{site: s.site, ring: s.ring, last: s.last, conf: s.conf, doubt: true}), 0)); err == nil {
				t.Errorf("a Sync with an empty doubt id decoded")
			}
			if b[len(b)-1] = 0; func() bool { _, err := decodeFed(b); return err == nil }() {
				t.Errorf("a Sync with a doubt id of no Up decoded")
			}
		} else if s.blocked || s.doubt {
			b[len(b)-1] = 0
			if _, err := decodeFed(b); err == nil {
				t.Errorf("a Sync with a clear last flag decoded")
			}
		}
	}
}

// TestCutOff: Site.CutOff says when a driver must hold the active
// gateway's federation rings of its site alone for a grace: a local ring
// configuration that left out members of the one before while the node
// stayed active, its site in the domain with other sites. Not for a node
// that is not active or becomes it (a new term has its own grace), nor
// for a configuration that only adds members, nor for a site alone in
// the domain already.
func TestCutOff(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	cut := func() []string {
		var ids []string
		h.live(func(s *hsite, n *hnode) {
			if !n.out && n.b.CutOff() {
				ids = append(ids, string(n.id))
			}
		})
		return ids
	}
	if got := cut(); len(got) != 0 {
		t.Fatalf("cut off in the domain's first configuration: %v", got)
	}
	h.node("a2").out, h.node("a3").out = true, true
	h.localConfig(h.site("a"))
	if got := cut(); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("a1 alone in its local ring, still active: cut off %v, want [a1]", got)
	}
	h.node("a3").out = false
	h.localConfig(h.site("a"))
	if got := cut(); len(got) != 0 {
		t.Errorf("a3 back, no member left out: cut off %v, want none", got)
	}
	h.node("a1").out = true
	h.localConfig(h.site("a"))
	if got := cut(); len(got) != 0 {
		t.Errorf("a1 out, a3 the new gateway: cut off %v, want none (a new term)", got)
	}
	h.fedAlone("b")
	h.settle()
	h.node("b2").out = true
	h.localConfig(h.site("b"))
	if got := cut(); len(got) != 0 {
		t.Errorf("b1 lost b2 with its site alone in the domain: cut off %v, want none", got)
	}
}
