package bridge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/localring"
)

// Default bounds (Config).
const (
	DefaultLogEntries = 8192
	DefaultMaxPending = 65536
)

// Config is one node's bridge for one federation domain.
type Config struct {
	// Domain is the federation domain, "fed/CLASS:SITE+SITE+..." (for
	// errors).
	Domain string
	// Site is this node's site: its federation ring member id.
	Site string
	// Node is this node's id.
	Node localring.NodeID
	// LogEntries is how many of the domain's latest entries (messages and
	// configuration changes) every node keeps to answer a site that
	// catches up: the catch-up bound. A site whose gap is longer goes
	// through a partition and a merge instead. Default DefaultLogEntries.
	LogEntries int
	// MaxPending is how many of its site's Ups a node keeps until it sees
	// them come down. Beyond it the oldest is dropped and counted
	// (Stats.PendingDropped): a failover may then lose it. Default
	// DefaultMaxPending.
	MaxPending int
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.Site == "":
		return fmt.Errorf("bridge: domain %s: Site is empty", c.Domain)
	case c.Node == "":
		return fmt.Errorf("bridge: domain %s: Node is empty", c.Domain)
	case c.LogEntries < 0 || c.MaxPending < 0:
		return fmt.Errorf("bridge: domain %s: LogEntries %d and MaxPending %d must not be negative", c.Domain, c.LogEntries, c.MaxPending)
	}
	if c.LogEntries == 0 {
		c.LogEntries = DefaultLogEntries
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	return nil
}

// Stats counts what a bridge did.
type Stats struct {
	Applied        uint64 // Downs applied (not stale)
	Stale          uint64 // Downs dropped: position at or below the last applied
	Duplicates     uint64 // messages dropped: origin seq at or below the highest delivered
	Malformed      uint64 // local or federation messages that did not decode
	PendingDropped uint64 // Ups dropped from a full pending log
	Resubmitted    uint64 // Ups a new gateway term submitted again
	CatchUps       uint64 // catch-up answers applied
	Gaps           uint64 // catch-ups refused: partition and merge
	BeyondLog      uint64 // refusals this site answered: the position is older than the log
	Diverged       uint64 // refusals this site answered: another component's history
}

// Ready is what a bridge asks its driver to do, in order.
type Ready struct {
	// Local are messages to submit on the local ring (Agreed).
	Local [][]byte
	// Fed are messages to submit on the federation ring (Agreed); only an
	// active gateway has any.
	Fed [][]byte
	// Stream is the domain's ordered stream for this node: deliveries and
	// configuration changes, for the domain's groups.Node.
	Stream []Entry
}

type pendingUp struct {
	fedUp
	sent bool // submitted in the current gateway term
}

type originKey struct {
	site   string
	sender localring.NodeID
	inc    uint64
}

// Site is one node's bridge between its site's local ring and one
// federation domain (see the package comment). It is a pure state
// machine: the driver feeds it the local ring's configurations and
// deliveries, and, while the node is the site's active gateway, the
// federation ring's; it calls Ready after each input.
type Site struct {
	cfg Config

	// Every node.
	last    localring.DomainOrder // last applied Down
	log     []Entry               // the latest applied or numbered entries, ascending
	pending []pendingUp           // this site's Ups not yet seen coming down, local order
	highest map[originKey]uint64  // per origin, the highest seq delivered
	conf    DomainConf            // the last domain configuration applied
	active  bool                  // this node is the active gateway

	// Active gateway only: the federation side.
	fed      *fedState
	injected localring.DomainOrder // highest Down this term injected (or applied)
	injConf  localring.ConfKind    // kind of the last configuration entry injected (or applied)

	out   Ready
	stats Stats
}

// fedState is the active gateway's view of the current federation
// configuration.
type fedState struct {
	ring    uint64      // RingID.Seq of the regular configuration
	id      string      // its configuration id
	members []string    // sites
	regular bool        // in the regular configuration (not transitional)
	trans   *DomainConf // the transitional configuration, injected at the next regular

	syncs  map[string]localring.DomainOrder
	synced bool
	held   []*fedUp // messages delivered before every member's Sync
	next   uint64   // the last Seq numbered

	// Catching up: Downs numbered in this ring wait until the catch-up
	// answer (or the refusal) for this site was applied.
	waiting bool
	queued  []Entry
}

// New returns a bridge for one node and one domain.
func New(cfg Config) (*Site, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Site{cfg: cfg, highest: make(map[originKey]uint64)}, nil
}

// Ready returns and clears what the driver must do.
func (s *Site) Ready() Ready {
	r := s.out
	s.out = Ready{}
	return r
}

// Stats returns the counters.
func (s *Site) Stats() Stats { return s.stats }

// Last returns the position of the last Down this node applied.
func (s *Site) Last() localring.DomainOrder { return s.last }

// Pending returns how many of its site's Ups this node holds that have not
// come down yet.
func (s *Site) Pending() int { return len(s.pending) }

// Conf returns the domain configuration this node applied last (zero
// before the first).
func (s *Site) Conf() DomainConf { return s.conf }

// Active reports whether this node is the site's active gateway.
func (s *Site) Active() bool { return s.active }

// LocalInstall is a local ring configuration; active says whether this
// node is the site's active gateway in it (federation.ActiveGateway over
// the configuration's members; false for transitional configurations). A
// node that becomes active starts a gateway term: its federation member
// must join the federation ring, and Pending Ups are submitted once more
// at its first federation configuration.
func (s *Site) LocalInstall(c *localring.Configuration, active bool) {
	if c.Kind != localring.Regular {
		return
	}
	if active && !s.active {
		s.active = true
		s.fed = nil
		s.injected, s.injConf = s.last, s.conf.Kind
		for i := range s.pending {
			s.pending[i].sent = false
		}
		return
	}
	if !active && s.active {
		s.active = false
		s.fed = nil
	}
}

// LocalDeliver is a local ring delivery, in local order. Messages that are
// not bridge messages are not its business and are ignored.
func (s *Site) LocalDeliver(m *localring.Message) {
	if len(m.Payload) == 0 || (m.Payload[0] != kindUp && m.Payload[0] != kindDown) {
		return
	}
	u, d, err := decodeLocal(m.Payload)
	if err != nil {
		s.stats.Malformed++
		return
	}
	if u != nil {
		s.addPending(fedUp{origin: Origin{Site: s.cfg.Site, ID: m.ID}, svc: u.svc, payload: u.payload})
		return
	}
	s.apply(d)
}

func (s *Site) addPending(u fedUp) {
	if len(s.pending) >= s.cfg.MaxPending {
		s.pending = s.pending[1:]
		s.stats.PendingDropped++
	}
	s.pending = append(s.pending, pendingUp{fedUp: u})
	s.submit(&s.pending[len(s.pending)-1])
}

// submit hands an Up to the federation ring, once per gateway term, while
// the active gateway is in a regular federation configuration.
func (s *Site) submit(p *pendingUp) {
	if s.active && s.fed != nil && s.fed.regular && !p.sent {
		p.sent = true
		s.out.Fed = append(s.out.Fed, encodeFedUp(&p.fedUp))
	}
}

// apply applies a Down at this node: the one place where the domain's
// stream is produced.
func (s *Site) apply(e *Entry) {
	if !s.last.Less(e.Pos) {
		s.stats.Stale++
		return
	}
	s.last = e.Pos
	s.stats.Applied++
	s.remember(*e)
	switch e.Kind {
	case EntryConfig:
		s.conf = e.Conf
		s.out.Stream = append(s.out.Stream, *e)
	case EntryMessage:
		k := originKey{e.Origin.Site, e.Origin.ID.Sender, e.Origin.ID.Inc}
		if e.Origin.Site == s.cfg.Site {
			s.pending = slices.DeleteFunc(s.pending, func(p pendingUp) bool {
				return p.origin.ID.Sender == e.Origin.ID.Sender && p.origin.ID.Inc == e.Origin.ID.Inc && p.origin.ID.Seq <= e.Origin.ID.Seq
			})
		}
		if h, ok := s.highest[k]; ok && e.Origin.ID.Seq <= h {
			s.stats.Duplicates++
			return
		}
		s.highest[k] = e.Origin.ID.Seq
		if e.Origin.Site == s.cfg.Site && e.Origin.ID.Sender == s.cfg.Node {
			s.out.Stream = append(s.out.Stream, Entry{Kind: EntrySend, Origin: e.Origin, Svc: e.Svc, Payload: e.Payload, Conf: s.conf})
		}
		s.out.Stream = append(s.out.Stream, *e)
	}
}

// remember appends e to the bounded log if it is past the log's end.
func (s *Site) remember(e Entry) {
	if n := len(s.log); n > 0 && !s.log[n-1].Pos.Less(e.Pos) {
		return
	}
	if len(s.log) >= s.cfg.LogEntries {
		s.log = slices.Delete(s.log, 0, len(s.log)-s.cfg.LogEntries+1)
	}
	s.log = append(s.log, e)
}

// inject sends a numbered entry down to the site, holding it while the
// site still catches up.
func (s *Site) inject(e Entry) {
	if s.fed != nil && s.fed.waiting {
		s.fed.queued = append(s.fed.queued, e)
		return
	}
	if !s.injected.Less(e.Pos) {
		return
	}
	s.injected = e.Pos
	if e.Kind == EntryConfig {
		s.injConf = e.Conf.Kind
	}
	s.remember(e)
	s.out.Local = append(s.out.Local, encodeDown(&e))
}

// FedInstall is a federation ring configuration, at the active gateway.
func (s *Site) FedInstall(c *localring.Configuration) {
	if !s.active {
		return
	}
	sites := c.MemberIDs()
	slices.Sort(sites)
	if c.Kind == localring.Transitional {
		// The domain's transitional configuration follows the messages the
		// federation delivers in its transitional configuration: those
		// were sent in the regular one, and every site that moves on with
		// this one delivers them there too.
		if f := s.fed; f != nil {
			s.settle()
			f.regular = false
			f.trans = &DomainConf{ID: c.ID, Kind: localring.Transitional, Sites: sites}
		}
		return
	}
	if f := s.fed; f != nil && f.trans != nil {
		// Numbered with the new ring: two components of a federation that
		// split number their transitional configurations alike, and a
		// catch-up must tell them apart.
		f.next++
		s.inject(Entry{Pos: localring.DomainOrder{Seq: f.next, Ring: c.Ring.Seq}, Kind: EntryConfig, Conf: *f.trans})
		f.trans = nil
	}
	next := s.injected.Seq
	if s.fed != nil && s.fed.next > next {
		next = s.fed.next
	}
	s.fed = &fedState{ring: c.Ring.Seq, id: c.ID, members: sites, regular: true,
		syncs: make(map[string]localring.DomainOrder), next: next}
	s.out.Fed = append(s.out.Fed, encodeSync(&syncMsg{site: s.cfg.Site, ring: c.Ring.Seq, last: s.injected}))
	for i := range s.pending {
		if p := &s.pending[i]; !p.sent {
			s.stats.Resubmitted++
			s.submit(p)
		}
	}
}

// FedDeliver is a federation ring delivery, at the active gateway.
func (s *Site) FedDeliver(m *localring.Message) {
	if !s.active || s.fed == nil {
		return
	}
	x, err := decodeFed(m.Payload)
	if err != nil {
		s.stats.Malformed++
		return
	}
	f := s.fed
	switch x := x.(type) {
	case *syncMsg:
		if f.synced || x.ring != f.ring || !slices.Contains(f.members, x.site) {
			return
		}
		f.syncs[x.site] = x.last
		if len(f.syncs) == len(f.members) {
			s.settle()
		}
	case *fedUp:
		if !f.synced {
			f.held = append(f.held, x)
			return
		}
		s.number(x)
	case *catchUp:
		if x.to != s.cfg.Site || !f.waiting || x.from != s.injected {
			return
		}
		s.caughtUp(x)
	}
}

func (s *Site) number(u *fedUp) {
	f := s.fed
	f.next++
	s.inject(Entry{Pos: localring.DomainOrder{Seq: f.next, Ring: f.ring}, Kind: EntryMessage,
		Origin: u.origin, Svc: u.svc, Payload: u.payload})
}

// settle ends the Sync phase of a regular federation configuration (every
// member's Sync delivered, or the ring ending first): the domain's
// numbering continues after base, the highest position any member's Sync
// named, the regular configuration is the next entry, then the messages
// held; and the lowest-id site that holds base answers every member
// behind it. A ring that ends before any Sync was delivered has delivered
// no message either (a gateway's messages follow its Sync): its members
// number its regular and transitional configurations after the highest
// position they numbered themselves, the same at members that come from
// one earlier configuration (see the package comment for the others).
func (s *Site) settle() {
	f := s.fed
	if f.synced {
		return
	}
	f.synced = true
	if len(f.syncs) > 0 {
		s.settleSyncs()
	}
	f.next++
	s.inject(Entry{Pos: localring.DomainOrder{Seq: f.next, Ring: f.ring}, Kind: EntryConfig,
		Conf: DomainConf{ID: f.id, Kind: localring.Regular, Sites: f.members}})
	for _, u := range f.held {
		s.number(u)
	}
	f.held = nil
}

// settleSyncs continues the numbering after the highest position in the
// Syncs, and has this site wait for its catch-up or answer the others'.
func (s *Site) settleSyncs() {
	f := s.fed
	var base localring.DomainOrder
	for _, p := range f.syncs {
		if base.Less(p) {
			base = p
		}
	}
	f.next = base.Seq
	if s.injected.Less(base) && !s.injected.IsZero() {
		f.waiting = true
	} else if s.injected.Less(base) {
		// A site that never applied anything has nothing to catch up.
		s.injected = base
	}
	var answerer string
	for _, site := range f.members {
		if f.syncs[site] == base {
			answerer = site
			break
		}
	}
	if answerer == s.cfg.Site {
		for _, site := range f.members {
			p, ok := f.syncs[site]
			if ok && p.Less(base) && !p.IsZero() {
				s.out.Fed = append(s.out.Fed, encodeCatchUp(s.answer(site, p, base)))
			}
		}
	}
}

// answer builds the catch-up of site from its last position to base: the
// log's entries after from if the log holds from itself (then the two
// sites share the history up to it), else a refusal.
func (s *Site) answer(site string, from, base localring.DomainOrder) *catchUp {
	c := &catchUp{to: site, from: from}
	i, found := slices.BinarySearchFunc(s.log, from, func(e Entry, p localring.DomainOrder) int { return e.Pos.Compare(p) })
	if !found {
		c.gap = true
		if len(s.log) == 0 || from.Less(s.log[0].Pos) {
			s.stats.BeyondLog++
		} else {
			s.stats.Diverged++
		}
		return c
	}
	for _, e := range s.log[i+1:] {
		if base.Less(e.Pos) {
			break
		}
		c.entries = append(c.entries, e)
	}
	return c
}

// caughtUp applies a catch-up answer at the gateway that asked: the
// entries of configurations this site was still a member of are injected;
// at the first configuration without it (or at once on a refusal) the site
// installs a transitional configuration of its own, and then the numbered
// entries of the new ring follow.
func (s *Site) caughtUp(c *catchUp) {
	f := s.fed
	f.waiting = false
	if c.gap {
		s.stats.Gaps++
	} else {
		s.stats.CatchUps++
	}
	trans := localring.DomainOrder{}
	if !c.gap {
		for _, e := range c.entries {
			if e.Kind == EntryConfig && !slices.Contains(e.Conf.Sites, s.cfg.Site) {
				trans = e.Pos
				break
			}
			s.inject(e)
		}
	}
	if trans.IsZero() {
		// No configuration without this site in the answer: the site
		// leaves its old configuration just before the new ring's.
		if len(f.queued) > 0 {
			q := f.queued[0].Pos
			trans = localring.DomainOrder{Seq: q.Seq - 1, Ring: q.Ring}
		}
	}
	// A site that came through the federation's own transitional
	// configuration (a partition that merges) has installed it already.
	if s.injected.Less(trans) && s.injConf == localring.Regular {
		s.inject(Entry{Pos: trans, Kind: EntryConfig, Conf: DomainConf{
			ID: transID(s.cfg.Site, f.id, s.conf.ID), Kind: localring.Transitional, Sites: []string{s.cfg.Site}}})
	}
	q := f.queued
	f.queued = nil
	for _, e := range q {
		s.inject(e)
	}
}

// transID names the transitional configuration a site installs alone
// between its old regular configuration old and the new one next:
// "site:<SITE>:t:<next ring>/<old ring>". It is not in the rings'
// convention on purpose: a site that came from the same old ring through
// the federation's own transitional configuration has that one's id, with
// other members.
func transID(site, next, old string) string {
	return "site:" + site + ":t:" + strings.TrimPrefix(next, "r:") + "/" + strings.TrimPrefix(old, "r:")
}
