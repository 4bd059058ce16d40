package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/gateway"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// The introspection API's resources (docs/OPERATIONS.md, "Introspection
// API"): what `atoll status`, `members`, `inspect` and `console` show,
// built here once so that no two tools disagree. Status and RingInfo come
// from the loops' snapshot; groups and clients are read on the group loop
// itself (onLoop), which owns them.

// RingInfo is the local ring as this node sees it (/v1/ring).
type RingInfo struct {
	Node   string `json:"node"`
	State  string `json:"state"`
	Health Health `json:"health"`
	// ID is the installed regular configuration, empty before the first.
	ID      string         `json:"id,omitempty"`
	Since   time.Time      `json:"since,omitzero"`
	Members []MemberStatus `json:"members"`
	Missing []string       `json:"missing,omitempty"`
	// Rotation is the distribution of the token's rotation times since
	// the agent started; MeanRotation its mean.
	Rotation     localring.Histogram `json:"rotation"`
	MeanRotation Duration            `json:"mean_rotation"`
	// Retransmits: packets this node resent on request, sequence numbers
	// it asked for, token retransmissions.
	Retransmits        uint64      `json:"retransmits"`
	RetransmitRequests uint64      `json:"retransmit_requests"`
	TokenRetransmits   uint64      `json:"token_retransmits"`
	TokenLosses        uint64      `json:"token_losses"`
	RingsInstalled     uint64      `json:"rings_installed"`
	MessagesSent       uint64      `json:"messages_sent"`
	MessagesDelivered  uint64      `json:"messages_delivered"`
	FlowControl        FlowControl `json:"flow_control"`
}

// FlowControl is the ring's flow control and what waits for it.
type FlowControl struct {
	// WindowPackets and MaxPacketsPerVisit are the ring's settings.
	WindowPackets      int `json:"window_packets"`
	MaxPacketsPerVisit int `json:"max_packets_per_visit"`
	// Pending are the messages the ring took and has not sent; Queued
	// those waiting for it to take them (Submit's queue); GroupPending the
	// group layer's, for SendQueueMsgs at most.
	Pending       int `json:"pending"`
	Queued        int `json:"queued"`
	GroupPending  int `json:"group_pending"`
	SendQueueMsgs int `json:"send_queue_msgs"`
	// Backpressure counts Submit's refusals; ClientsHeld the passes that
	// held client requests back for a slow local reader.
	Backpressure uint64 `json:"backpressure"`
	ClientsHeld  uint64 `json:"clients_held"`
	StallHolds   uint64 `json:"stall_holds"`
}

// Ring returns the local ring's view (/v1/ring), from Status.
func (a *Agent) Ring() RingInfo { return ringInfo(a.Status()) }

func ringInfo(st Status) RingInfo {
	c := &st.Counters
	r := RingInfo{Node: st.Node, State: st.State, Health: st.Health, ID: st.Ring, Since: st.RingSince,
		Members: st.Members, Missing: st.Missing, Rotation: st.TokenRotation,
		Retransmits: c.Retransmits, RetransmitRequests: c.RetransmitRequests, TokenRetransmits: c.TokenRetransmits,
		TokenLosses: c.TokenLosses, RingsInstalled: c.RingsInstalled,
		MessagesSent: c.MessagesSent, MessagesDelivered: c.MessagesDelivered,
		FlowControl: FlowControl{
			WindowPackets: st.Config.RingSettings.WindowPackets, MaxPacketsPerVisit: st.Config.RingSettings.MaxPacketsPerVisit,
			Pending: c.Pending, Queued: c.Queued, GroupPending: c.GroupPending, SendQueueMsgs: st.ClientLimits.SendQueueMsgs,
			Backpressure: c.Backpressure, ClientsHeld: c.ClientsHeld, StallHolds: c.StallHolds,
		}}
	if n := st.TokenRotation.Count; n > 0 {
		r.MeanRotation = Duration(st.TokenRotation.Sum / time.Duration(n))
	}
	return r
}

// GroupInfo is one group with members and its current view (/v1/groups).
type GroupInfo struct {
	Name   string `json:"name"`
	ViewID string `json:"view_id"`
	// Transitional is set while the view is a transitional one (a ring
	// change in progress).
	Transitional bool `json:"transitional,omitempty"`
	// Members are "node:client" names, oldest first; LocalMembers counts
	// those that are clients of this agent.
	Members      []string `json:"members"`
	LocalMembers int      `json:"local_members"`
	// Delivered counts the multicasts naming the group that this node
	// delivered since the group last got its first member
	// (groups.GroupStats).
	Delivered uint64 `json:"delivered"`
}

// ClientInfo is one client session of this agent (/v1/clients).
type ClientInfo struct {
	// Name is the client's name at this agent; Member its group member
	// name, "node:client".
	Name   string `json:"name"`
	Member string `json:"member"`
	// Via is unix, tls or local; Peer says who is connected.
	Via  string `json:"via"`
	Peer string `json:"peer,omitempty"`
	// Groups are the groups it joined.
	Groups []string `json:"groups,omitempty"`
	// QueuedFrames and QueuedBytes wait for it to read them; OverSince is
	// when the queue went over its bound (its grace runs), zero while
	// under.
	QueuedFrames int       `json:"queued_frames"`
	QueuedBytes  int       `json:"queued_bytes"`
	OverSince    time.Time `json:"over_since,omitzero"`
	// Backlogged: its queue holds back the local senders.
	Backlogged bool `json:"backlogged,omitempty"`
}

// FederationInfo is the node's part in the federation domains of its
// site (/v1/federation).
type FederationInfo struct {
	Domains []FederationDomain `json:"domains"`
	// Rings are the federation ring members this node runs, as the
	// site's active gateway.
	Rings []gateway.Stats `json:"rings,omitempty"`
}

// FederationDomain is one federation domain the node's site is in.
type FederationDomain struct {
	Name  string   `json:"name"`
	Sites []string `json:"sites"`
	// Gateways are the site's gateway nodes in takeover order; Active is
	// the one that speaks for the site in the current local ring (empty
	// when none is in it).
	Gateways []string `json:"gateways"`
	Active   string   `json:"active,omitempty"`
	// Running says whether this node runs the domain's ring member.
	Running bool `json:"running"`
}

// PlanInfo is the plan the agent runs with (/v1/plan).
type PlanInfo struct {
	// Hash is the SHA-256 of the plan's JSON, in hex: two agents with the
	// same hash run the same plan.
	Hash string `json:"hash"`
	// Domains are the plan's domains with their configuration hashes
	// (topology.Plan.ConfigHash), which their rings' members must share.
	Domains []PlanDomain    `json:"domains"`
	Plan    json.RawMessage `json:"plan"`
}

// PlanDomain is one domain of PlanInfo.
type PlanDomain struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	ConfigHash string `json:"config_hash"`
}

// Errors of the introspection API's manipulations.
var (
	// ErrNotSupported: the agent cannot do what was asked; the text says
	// what to do instead.
	ErrNotSupported = errors.New("not supported")
	// ErrNotFound: no such client, domain or resource.
	ErrNotFound = errors.New("not found")
)

// onLoop runs f on the agent's group loop at its next pass and waits for it. It
// fails when ctx ends first or the agent stops.
func (a *Agent) onLoop(ctx context.Context, f func()) error {
	done := make(chan struct{})
	a.mu.Lock()
	a.calls = append(a.calls, func() { f(); close(done) })
	a.mu.Unlock()
	a.wakeGroups()
	select {
	case <-done:
		return nil
	case <-a.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runLoopCalls runs the calls of onLoop (group loop).
func (a *Agent) runLoopCalls() {
	a.mu.Lock()
	calls := a.calls
	a.calls = nil
	a.mu.Unlock()
	for _, f := range calls {
		f()
	}
}

// Groups returns the groups with members and their views (/v1/groups).
func (a *Agent) Groups(ctx context.Context) ([]GroupInfo, error) {
	var out []GroupInfo
	err := a.onLoop(ctx, func() {
		for _, gs := range a.g.GroupStats() {
			v, _ := a.g.View(gs.Group)
			out = append(out, GroupInfo{Name: gs.Group, ViewID: v.ID, Transitional: v.Transitional, Members: v.Members,
				LocalMembers: gs.LocalMembers, Delivered: gs.Delivered})
		}
	})
	return out, err
}

// Clients returns the agent's registered client sessions, by name
// (/v1/clients).
func (a *Agent) Clients(ctx context.Context) ([]ClientInfo, error) {
	var out []ClientInfo
	err := a.onLoop(ctx, func() {
		for _, s := range a.cs.registered() {
			ci := ClientInfo{Name: s.name, Member: s.member, Via: s.via, Peer: s.peer, Groups: a.g.ClientGroups(s.name)}
			s.mu.Lock()
			ci.QueuedFrames, ci.QueuedBytes, ci.OverSince, ci.Backlogged = s.qFrames, s.qBytes, s.overSince, s.backlog
			s.mu.Unlock()
			out = append(out, ci)
		}
	})
	return out, err
}

// registered returns the registered sessions, sorted by name.
func (cs *clientServer) registered() []*session {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]*session, 0, len(cs.byName))
	for _, s := range cs.byName {
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y *session) int { return strings.Compare(x.name, y.name) })
	return out
}

// EvictClient disconnects the client session of that name at an
// operator's request: it gets a goodbye (code denied) with reason, and its
// memberships end with reason disconnect, as for any client that leaves.
func (a *Agent) EvictClient(name, reason string) error {
	s := a.cs.session(name)
	if s == nil {
		return fmt.Errorf("%w: agent %s has no client named %q; `atoll inspect clients` lists them", ErrNotFound, a.cfg.Node, name)
	}
	if reason == "" {
		reason = "no reason given"
	}
	a.log.Warn("client evicted by an operator", s.attrs("reason", reason)...)
	s.end(cp.CodeDenied, fmt.Sprintf("evicted by an operator of agent %s: %s", a.cfg.Node, reason), true)
	return nil
}

// Federation returns the node's part in its site's federation domains
// (/v1/federation).
func (a *Agent) Federation() FederationInfo {
	st := a.Status()
	info := FederationInfo{Domains: []FederationDomain{}, Rings: st.Federation}
	plan := a.plan()
	if plan == nil {
		return info
	}
	for i := range plan.Domains {
		d := &plan.Domains[i]
		if d.Kind != topology.FederationDomain || !slices.Contains(d.Sites, a.cfg.Site) {
			continue
		}
		fd := FederationDomain{Name: d.Name, Sites: d.Sites, Gateways: []string{}}
		for _, g := range d.Gateways {
			if g.Site == a.cfg.Site {
				fd.Gateways = append(append(fd.Gateways, g.Active), g.Standby...)
			}
		}
		for _, ds := range st.Domains {
			if ds.Domain == d.Name {
				fd.Active = ds.Active
			}
		}
		fd.Running = slices.ContainsFunc(st.Federation, func(s gateway.Stats) bool { return s.Domain == d.Name })
		info.Domains = append(info.Domains, fd)
	}
	return info
}

// plan returns the topology plan the agent was started with, nil without
// one (an agent configured without a topology file).
func (a *Agent) plan() *topology.Plan {
	if a.cfg.Federation == nil {
		return nil
	}
	return a.cfg.Federation.Plan
}

// Plan returns the plan the agent runs with and its hash (/v1/plan).
func (a *Agent) Plan() (PlanInfo, error) {
	p := a.plan()
	if p == nil {
		return PlanInfo{}, fmt.Errorf("%w: agent %s was started without a topology file's plan", ErrNotFound, a.cfg.Node)
	}
	b := p.JSON()
	sum := sha256.Sum256(b)
	info := PlanInfo{Hash: hex.EncodeToString(sum[:]), Plan: b, Domains: []PlanDomain{}}
	for i := range p.Domains {
		d := &p.Domains[i]
		info.Domains = append(info.Domains, PlanDomain{Name: d.Name, Kind: d.Kind.String(), ConfigHash: hex64(p.ConfigHash(d))})
	}
	return info, nil
}

// Events returns the membership events kept whose Seq is above since,
// oldest first (/v1/events).
func (a *Agent) Events(since uint64) []MembershipEvent { return a.evlog.since(since) }

// LogLevel returns the level of the agent's log (Config.LogLevel), and
// false when it cannot be changed.
func (a *Agent) LogLevel() (slog.Level, bool) {
	if a.cfg.LogLevel == nil {
		return 0, false
	}
	return a.cfg.LogLevel.Level(), true
}

// SetLogLevel changes the level of the agent's log (Config.LogLevel).
func (a *Agent) SetLogLevel(l slog.Level) error {
	if a.cfg.LogLevel == nil {
		return fmt.Errorf("%w: agent %s was started without a changeable log level (Config.LogLevel)", ErrNotSupported, a.cfg.Node)
	}
	old := a.cfg.LogLevel.Level()
	a.cfg.LogLevel.Set(l)
	a.log.Warn("log level changed by an operator", "from", old.String(), "to", l.String())
	return nil
}
