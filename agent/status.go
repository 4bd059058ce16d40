package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// Health is the agent's health as `atoll status` reports it; its value is
// the command's exit status (which is 3 when no agent answers).
type Health int

// Health values.
const (
	// Healthy: operational in a ring with every configured node of the
	// site.
	Healthy Health = 0
	// Degraded: operational in a ring that lacks some configured nodes.
	Degraded Health = 1
	// Down: not in a ring (starting, forming a ring, stopped).
	Down Health = 2
)

func (h Health) String() string {
	switch h {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	case Down:
		return "down"
	}
	return "health(" + strconv.Itoa(int(h)) + ")"
}

// MarshalText encodes the health as its name.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a health name.
func (h *Health) UnmarshalText(b []byte) error {
	for _, v := range []Health{Healthy, Degraded, Down} {
		if v.String() == string(b) {
			*h = v
			return nil
		}
	}
	return fmt.Errorf("agent: unknown health %q: want healthy, degraded or down", b)
}

// Status is a snapshot of an agent, as Agent.Status and the admin API's
// /status return it.
type Status struct {
	Node        string `json:"node"`
	Site        string `json:"site"`
	Cluster     string `json:"cluster"`
	Incarnation uint64 `json:"incarnation"`
	// State is starting, gather, commit, recovery, operational or stopped.
	State  string `json:"state"`
	Health Health `json:"health"`
	// Reason explains a health other than healthy, for people.
	Reason string `json:"reason,omitempty"`
	// Ring is the id of the installed regular configuration, empty before
	// the first ring formed.
	Ring string `json:"ring,omitempty"`
	// RingSince is when this node installed Ring (wall clock).
	RingSince time.Time `json:"ring_since,omitzero"`
	// Members are the site's configured nodes and any other ring member.
	Members []MemberStatus `json:"members"`
	// Missing lists the configured nodes that are not in the ring.
	Missing   []string  `json:"missing,omitempty"`
	Transport string    `json:"transport"`
	Security  string    `json:"security"`
	Started   time.Time `json:"started,omitzero"`
	// Config is the effective configuration.
	Config Effective `json:"config"`
	// TokenRotation is the distribution of the token's rotation times
	// while operational (localring.Stats.Rotation, in the buckets of
	// localring.RotationBounds).
	TokenRotation localring.Histogram `json:"token_rotation"`
	Counters      Counters            `json:"counters"`
	Load          Load                `json:"load"`
	// ClientLimits are the bounds of the client sessions' queues.
	ClientLimits ClientLimits `json:"client_limits"`
	// Federation are the federation ring members this node runs as its
	// site's active gateway (none when it is not active).
	Federation []gateway.Stats `json:"federation,omitempty"`
	// PlanHash identifies the topology plan the agent runs (PlanHash):
	// every node of the cluster should show the same.
	PlanHash string `json:"plan_hash,omitempty"`
	// Domains are the federation domains of the node's site, with this
	// node's role in each.
	Domains []DomainStatus `json:"domains,omitempty"`
}

// ClientLimits are the agent's bounds of its client sessions' queues
// (Config, docs/PROTOCOL.md "Back-pressure and flow control").
type ClientLimits struct {
	// WindowMsgs and WindowBytes: each session's flow-control window.
	WindowMsgs  int `json:"window_msgs"`
	WindowBytes int `json:"window_bytes"`
	// SendQueueMsgs and SendQueueBytes bound the client messages waiting
	// for the ring (Config.SendQueueVisits token visits' worth, of the
	// visits the ring lets this node send now: they shrink while other
	// nodes send).
	SendQueueMsgs  int `json:"send_queue_msgs"`
	SendQueueBytes int `json:"send_queue_bytes"`
	// QueueFrames and QueueBytes bound each session's queue of frames to
	// write; SlowGrace is how long it may stay over them.
	QueueFrames int           `json:"queue_frames"`
	QueueBytes  int           `json:"queue_bytes"`
	SlowGrace   time.Duration `json:"slow_grace_ns"`
}

// MemberStatus is one node as this agent sees it.
type MemberStatus struct {
	ID string `json:"id"`
	// Incarnation is its incarnation in the ring, or the last one heard.
	Incarnation uint64 `json:"incarnation,omitempty"`
	// Address is where its authenticated packets come from.
	Address string `json:"address,omitempty"`
	InRing  bool   `json:"in_ring"`
	Self    bool   `json:"self,omitempty"`
	// Configured is false for a ring member the topology file does not
	// list in this site.
	Configured bool `json:"configured"`
	// LastHeard is when this node last heard of it (wall clock): its
	// last authenticated packet or, for a member of the operational ring,
	// the last packet of the ring (on an idle ring, the token from this
	// node's predecessor, which every member passed on within one
	// rotation), whichever is later. Zero for this node and for nodes
	// never heard.
	LastHeard time.Time `json:"last_heard,omitzero"`
	// HeardVia says how: "packet" (its own) or "ring" (a later packet of
	// the ring it is a member of).
	HeardVia string `json:"heard_via,omitempty"`
}

// Counters are the agent's counters since it started; they only grow,
// except Pending and Queued.
type Counters struct {
	PacketsIn          uint64 `json:"packets_in"`
	PacketsOut         uint64 `json:"packets_out"`
	Malformed          uint64 `json:"malformed"`
	ForeignRing        uint64 `json:"foreign_ring"`
	Retransmits        uint64 `json:"retransmits"`
	RetransmitRequests uint64 `json:"retransmit_requests"`
	TokenRetransmits   uint64 `json:"token_retransmits"`
	// DuplicateTokens counts tokens this node dropped as copies of one it
	// had: after its predecessor sent a token again (TokenRetransmits
	// there), a duplicate here says the first copy was late, not lost.
	DuplicateTokens   uint64 `json:"duplicate_tokens"`
	TokenLosses       uint64 `json:"token_losses"`
	Gathers           uint64 `json:"gathers"`
	RingsInstalled    uint64 `json:"rings_installed"`
	MessagesSent      uint64 `json:"messages_sent"`
	MessagesDelivered uint64 `json:"messages_delivered"`
	// RingEvictions counts members this node saw taken out of the ring for
	// failing to receive multicasts or to be received (localring
	// EventEvict); StallHolds, rotations it slowed down meanwhile.
	RingEvictions uint64 `json:"ring_evictions"`
	StallHolds    uint64 `json:"stall_holds"`
	// RingReadmissions counts members taken out as one end of a cut link
	// and let back in before their quarantine ran out, as the link healed
	// (localring EventReadmit).
	RingReadmissions uint64 `json:"ring_readmissions"`
	// BusyHolds counts the tokens this node, as the representative of a
	// lightly loaded ring, kept for a fuller rotation
	// (localring.Config.BusyRotation).
	BusyHolds uint64 `json:"busy_holds"`

	Submitted    uint64 `json:"submitted"`
	Backpressure uint64 `json:"backpressure"`
	LoadSent     uint64 `json:"load_submitted"`
	LoadDropped  uint64 `json:"load_dropped"`
	Pending      int    `json:"pending"`
	Queued       int    `json:"queued"`
	Evicted      uint64 `json:"subscribers_evicted"`
	// RingRefused counts messages of the agent's own layers (groups,
	// federation bridges) that the local ring refused for good (too large
	// for it, say) and that were dropped; anything but 0 is a bug, logged
	// as an error with the message's class and size.
	RingRefused uint64 `json:"ring_refused"`

	Sealed         uint64 `json:"sealed"`
	Opened         uint64 `json:"opened"`
	RejectWrongKey uint64 `json:"rejected_wrong_key"`
	RejectMismatch uint64 `json:"rejected_mismatch"`
	RejectAuth     uint64 `json:"rejected_auth"`
	RejectReplay   uint64 `json:"rejected_replay"`
	RejectOther    uint64 `json:"rejected_other"`
	UnknownSender  uint64 `json:"unknown_sender"`

	RecvTruncated uint64 `json:"recv_truncated"`
	RecvErrors    uint64 `json:"recv_errors"`
	SendErrors    uint64 `json:"send_errors"`

	// Client sessions (docs/PROTOCOL.md): open now, accepted, evicted for
	// not reading, warned, and ended for breaking the protocol.
	Clients              int    `json:"clients"`
	ClientsAccepted      uint64 `json:"clients_accepted"`
	ClientsEvicted       uint64 `json:"clients_evicted"`
	ClientWarnings       uint64 `json:"client_warnings"`
	ClientProtocolErrors uint64 `json:"client_protocol_errors"`
	// ClientsHeld counts the group loop's passes that held the local clients'
	// messages back because a local client that reads had more than the
	// send queue's bounds waiting for it.
	ClientsHeld uint64 `json:"clients_held"`

	// The group layer (groups.Stats).
	GroupDelivered uint64 `json:"group_messages_delivered"`
	GroupDenied    uint64 `json:"group_messages_denied"`
	GroupViews     uint64 `json:"group_views"`
	GroupResent    uint64 `json:"group_messages_resent"`
	GroupPending   int    `json:"group_pending"`

	// TraceHolds counts the times this node held its new ring messages
	// back until its group loop had written the trace lines of the local
	// ring's events before them (with a trace only: a send line is in
	// the file before the message leaves); TraceHeld is their total time.
	TraceHolds uint64        `json:"trace_holds"`
	TraceHeld  time.Duration `json:"trace_held_ns"`
}

// Rejected is the number of packets dropped before the ring saw them
// because they failed to authenticate or came from an unknown node.
func (c Counters) Rejected() uint64 {
	return c.RejectWrongKey + c.RejectMismatch + c.RejectAuth + c.RejectReplay + c.RejectOther + c.UnknownSender
}

// snapshot is what the driver's loop (the ring's part) and the group loop
// (the groups' and domains') publish for Status after every pass.
type snapshot struct {
	state     string
	conf      *localring.Configuration
	since     time.Time
	stats     localring.Stats
	pending   int
	load      Load
	loadSent  uint64
	loadDrops uint64
	groups    groups.Stats
	// glayerPending is the group layer's Pending (group loop): its
	// requests and messages not yet sent by the ring, those it handed to
	// the ring and the ring has not taken yet (gr.out) included.
	glayerPending int
	// domains are the domains' parts (a.doms' order): the group loop
	// overwrites them in place, Status copies them.
	domains []domainSnap
}

// updateSnapshot publishes the driver's view for Status: the ring's.
func (a *Agent) updateSnapshot(ls *loopState, installed bool) {
	a.statMu.Lock()
	defer a.statMu.Unlock()
	s := &a.snap
	s.state = a.node.State()
	if installed {
		s.conf = ls.conf
		s.since = time.Now()
	}
	s.stats = a.node.Stats()
	s.pending = a.node.Pending()
	s.load = ls.load.cfg
	s.loadSent = ls.loadSubs
	s.loadDrops = ls.load.dropped
}

// updateGroupSnapshot publishes the group loop's view for Status.
func (a *Agent) updateGroupSnapshot() {
	gs := a.g.Stats()
	pending := a.g.Pending()
	gl := &a.gl
	if len(gl.domSnaps) != len(a.doms) {
		gl.domSnaps = make([]domainSnap, len(a.doms))
	}
	for i, dl := range a.doms {
		a.domainSnapshot(dl, gl.conf, &gl.domSnaps[i])
	}
	a.statMu.Lock()
	defer a.statMu.Unlock()
	s := &a.snap
	s.groups, s.glayerPending = gs, pending
	if len(a.doms) > 0 {
		if len(s.domains) != len(a.doms) {
			s.domains = make([]domainSnap, len(a.doms))
		}
		copy(s.domains, gl.domSnaps)
	}
}

// Status returns the agent's state, ring, members, health and counters.
func (a *Agent) Status() Status {
	a.statMu.Lock()
	snap := a.snap
	started := a.started
	snap.domains = slices.Clone(snap.domains) // the group loop overwrites them in place
	a.statMu.Unlock()
	var domains []DomainStatus
	if len(snap.domains) > 0 {
		domains = make([]DomainStatus, len(snap.domains))
		for i := range snap.domains {
			domains[i] = snap.domains[i].status()
		}
	}

	st := Status{
		Node: a.cfg.Node, Site: a.cfg.Site, Cluster: a.cfg.Cluster, Incarnation: a.self.Inc,
		State: snap.state, Started: started,
		Transport: a.transportString(), Security: a.securityString(),
		Load: snap.load, Config: a.effective(),
		Federation: a.fed.stats(),
		Domains:    domains,
	}
	if f := a.cfg.Federation; f != nil && f.Plan != nil {
		st.PlanHash = PlanHash(f.Plan)
	}
	inRing := map[string]localring.Member{}
	if snap.conf != nil {
		st.Ring, st.RingSince = snap.conf.ID, snap.since
		for _, m := range snap.conf.Members {
			inRing[string(m.ID)] = m
		}
	}
	for _, id := range a.cfg.Nodes {
		ms := MemberStatus{ID: id, Configured: true, Self: id == a.cfg.Node}
		if m, ok := inRing[id]; ok {
			ms.InRing, ms.Incarnation = true, m.Inc
		} else {
			st.Missing = append(st.Missing, id)
		}
		if ms.Self {
			ms.Incarnation = a.self.Inc
			ms.Address = a.tr.LocalAddr().String()
		} else if p, ok := a.st.Peer(localring.NodeID(id)); ok {
			if p.Addr.IsValid() {
				ms.Address = p.Addr.String()
			}
			if ms.Incarnation == 0 {
				ms.Incarnation = p.Incarnation
			}
			if !p.Heard.IsZero() {
				ms.LastHeard, ms.HeardVia = p.Heard, "packet"
			}
		}
		st.Members = append(st.Members, ms)
	}
	if snap.state == "operational" && snap.conf != nil {
		// The ring's packets (the token above all) pass every member in
		// turn: a packet from any member proves the others alive within a
		// rotation, else the token would have been lost and the ring left
		// operational.
		var ringHeard time.Time
		for _, ms := range st.Members {
			if ms.InRing && ms.LastHeard.After(ringHeard) {
				ringHeard = ms.LastHeard
			}
		}
		for i := range st.Members {
			ms := &st.Members[i]
			if ms.InRing && !ms.Self && ringHeard.After(ms.LastHeard) {
				ms.LastHeard, ms.HeardVia = ringHeard, "ring"
			}
		}
	}
	for id, m := range inRing {
		if !slices.Contains(a.cfg.Nodes, id) {
			st.Members = append(st.Members, MemberStatus{ID: id, Incarnation: m.Inc, InRing: true})
		}
	}

	switch {
	case snap.state != "operational" || snap.conf == nil:
		st.Health, st.Reason = Down, "not in a ring (state "+snap.state+")"
		if snap.conf == nil {
			st.Missing = nil
		}
	case len(st.Missing) > 0:
		st.Health, st.Reason = Degraded, fmt.Sprintf("the ring lacks %d of the %d configured nodes", len(st.Missing), len(a.cfg.Nodes))
	default:
		st.Health = Healthy
	}

	r := snap.stats
	st.TokenRotation = r.Rotation
	c := &st.Counters
	c.PacketsIn, c.PacketsOut, c.Malformed, c.ForeignRing = r.PacketsIn, r.PacketsOut, r.Malformed, r.ForeignRing
	c.Retransmits, c.RetransmitRequests, c.TokenRetransmits = r.Retransmits, r.RetransmitRequests, r.TokenRetransmits
	c.DuplicateTokens, c.TokenLosses, c.Gathers, c.RingsInstalled = r.DuplicateTokens, r.TokenLosses, r.Gathers, r.RingsInstalled
	c.MessagesSent, c.MessagesDelivered = r.MessagesSent, r.MessagesDelivered
	c.RingEvictions, c.StallHolds, c.BusyHolds = r.Evictions, r.StallHolds, r.BusyHolds
	c.RingReadmissions = r.Readmissions
	c.Submitted, c.Backpressure, c.RingRefused = a.n.submitted.Load(), a.n.backpressure.Load(), a.n.ringRefused.Load()
	c.LoadSent, c.LoadDropped = snap.loadSent, snap.loadDrops
	c.Pending, c.Queued = snap.pending, a.queued()
	c.Evicted = a.n.evicted.Load()
	c.TraceHolds, c.TraceHeld = a.n.traceHolds.Load(), time.Duration(a.n.traceHeld.Load())
	ss := a.sealer.Stats()
	c.Sealed, c.Opened = ss.Sealed, ss.Opened
	c.RejectWrongKey, c.RejectMismatch, c.RejectAuth, c.RejectReplay = ss.WrongKey, ss.Mismatch, ss.AuthFailed, ss.Replayed
	c.RejectOther = ss.Truncated + ss.BadVersion
	sts, ds := a.st.Stats(), a.d.Stats()
	c.UnknownSender = sts.UnknownSender
	c.RecvTruncated, c.RecvErrors, c.SendErrors = sts.Truncated, ds.RecvErrors, ds.SendErrors
	c.Clients = a.cs.count()
	sqMsgs, sqBytes := a.sendQueueLimits(int(a.visitShare.Load()), int(a.visitMsgs.Load()))
	st.ClientLimits = ClientLimits{WindowMsgs: a.cfg.ClientWindowMsgs, WindowBytes: a.cfg.ClientWindowBytes,
		SendQueueMsgs: sqMsgs, SendQueueBytes: sqBytes,
		QueueFrames: a.cfg.ClientQueueFrames, QueueBytes: a.cfg.ClientQueueBytes, SlowGrace: a.cfg.ClientSlowGrace}
	c.ClientsAccepted, c.ClientsEvicted = a.cs.n.accepted.Load(), a.cs.n.evicted.Load()
	c.ClientWarnings, c.ClientProtocolErrors = a.cs.n.warnings.Load(), a.cs.n.protocolErrors.Load()
	c.ClientsHeld = a.cs.n.held.Load()
	gs := snap.groups
	c.GroupDelivered, c.GroupDenied, c.GroupViews, c.GroupResent = gs.Delivered, gs.Denied, gs.Views, gs.Resent
	c.GroupPending = snap.glayerPending
	if a.udp != nil {
		us := a.udp.Stats()
		c.RecvTruncated += us.RecvTruncated
		c.RecvErrors += us.RecvErrors
	}
	return st
}

// String formats the status for people, as `atoll status` prints it.
func (s *Status) String() string {
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

func hex32(v uint32) string { return fmt.Sprintf("%08x", v) }
func hex64(v uint64) string { return fmt.Sprintf("%016x", v) }
func itoa(v uint64) string  { return strconv.FormatUint(v, 10) }
