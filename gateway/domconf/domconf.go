package domconf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// AnnounceKind is the first byte of an announcement (see the package
// comment); it is neither a group payload nor a bridge message.
const AnnounceKind byte = 0xA9

// ErrMalformed is wrapped by the error of an announcement that does not
// decode.
var ErrMalformed = errors.New("domconf: malformed announcement")

// Config is one node's view of one federation domain.
type Config struct {
	// Domain is the federation domain's name (for errors).
	Domain string
	// Site is this node's site.
	Site string
	// Self is this node and its incarnation.
	Self localring.Member
}

// Stats counts what a View did.
type Stats struct {
	Announcements uint64 // announcements applied
	Rounds        uint64 // rounds opened
	Installs      uint64 // configurations installed (transitional and regular)
	Discarded     uint64 // client messages and requests discarded while a round was open, or of a sender not in the configuration
	NotMember     uint64 // stream messages dropped because this node is in no configuration of the domain yet
	Missed        uint64 // gaps: a message of a federation ring whose configuration this node did not apply
	Malformed     uint64 // announcements that did not decode
	Stale         uint64 // announcements of a local ring older than one already announced (ignored)
	Reforms       uint64 // times the View asked for the federation ring to form again (Ready.Reform)
	Parts         uint64 // configurations of this node's part of its site installed, cut off from the domain (bridge.DomainConf.Part)
	GoneTold      uint64 // this node's messages its site dropped as done elsewhere, told at once (bridge.Entry.Gone)
}

// Ready is what a View asks its driver to do.
type Ready struct {
	// Events go to the domain's groups.Node, in order.
	Events []localring.Event
	// Up are announcements to send up to the domain (bridge.Site.EncodeUp).
	Up [][]byte
	// Reform asks the site's active gateway, if this node is it, to form
	// the federation ring again (gateway.Runner.Reform): the stream holds
	// a change of the domain's nodes, or the announcements a round waits
	// for, which take effect at the federation's next configuration
	// (see the package comment).
	Reform bool
	// Ring is, with Reform, the federation ring (DomainOrder.Ring) of
	// the stream where the View asked: the ring to form again. A driver
	// carries the ask out only while its member is still in that ring
	// (bridge.Site.FedRing): a newer ring's entry, still on its way down
	// through the site's local ring when the newer ring settled, covers
	// it (Covered, once applied).
	Ring uint64
	// Covered says that a regular configuration of the federation came
	// in the stream after every earlier Reform: the change an earlier
	// ask was for takes effect there (it continues the domain's
	// configuration), or that configuration opened a round that asks
	// again once its announcements are in (it does not). A driver that
	// still holds an earlier ask not carried out (its ring had not
	// settled) drops it; Reform, when also set, was asked after it.
	Covered bool
}

// View derives one node's configurations of a domain from the domain's
// stream (see the package comment).
type View struct {
	cfg Config

	sites  []string                      // the domain configuration's sites (bridge), sorted
	known  map[string][]localring.Member // site -> its last announced nodes
	siteOf map[localring.NodeID]string   // node -> site, from announcements
	fresh  map[string]bool               // sites announced since the round opened
	seen   map[localring.NodeID]seenAt   // node -> its newest incarnation announced, and the newest local ring that held it
	round  bool                          // a round is open
	trans  bool                          // in the federation's transitional configuration (fedTrans), its messages delivered
	ring   uint64                        // the federation ring of the stream's last entry (DomainOrder.Ring), 0 before any
	local  *localring.Configuration      // this site's local regular configuration
	cur    *localring.Configuration      // the configuration installed last
	reg    *localring.Configuration      // the regular configuration installed last
	dom    []localring.Member            // the members of the domain's regular configuration, as the last round completed (domOK), with or without this node
	domOK  bool                          // dom is known: a round completed since this node applies the stream
	siteMs []string                      // SiteMembers' answer, while siteOK
	siteOK bool                          // siteMs is current: no install, round or announcement since
	sends  []bridge.Entry                // EntrySends whose messages have not come yet (sent)
	out    Ready
	stats  Stats

	// transAt is the place of the bridge's transitional configuration
	// entry while the stream is after it, up to the next regular
	// configuration that continues none (fedTrans); zero elsewhere.
	transAt localring.DomainOrder

	// doubt counts the messages delivered without a domain position
	// (bridge.Entry.InDoubt): their Orders grow along the stream.
	doubt uint32

	// through lists the federation rings the domain's configuration went
	// through without a change (continued) since the last regular
	// configuration that continues none: the bridge keeps their held Safe
	// messages for a mark of the ring after them, so these come after the
	// continuing entry (follow).
	through []uint64

	// stage holds what the node emits after the bridge's transitional
	// entry while a continuing entry held behind a Safe message may still
	// come (fedTrans); transHeld says that the transitional entry the
	// stream is after said one comes (bridge.Entry.HeldBehind).
	stage     *staged
	transHeld bool
}

// staged is what a node that leaves its regular configuration at the
// bridge's transitional entry emits there and after it, held back until
// it knows where its sends go (fedTrans): the sends of the messages that
// came, told in the regular configuration, then the install of its
// transitional configuration of itself alone, then the deliveries in it.
type staged struct {
	reg   string            // the regular configuration the node left
	sends []localring.Event // told in reg
	evs   []localring.Event // the install of the transitional configuration, then the deliveries in it
}

// New returns a View for one node and one domain.
func New(cfg Config) (*View, error) {
	if cfg.Site == "" || cfg.Self.ID == "" {
		return nil, fmt.Errorf("domconf: domain %s: Site and Self are required", cfg.Domain)
	}
	return &View{cfg: cfg, known: map[string][]localring.Member{}, siteOf: map[localring.NodeID]string{}, fresh: map[string]bool{},
		seen: map[localring.NodeID]seenAt{}}, nil
}

// Ready returns and clears what the driver must do.
func (v *View) Ready() Ready {
	r := v.out
	v.out = Ready{}
	return r
}

// maxReleased bounds the events slice Release keeps: a configuration
// change's many are left to the garbage collector.
const maxReleased = 1024

// Release gives back the events slice of r, the last Ready, once the
// caller keeps no reference to its elements (the payloads they point to
// stay the caller's): the View reuses it for its next output, so that a
// driver that takes Ready after every entry does not allocate it each
// time. It has no effect once the View produced events after that Ready.
func (v *View) Release(r Ready) {
	if v.out.Events == nil && cap(r.Events) <= maxReleased {
		clear(r.Events)
		v.out.Events = r.Events[:0]
	}
}

// HasReady reports whether Ready would return anything: a driver may
// skip taking it (and what it does with it) when it does not.
func (v *View) HasReady() bool {
	r := &v.out
	return len(r.Events) > 0 || len(r.Up) > 0 || r.Reform || r.Ring != 0 || r.Covered
}

// Stats returns the counters.
func (v *View) Stats() Stats { return v.stats }

// Current returns the configuration installed last (nil before the
// first).
func (v *View) Current() *localring.Configuration { return v.cur }

// SiteMembers returns the nodes of this node's site that the regular
// configuration it is in names, for bridge.Site.SetDomainMembers: a Safe
// message the bridge lets out with a mark is delivered in that
// configuration, and each of them must hold it (EVS 7). Nil before the
// first regular configuration, in a transitional one and while a round
// is open: a message delivered there is delivered in a transitional
// configuration of the node alone (the round's), so no other node need
// hold it.
//
// The answer is computed once per change (the agent asks after every
// step) and must not be modified; it is sorted.
func (v *View) SiteMembers() []string {
	if v.siteOK {
		return v.siteMs
	}
	v.siteMs, v.siteOK = nil, true
	if v.cur == nil || v.cur.Kind != localring.Regular || v.round {
		return nil
	}
	for _, m := range v.cur.Members {
		if v.siteOf[m.ID] == v.cfg.Site {
			v.siteMs = append(v.siteMs, string(m.ID))
		}
	}
	slices.Sort(v.siteMs)
	return v.siteMs
}

// InRound reports whether a round is open: the node waits for sites'
// announcements before it installs the next regular configuration.
func (v *View) InRound() bool { return v.round }

// LocalInstall is a regular configuration of this node's local ring: the
// site's announcer (its lowest member) announces it.
func (v *View) LocalInstall(c *localring.Configuration) {
	if c.Kind != localring.Regular {
		return
	}
	v.local = c
	v.announce()
}

// announce queues an announcement of the local configuration if this node
// is the site's announcer.
func (v *View) announce() {
	c := v.local
	if c == nil || len(c.Members) == 0 || c.Members[0].ID != v.cfg.Self.ID {
		return
	}
	v.out.Up = append(v.out.Up, encodeAnnounce(&announcement{site: v.cfg.Site, ring: c.Ring.Seq, sites: v.sites, members: c.Members}))
}

// Entry is one entry of the domain's stream (bridge.Ready.Stream), in
// order.
func (v *View) Entry(e *bridge.Entry) {
	switch e.Kind {
	case bridge.EntryConfig:
		if e.Conf.Kind == localring.Transitional {
			v.transAt, v.transHeld = e.Pos, e.HeldBehind
			v.fedTrans()
			return
		}
		// Every ask before this entry was for the federation's next
		// configuration, and this is it: a ring formed again for it
		// would be one more WAN membership round that changes nothing
		// (the storm after a heal: an announcement delivered in the
		// federation's transitional configuration completed the old
		// component's round and asked, the merge's entry came next and
		// opened a round, and the ring formed again before that round's
		// announcements were ordered; TestReformCoveredByConfiguration).
		v.out.Reform, v.out.Ring, v.out.Covered = false, 0, true
		if e.Conf.Continues != "" {
			v.continued(e.Pos, e.Pos.String()+"/"+e.Conf.ID, e.Conf.Sites, e.HeldBehind)
			return
		}
		v.endTrans()
		v.transAt, v.transHeld = localring.DomainOrder{}, false
		if e.Conf.Part != nil {
			v.part(e)
			return
		}
		v.sites = slices.Clone(e.Conf.Sites)
		v.ring = e.Pos.Ring
		v.through = nil
		v.openRound(e.Pos)
	case bridge.EntrySend:
		if isAnnounce(e.Payload) {
			return
		}
		if e.Gone {
			// Its site dropped it as done elsewhere: it never comes down
			// here (bridge.Entry.Gone). Told now, unsent, or sent in a
			// configuration this node left (groups.SentElsewhere).
			conf := ""
			if e.Elsewhere {
				conf = groups.SentElsewhere
			}
			v.stats.GoneTold++
			v.emit(localring.Event{Kind: localring.EventSend, Msg: localring.Message{ID: e.Origin.ID, Svc: e.Svc, Payload: e.Payload, Conf: conf}})
			return
		}
		v.sends = append(v.sends, *e)
	case bridge.EntryMessage:
		if !e.InDoubt {
			// One in doubt has a place in its site's stream alone, after
			// the site's transitional configuration: of no ring.
			v.follow(e.Pos)
		}
		v.sent(e.Origin)
		if isAnnounce(e.Payload) {
			a, err := decodeAnnounce(e.Payload)
			if err != nil {
				v.stats.Malformed++
				return
			}
			v.announced(a)
			return
		}
		switch {
		case v.cur == nil:
			v.stats.NotMember++
			return
		case groups.IsReport(e.Payload):
		case (v.round || v.cur.Kind == localring.Transitional) && !v.trans:
			v.stats.Discarded++
			return
		case !slices.Contains(v.dom, v.cfg.Self):
			// The domain's configuration went on without this node (its
			// site announced it out); in the federation's transitional
			// configuration (v.trans), which it follows as the members
			// do, it delivers nothing either.
			v.stats.Discarded++
			return
		case !slices.Contains(v.dom, localring.Member{ID: e.Origin.ID.Sender, Inc: e.Origin.ID.Inc}):
			// Its sender left the configuration before the message came
			// down (an Up waits at its site until it is ordered): the
			// sender, at this position, is in another configuration and
			// was told that it was not sent here; its group layer sends it
			// again (TestSenderLeft). In the federation's transitional
			// configuration (v.trans) the regular one it ends is the one
			// the messages were sent in.
			v.stats.Discarded++
			return
		}
		o := localring.Order{Ring: v.reg.Ring.Seq, Seq: e.Pos.Seq}
		if e.InDoubt {
			v.doubt++
			o.Index = noPosition + v.doubt
		}
		v.emit(localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{ID: e.Origin.ID, Svc: e.Svc, Payload: e.Payload,
			Conf: v.cur.ID, Order: o}})
	}
}

func (v *View) emit(e localring.Event) {
	if v.stage != nil {
		v.stage.evs = append(v.stage.evs, e)
		return
	}
	v.out.Events = append(v.out.Events, e)
}

// fedTrans is the bridge's transitional configuration entry (at
// transAt): the messages after it, up to the next regular configuration,
// are those the federation delivered in its transitional configuration,
// which the components of a split federation deliver with holes (the
// other component's messages; EVS 6 allows them only in a transitional
// configuration). A node in a regular configuration leaves it there
// (leave: a transitional configuration of itself alone; which others go
// on is known at the round's end) and delivers them in it; its own among
// them were sent in the regular one (the bridge's EntrySends come before
// the entry), and are told so here. An announcement among them waits for
// the round of the next regular configuration (announced). Delivered in
// the regular configuration, a message after b-1's hole broke 6
// (tests/fednetns TestSitesNetns with the lan preset, c cut off;
// TestTransitionalMessages).
//
// A node already out of its regular configuration (a round is open)
// discards them, and keeps its sends until their messages come (sent:
// unsent, while the round is open). The Safe messages the bridge held
// come after the entry too, and among them, where one held them, the
// entry of a ring that continued the domain's configuration (bridge,
// continued): a round can complete there (continued), and the node
// leaves the regular configuration it installed at once, its sends told
// sent in it, as if the entry had come before this one, as it does at a
// site whose mark came before the ring ended. Told unsent here, a
// sender's messages after that entry were delivered in the regular
// configuration (EVS 1.1 at node level: gateway/hiersim partial-cut,
// seed 394; TestRoundCompletesAfterTransitional).
//
// A node that the domain's configuration went on without (out: see
// continued) follows it here too, delivering nothing: what the members
// decide at the entries after this one, it decides alike.
//
// Where the bridge marks the entry (bridge.Entry.HeldBehind: a
// continuing entry held behind a Safe message comes after it, which
// other sites may have had before theirs, and where a change of the
// configuration opens a round there), a node that leaves its regular
// configuration here stages what it emits (stage): a send is told in the
// regular configuration it left once its message came, and the install
// and the deliveries wait with it, until such an entry opens the round
// (continued: the sends of the messages after it are told there, not
// sent) or the section ends (endTrans: the rest are told in the regular
// configuration, as without a stage). Told here, the sends of the
// messages after such an entry were delivered in the configuration the
// round installed at the sites that had it first (regional seed 27;
// TestChangeAfterTransitionalCompletes).
func (v *View) fedTrans() {
	if v.round || v.trans || !v.domOK {
		return
	}
	if v.cur != nil && v.cur.Kind == localring.Regular {
		if v.transHeld {
			v.stage = &staged{reg: v.cur.ID}
		} else {
			v.tellSent(len(v.sends))
		}
		v.leave(v.transAt)
	}
	v.trans = true
}

// unstage emits what the node staged after the bridge's transitional
// entry (fedTrans): the sends told in the regular configuration, the
// install of its transitional configuration, its deliveries there.
func (v *View) unstage() {
	st := v.stage
	if st == nil {
		return
	}
	v.stage = nil
	v.out.Events = append(v.out.Events, st.sends...)
	v.out.Events = append(v.out.Events, st.evs...)
}

// endTrans ends the section after the bridge's transitional entry: a
// node that staged it tells its sends still held in the regular
// configuration it left there, as fedTrans does without a stage.
func (v *View) endTrans() {
	if v.stage != nil {
		v.tellSent(len(v.sends))
		v.unstage()
	}
	v.trans = false
}

// sent tells the group layer that this node's message from origin, held
// since its EntrySend, was sent where the message is: in the regular
// configuration current at its position (after follow), or outside any
// (conf ""), where the message is discarded and the group layer sends
// it again. Told at the EntrySend, a node whose stream skipped a
// federation ring's configuration counted its message as sent in its
// old configuration, and the message opened a round and was discarded
// by every node (atoll bench isolation under load: one ab-regional
// message lost, EVS 3 at its sender; TestMissedConfigurationOwnSend).
// The EntrySends of the messages the federation delivered in its
// transitional configuration come before the bridge's transitional
// entry, and are told there (they were sent in the configuration it
// ends; fedTrans).
func (v *View) sent(origin bridge.Origin) {
	if i := slices.IndexFunc(v.sends, func(e bridge.Entry) bool { return e.Origin == origin }); i >= 0 {
		v.tellSent(i + 1)
	}
}

// tellSent tells the group layer of the first n held sends, in order,
// that they were sent in the current regular configuration, or outside
// any while a round is open or the node is out of its regular
// configuration.
func (v *View) tellSent(n int) {
	conf := ""
	switch {
	case v.stage != nil:
		conf = v.stage.reg
	case v.cur != nil && v.cur.Kind == localring.Regular && !v.round:
		conf = v.cur.ID
	}
	for _, e := range v.sends[:n] {
		ev := localring.Event{Kind: localring.EventSend, Msg: localring.Message{ID: e.Origin.ID, Svc: e.Svc, Payload: e.Payload, Conf: conf}}
		if v.stage != nil {
			v.stage.sends = append(v.stage.sends, ev)
		} else {
			v.emit(ev)
		}
	}
	v.sends = slices.Delete(v.sends, 0, n)
}

// continued follows a regular configuration of the federation ring that
// continues the domain's configuration (bridge.DomainConf.Continues: the
// same sites, every one with the same stream through the change; a
// gateway failover, or a ring formed again because a gateway asked for
// it: Ready.Reform). It is where what the announcements changed takes
// effect: every node that applies it applied the same stream before it
// (the Syncs agree on it), so all decide alike (see the package comment).
// A round whose sites have all announced completes here; otherwise the
// node stays in its configuration if nothing changed, installs the
// configuration without the nodes that left at once, and opens a round
// if nodes joined, or for any change where the bridge held the entry
// behind a Safe message (held: bridge.Entry.HeldBehind), which sites
// may have on either side of their transitional entry (see the package
// comment, "The federation's transitional configuration"; changeRound).
//
// A node that the domain's configuration went on without (its site
// announced it out, and a round or a change completed without it: out,
// in its transitional configuration of itself alone) decides as the
// members do, from the domain's configuration it learned there (dom):
// it opens the round they open, though it is not in it, and completes
// it with them, so that when its site announced it back it installs the
// configuration they install, with it, at the same entry. Deciding from
// itself alone (a round once its site announced it), it opened a round
// where the others, already in one that every site had announced in,
// completed it with it: they delivered its messages in that
// configuration, and it, in a round, was told they were not sent
// (node-level EVS 1.1 at 8 of gateway/hiersim's seeds 1-100 of
// TestStarvationLong's regional-one case; TestOutFollowsRound). A node
// that never learned the domain's configuration (it joins) opens a
// round once its site announced it: the others see it join here.
func (v *View) continued(pos localring.DomainOrder, at string, sites []string, held bool) {
	v.through = append(v.through, v.ring)
	v.ring = pos.Ring
	v.sites = slices.Clone(sites)
	switch {
	case v.trans:
		// After the bridge's transitional entry, so held behind a Safe
		// message: a site that had it before its own opens a round here
		// for any change of the configuration (below), and so does this
		// node, where it left its regular configuration at the
		// transitional entry with its sends staged (fedTrans: those of the
		// messages after this entry are not told yet), or was out of the
		// domain's configuration already (it decides as the members do).
		// A node that told its sends at the transitional entry (no
		// stage: a bridge that does not mark it) goes on as before.
		if !slices.Equal(v.members(), v.dom) && (v.stage != nil || !slices.Contains(v.dom, v.cfg.Self)) {
			v.unstage()
			v.trans = false
			v.changeRound(pos)
		}
	case v.round:
		if v.allFresh() {
			v.complete(pos, at)
			if !v.transAt.IsZero() {
				v.fedTrans() // the entry came after the bridge's transitional one
			}
		}
	case !v.domOK:
		if slices.Contains(v.members(), v.cfg.Self) {
			v.openRound(pos)
		}
	default:
		ms := v.members()
		switch {
		case slices.Equal(ms, v.dom):
		case slices.ContainsFunc(ms, func(m localring.Member) bool { return !slices.Contains(v.dom, m) }):
			v.openRound(pos)
		case held:
			// Nodes left, at an entry the bridge held behind a Safe
			// message (bridge.Entry.HeldBehind): a site that had the
			// mark only in the federation's transitional configuration
			// has the entry after its transitional entry, where its
			// nodes left their regular configuration and cannot install
			// this change's transitional configuration after their own
			// (EVS 2.4): they open a round here (above), and so does
			// this node. Installed here at once, the change had this
			// node deliver the messages after the entry whose senders
			// there were told they were not sent (EVS 1.1), and each
			// side deliver the other's later messages in a
			// configuration their senders were not in (1.3;
			// TestChangeAfterTransitionalRemoves).
			v.changeRound(pos)
		default:
			v.complete(pos, at)
		}
	}
}

// pending reports whether the federation's next configuration that
// continues the domain's would change this node's configuration: a round
// all of whose sites announced, or announced nodes other than the
// regular configuration's.
func (v *View) pending() bool {
	ms := v.members()
	switch {
	case v.round:
		return v.allFresh()
	case !v.domOK:
		return slices.Contains(ms, v.cfg.Self)
	}
	return !slices.Equal(ms, v.dom)
}

// members returns the nodes the sites of the domain configuration
// announced last, sorted.
func (v *View) members() []localring.Member {
	var ms []localring.Member
	for _, s := range v.sites {
		ms = append(ms, v.known[s]...)
	}
	slices.SortFunc(ms, func(a, b localring.Member) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return slices.Compact(ms)
}

// follow checks that a message at pos belongs to the federation ring of
// the configuration this node applied last. A message of another ring
// means that the node's stream skipped that ring's configuration: the
// node was out of its site's local ring (a moment's split of the site)
// while the gateway brought it down, and its site's ring took it back
// after. Its configuration is then not the one the message was sent in,
// and it does not know the domain's: it opens a round as at a change it
// missed (a transitional configuration of itself alone (leave),
// client traffic discarded until the round completes), and learns the
// domain's sites from the next announcement, as a node that joins does.
// The others open their round when its site announces it back in.
// Delivering on in the old configuration broke EVS (tests/fednetns
// TestSitesNetns, a site's ring split for half a second under load: 69
// messages sent in one domain configuration delivered in the one before).
//
// A message of a ring the configuration went through without a change
// (continued) is none of that: a Safe message the bridge held when the
// continuing entry came, released by a mark of the new ring. Another site
// that had its mark earlier delivered it before the entry, in the same
// configuration. Taken for a missed configuration, it opened a round at
// the first such message, at each site another one, and the messages
// between were discarded at one site and delivered at another
// (gateway/hiersim's node-level trace at every gateway crash, pause and
// local cut: EVS 1.1 and 7; TestHeldAfterContinues).
func (v *View) follow(pos localring.DomainOrder) {
	switch {
	case pos.Ring == v.ring:
	case slices.Contains(v.through, pos.Ring):
	case v.ring == 0 || v.cur == nil:
		v.ring = pos.Ring // a node that joins learns the ring from the stream
	default:
		v.stats.Missed++
		v.endTrans()
		v.ring = pos.Ring
		v.through = nil
		v.sites = nil
		v.openRound(pos)
	}
}

// changeRound opens the round of a change at a continuing entry held
// behind a Safe message (continued). One that adds nodes is a round as
// any (openRound). Where the change only removes nodes, every node knows
// the configuration it leads to: the round waits for no announcement
// (every site counts as announced, and none is asked for), and completes
// at the federation's next configuration that continues the domain's,
// which the gateway of the site of the first node removed asks for
// (Ready.Reform; once, as an announcement asks: pending is true from
// here on, so no announcement in the round asks again). Waiting for
// every site's announcement, the round cost one of every site, and its
// ask waited for the last (TestHeldRemovesRound).
func (v *View) changeRound(pos localring.DomainOrder) {
	ms := v.members()
	i := slices.IndexFunc(v.dom, func(m localring.Member) bool { return !slices.Contains(ms, m) })
	if i < 0 || slices.ContainsFunc(ms, func(m localring.Member) bool { return !slices.Contains(v.dom, m) }) {
		v.openRound(pos)
		return
	}
	v.stats.Rounds++
	v.round, v.siteOK = true, false
	clear(v.fresh)
	for _, s := range v.sites {
		v.fresh[s] = true
	}
	v.leave(pos)
	if v.siteOf[v.dom[i].ID] == v.cfg.Site {
		v.stats.Reforms++
		v.out.Reform, v.out.Ring = true, v.ring
	}
}

// openRound opens a round at pos: the node waits for every site's
// announcement and asks its own site to announce. It leaves its regular
// configuration at once (leave).
func (v *View) openRound(pos localring.DomainOrder) {
	v.stats.Rounds++
	v.round, v.siteOK = true, false
	clear(v.fresh)
	v.announce()
	v.leave(pos)
}

// leave moves a node that leaves its regular configuration before it
// knows the next one (a round opens, or it learns that it is not in the
// domain's configuration any more) into a transitional configuration of
// itself alone, "dt:<position>/<previous regular id>/<node>": the one
// member it knows goes on with it. Which others do, it learns only when
// the next regular configuration is known, and a transitional
// configuration installed before that cannot be right for all of them
// (EVS 2.4). One of the members of the node's local ring, as it was,
// named b's old local ring at b-1 and its new one at b-2, which applied
// the entry late, re-injected by its site after a moment out of b's
// ring: b-2, a member of b-1's transitional configuration, installed
// another and then the same regular configuration (tests/fednetns
// TestSitesNetns with a 200 ms token under load; TestCaughtUpRound); and
// it held members that left the site before the round completed
// (TestLeaveInRound).
func (v *View) leave(pos localring.DomainOrder) {
	if v.cur == nil || v.cur.Kind != localring.Regular {
		return
	}
	v.install(&localring.Configuration{ID: "dt:" + pos.String() + "/" + v.reg.ID + "/" + string(v.cfg.Self.ID), Kind: localring.Transitional,
		Ring: localring.RingID{Seq: pos.Seq, Rep: v.cfg.Self.ID}, Members: []localring.Member{v.cfg.Self}})
}

// announced records a site's announcement. It changes no configuration
// where it is: a place inside a federation ring's stream is one that a
// site can deliver in the federation's regular configuration and the
// others in its transitional one (see the package comment); what it
// changed takes effect at the federation's next configuration, which the
// site's gateway asks for (Ready.Reform).
func (v *View) announced(a *announcement) {
	if v.stale(a) {
		v.stats.Stale++
		return
	}
	v.stats.Announcements++
	v.siteOK = false // siteOf may learn a node's site
	was := v.pending()
	if v.sites == nil {
		v.sites = slices.Clone(a.sites) // a node that joined after the domain formed
	}
	if !slices.Contains(v.sites, a.site) {
		return // a site that is not in the domain's configuration
	}
	for _, m := range a.members {
		v.siteOf[m.ID] = a.site
	}
	v.known[a.site] = a.members
	if v.round {
		v.fresh[a.site] = true
	}
	if !was && v.pending() && a.site == v.cfg.Site {
		// Once per change, and by the announcing site's gateway alone: a
		// ring formed again while the next announcements come would be
		// formed again at each (the gateway's member is operational again
		// by then), and the sites' gateways apply the announcement at
		// different times, each forming the ring again, the later ones
		// before the earlier one's ring settled (a ring that ends in its
		// Sync phase is no configuration of the domain, and the next does
		// not continue it: gateway/hiersim, the gateway faults). The ring
		// asked for comes after every announcement applied first.
		v.stats.Reforms++
		v.out.Reform, v.out.Ring = true, v.ring
	}
}

// seenAt is what the stream said of a node last: its newest incarnation
// announced, and the newest local ring (sequence number) of that
// incarnation an announcement listed it in.
type seenAt struct{ inc, ring uint64 }

// stale reports whether announcement a describes a local ring older than
// one already announced, and records its members otherwise. An
// announcement is an Up: one sent by the announcer of a part of its site
// without the active gateway (a moment's split of the site's ring) waits
// at its sender, and goes up when the site's ring is whole again (the
// bridge sends a node's pending Ups again at every local configuration),
// possibly after the announcement of the whole ring. Applied, it took the
// other part's nodes out of the domain, the active gateway included
// (tests/fednetns TestSitesNetns with a 200 ms token under load: b-1 out
// of the domain's configuration until the next change; TestStaleAnnouncement).
// A node's local rings have increasing sequence numbers, so an
// announcement that lists a node in a ring older than one it was
// announced in, or an incarnation older than one announced, is stale.
// Every node that applies the stream judges alike.
func (v *View) stale(a *announcement) bool {
	for _, m := range a.members {
		if s, ok := v.seen[m.ID]; ok && (s.inc > m.Inc || s.inc == m.Inc && s.ring > a.ring) {
			return true
		}
	}
	for _, m := range a.members {
		if s, ok := v.seen[m.ID]; !ok || s.inc < m.Inc || s.ring < a.ring {
			v.seen[m.ID] = seenAt{inc: m.Inc, ring: a.ring}
		}
	}
	return false
}

// allFresh reports whether every site of the domain configuration has
// announced since the round opened.
func (v *View) allFresh() bool {
	for _, s := range v.sites {
		if !v.fresh[s] {
			return false
		}
	}
	return len(v.sites) > 0
}

// complete installs the regular configuration of every site's announced
// nodes at pos (named after at), if this node is one of them.
func (v *View) complete(pos localring.DomainOrder, at string) {
	v.round, v.siteOK = false, false
	ms := v.members()
	v.dom, v.domOK = ms, true
	if !slices.Contains(ms, v.cfg.Self) {
		// Not (yet) announced by its own site: a node that joins waits
		// for the announcement that lists it. A member that its site
		// announced without it (it applies the stream late, re-injected
		// after a moment out of its site's ring) leaves its regular
		// configuration, whose messages go on without it
		// (TestAnnouncedWithout), and comes back through a round when its
		// site announces it again.
		v.leave(pos)
		return
	}
	if v.cur != nil && v.cur.Kind == localring.Regular {
		// The members that go on together: those of the current
		// configuration that are in the new one.
		var tm []localring.Member
		for _, m := range v.cur.Members {
			if slices.Contains(ms, m) {
				tm = append(tm, m)
			}
		}
		v.install(&localring.Configuration{ID: "dt:" + at + "/" + v.reg.ID, Kind: localring.Transitional,
			Ring: localring.RingID{Seq: pos.Seq, Rep: v.cfg.Self.ID}, Members: tm})
	}
	c := &localring.Configuration{ID: "dr:" + at, Kind: localring.Regular, Ring: localring.RingID{Seq: pos.Seq, Rep: localring.NodeID(v.cfg.Site)}, Members: ms}
	v.reg = c
	v.install(c)
}

// part installs e, the regular configuration of this node's part of its
// site, cut off from the domain (bridge.DomainConf.Part: its local ring's
// regular configuration holds no gateway of the domain): the members of
// that local configuration, at once, "dr:<position>/<e's id>". No
// announcement of the part can come down (no gateway orders it), and a
// round waiting for one left the node in its transitional configuration
// of itself alone for as long as it is cut off; the nodes of the part
// know the members from their one local ring. The bridge put its
// transitional configuration before it (the node left its regular one
// there: fedTrans). A round open is over: the domain's configuration
// goes on without the node, which comes back through the round its
// restart opens (bridge, "Members of another history"). The group layer
// sees the nodes of the other sites, and those of its site out of its
// part, leave for the network.
func (v *View) part(e *bridge.Entry) {
	v.stats.Parts++
	v.round, v.siteOK = false, false
	v.ring, v.through = e.Pos.Ring, nil
	ms := []localring.Member{v.cfg.Self}
	if v.local != nil {
		ms = slices.Clone(v.local.Members)
	}
	slices.SortFunc(ms, func(a, b localring.Member) int { return strings.Compare(string(a.ID), string(b.ID)) })
	if v.cur != nil && v.cur.Kind == localring.Regular {
		v.leave(e.Pos)
	}
	c := &localring.Configuration{ID: "dr:" + e.Pos.String() + "/" + e.Conf.ID, Kind: localring.Regular,
		Ring: localring.RingID{Seq: e.Pos.Seq, Rep: localring.NodeID(v.cfg.Site)}, Members: ms}
	v.reg = c
	v.install(c)
}

func (v *View) install(c *localring.Configuration) {
	v.stats.Installs++
	v.cur, v.siteOK = c, false
	v.emit(localring.Event{Kind: localring.EventInstall, Conf: c})
}

// noPosition is the lowest Order.Index of a message delivered without a
// domain position (bridge.Entry.InDoubt): at or above the indexes
// localring.Order.Position takes, so that the trace writes no order.
const noPosition = 1 << 10

// Position returns the domain position of a message this package handed
// to the group layer (its Order.Seq), for the trace's order field
// (tracemap.DomainOrder) and the client's; zero, no order, for one its
// site delivered without one (bridge.Entry.InDoubt).
func Position(o localring.Order) localring.DomainOrder {
	if o.Index >= noPosition {
		return localring.DomainOrder{}
	}
	return localring.DomainOrder{Seq: o.Seq, Ring: o.Ring}
}

// announcement lists a site's nodes, and the domain configuration's sites
// as its announcer knew them (for a node that joins later).
type announcement struct {
	site    string
	ring    uint64 // the sequence number of the local ring whose members it lists
	sites   []string
	members []localring.Member
}

func isAnnounce(p []byte) bool { return len(p) > 0 && p[0] == AnnounceKind }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeAnnounce(a *announcement) []byte {
	b := appendString([]byte{AnnounceKind}, a.site)
	b = binary.AppendUvarint(b, a.ring)
	b = binary.AppendUvarint(b, uint64(len(a.sites)))
	for _, s := range a.sites {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(a.members)))
	for _, m := range a.members {
		b = appendString(b, string(m.ID))
		b = binary.AppendUvarint(b, m.Inc)
	}
	return b
}

func decodeAnnounce(p []byte) (*announcement, error) {
	if !isAnnounce(p) {
		return nil, fmt.Errorf("%w: kind byte", ErrMalformed)
	}
	b := p[1:]
	fail := func(what string) (*announcement, error) { return nil, fmt.Errorf("%w: %s", ErrMalformed, what) }
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	a := &announcement{}
	var ok bool
	if a.site, ok = str(); !ok || a.site == "" {
		return fail("site")
	}
	if a.ring, ok = uvarint(); !ok {
		return fail("ring")
	}
	n, ok := uvarint()
	if !ok || n > uint64(len(b)) {
		return fail("site count")
	}
	for range n {
		s, ok := str()
		if !ok {
			return fail("sites")
		}
		a.sites = append(a.sites, s)
	}
	if n, ok = uvarint(); !ok || n > uint64(len(b)) {
		return fail("member count")
	}
	for range n {
		id, ok := str()
		if !ok || id == "" {
			return fail("member id")
		}
		inc, ok := uvarint()
		if !ok {
			return fail("member incarnation")
		}
		a.members = append(a.members, localring.Member{ID: localring.NodeID(id), Inc: inc})
	}
	if len(b) != 0 {
		return fail("trailing bytes")
	}
	return a, nil
}
