package groups

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/atoll-gcs/atoll/localring"
)

// phase is where a Node stands in the ring's configuration changes.
type phase uint8

const (
	phaseStart     phase = iota // before the first configuration
	phaseRegular                // in a regular configuration, group state agreed
	phaseExchange               // in a regular configuration, exchanging group state
	phaseTrans                  // in a transitional configuration after an agreed state
	phaseTransLost              // in a transitional configuration, the exchange unfinished
)

func (p phase) String() string {
	return [...]string{"start", "regular", "exchange", "trans", "trans-unsynced"}[p]
}

// nodeInfo is one ring node (incarnation) with members in some group.
type nodeInfo struct {
	m       localring.Member
	clients map[string]*clientInfo
}

// clientInfo is one client of one node incarnation: a potential member.
type clientInfo struct {
	node   *nodeInfo
	name   string   // the client's name
	full   string   // "node:client"
	groups []*group // groups whose last regular view holds it
	mark   uint64   // scratch for set operations (see Node.nextGen)
}

// member is one member of a group's view.
type member struct {
	c  *clientInfo
	st stamp
}

// group is the state of one group.
type group struct {
	name     string
	members  []member // the last regular view, oldest first
	trans    []member // the transitional view, while hasTrans
	vid      viewID   // the last view's id
	hasTrans bool     // a transitional view came after the last regular one
	nlocal   int32    // members on this node
	acl      *aclState
	mark     uint64
}

func (g *group) cur() []member {
	if g.hasTrans {
		return g.trans
	}
	return g.members
}

func (g *group) has(c *clientInfo) bool {
	for _, m := range g.members {
		if m.c == c {
			return true
		}
	}
	return false
}

type aclState struct {
	acl ACL
	st  stamp
}

// viewID is a view id in compact form; String renders it:
//
//	'r'  <conf>                 the regular view of a configuration change
//	'@'  <conf>@<seq>.<index>   the view a request delivered at that ring position made
//	'+'  <conf>+<k>             the k-th view made by requests applied after a state exchange
//	'~'  <trans>~<hash>         a transitional view: the transitional configuration and a hash of the previous view's id
type viewID struct {
	conf string
	kind byte
	a, b uint64
}

func (v viewID) String() string {
	switch v.kind {
	case 'r':
		return v.conf
	case '@':
		return v.conf + "@" + strconv.FormatUint(v.a, 10) + "." + strconv.FormatUint(v.b, 10)
	case '+':
		return v.conf + "+" + strconv.FormatUint(v.a, 10)
	case '~':
		return fmt.Sprintf("%s~%016x", v.conf, v.a)
	}
	return ""
}

// opViewID names the view a request delivered at order makes in conf.
func opViewID(conf string, order uint64) viewID {
	return viewID{conf: conf, kind: '@', a: (order >> 10) & (1<<30 - 1), b: order & (1<<10 - 1)}
}

// top is a request accepted in a transitional configuration, applied at
// the next regular one.
type top struct {
	origin localring.Member
	op     wireMsg
}

// exchange is a state exchange in progress.
type exchange struct {
	conf    *localring.Configuration
	trans   *localring.Configuration // the transitional configuration before conf, if any
	waiting map[localring.Member]bool
	got     map[localring.Member]*report
	order   uint64 // ring order of the report that completed it
}

// outMsg is a request or message of a local client, from acceptance until
// the ring sends it in a state that delivers it.
type outMsg struct {
	seq    uint64
	svc    localring.Service
	data   []byte
	epoch  uint64   // the epoch it was handed to the ring with
	inRing bool     // handed to the ring, not yet sent
	handed bool     // handed at least once (the ring may hold data)
	msg    *Message // multicast or point-to-point: the EventSent template
}

// Node is the group layer of one agent, as a state machine: it consumes
// its ring node's events with Step, takes client requests (Join, Leave,
// Disconnect, SetACL, Multicast, Send), and produces ring messages to
// submit and events for local clients, collected with Ready. It does no
// I/O, reads no clock and starts no goroutine. A Node is not safe for
// concurrent use; the driver owns it from one goroutine, the one that
// owns the ring node.
type Node struct {
	cfg Config
	me  *nodeInfo

	phase     phase
	reg       *localring.Configuration // the current (or last) regular configuration
	trans     *localring.Configuration // the last transitional configuration
	syncPoint string                   // the configuration of the last state exchange
	epoch     uint64                   // epochOf(syncPoint)

	groups  map[string]*group
	nodes   map[localring.Member]*nodeInfo
	transGs []*group // groups that may have hasTrans set
	forgetQ []*clientInfo
	tops    []top
	exch    *exchange

	out     []*outMsg
	inRing  int
	stale   int // messages in the ring handed with an older epoch
	nextSeq uint64
	intent  map[string]map[string]bool // local client → groups it asked to join

	gen   uint64
	rd    Ready
	stats Stats
}

// New returns a Node that waits for its ring node's first configuration.
func New(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		groups:  make(map[string]*group),
		nodes:   make(map[localring.Member]*nodeInfo),
		intent:  make(map[string]map[string]bool),
		epoch:   epochOf(""),
		nextSeq: 1,
	}
	n.me = n.nodeOf(cfg.Node)
	return n, nil
}

func epochOf(syncPoint string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(syncPoint))
	return h.Sum64()
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func (n *Node) nextGen() uint64 {
	n.gen++
	return n.gen
}

func (n *Node) nodeOf(m localring.Member) *nodeInfo {
	ni := n.nodes[m]
	if ni == nil {
		ni = &nodeInfo{m: m, clients: make(map[string]*clientInfo)}
		n.nodes[m] = ni
	}
	return ni
}

func (n *Node) clientOf(ni *nodeInfo, name string) *clientInfo {
	c := ni.clients[name]
	if c == nil {
		c = &clientInfo{node: ni, name: name, full: MemberName(ni.m.ID, name)}
		ni.clients[name] = c
	}
	return c
}

func (n *Node) lookupClient(m localring.Member, name string) *clientInfo {
	if ni := n.nodes[m]; ni != nil {
		return ni.clients[name]
	}
	return nil
}

// forget drops the queued clients that are in no group, and their nodes
// when that was a node's last client. It runs at the end of each Step: a
// client that leaves one group may join another later in the same step.
func (n *Node) forget() {
	for _, c := range n.forgetQ {
		if len(c.groups) > 0 || c.node.clients[c.name] != c {
			continue
		}
		delete(c.node.clients, c.name)
		if len(c.node.clients) == 0 && c.node != n.me && n.nodes[c.node.m] == c.node {
			delete(n.nodes, c.node.m)
		}
	}
	clear(n.forgetQ)
	n.forgetQ = n.forgetQ[:0]
}

func (n *Node) emit(e Event) { n.rd.Events = append(n.rd.Events, e) }

// Ready returns what the node produced since the last call: ring messages
// to submit and events, in order. The returned slices belong to the
// caller.
func (n *Node) Ready() Ready {
	r := n.rd
	n.rd = Ready{}
	return r
}

// HasReady reports whether Ready would return anything.
func (n *Node) HasReady() bool { return len(n.rd.Submits) > 0 || len(n.rd.Events) > 0 }

// Stats returns the node's counters.
func (n *Node) Stats() Stats { return n.stats }

// Synced reports whether the node is in a regular configuration whose
// group state it has agreed with every member.
func (n *Node) Synced() bool { return n.phase == phaseRegular }

// Pending returns the number of local requests and messages not yet sent
// in a state that delivers them.
func (n *Node) Pending() int { return len(n.out) }

// ---- client requests ----

func (n *Node) requestError(op, client, group string, err error) error {
	return &Error{Op: op, Client: client, Group: group, Err: err}
}

func (n *Node) checkClient(op, client, group string) error {
	if !ValidClientName(client) {
		return n.requestError(op, client, group, fmt.Errorf("%w: client name %q", ErrBadName, client))
	}
	if op != "disconnect" && !ValidGroupName(group) {
		return n.requestError(op, client, group, fmt.Errorf("%w: group name %q", ErrBadName, group))
	}
	return nil
}

// enqueue accepts one encoded request or message for sending.
func (n *Node) enqueue(op, client, group string, w *wireMsg, svc localring.Service, msg *Message) (uint64, error) {
	if len(n.out) >= n.cfg.MaxQueuedMsgs {
		return 0, n.requestError(op, client, group, ErrBackpressure)
	}
	w.seq = n.nextSeq
	data := w.append(make([]byte, 0, 64+len(w.data)))
	if len(data) > n.cfg.MaxMessageBytes {
		return 0, n.requestError(op, client, group, fmt.Errorf("%w: %d bytes with headers, the limit is %d", ErrTooLarge, len(data), n.cfg.MaxMessageBytes))
	}
	n.nextSeq++
	if msg != nil {
		msg.Seq = w.seq
	}
	n.out = append(n.out, &outMsg{seq: w.seq, svc: svc, data: data, msg: msg})
	n.pump()
	return w.seq, nil
}

// Join asks for client (of this node) to join group. The client is a
// member once the view that lists it arrives (EventView); a join the
// group's ACL denies comes back as an EventReject. Joining a group the
// client already asked to join does nothing.
func (n *Node) Join(client, group string) error {
	if err := n.checkClient("join", client, group); err != nil {
		return err
	}
	if n.intent[client][group] {
		return nil
	}
	if _, err := n.enqueue("join", client, group, &wireMsg{kind: kindJoin, client: client, group: group}, localring.Agreed, nil); err != nil {
		return err
	}
	in := n.intent[client]
	if in == nil {
		in = make(map[string]bool)
		n.intent[client] = in
	}
	in[group] = true
	return nil
}

// Leave asks for client to leave group; it fails with ErrNotMember when
// the client did not ask to join it. The leave takes effect with an
// EventLeft for the client and a view without it for the others.
func (n *Node) Leave(client, group string) error {
	if err := n.checkClient("leave", client, group); err != nil {
		return err
	}
	if !n.intent[client][group] {
		return n.requestError("leave", client, group, ErrNotMember)
	}
	if _, err := n.enqueue("leave", client, group, &wireMsg{kind: kindLeave, client: client, group: group}, localring.Agreed, nil); err != nil {
		return err
	}
	delete(n.intent[client], group)
	if len(n.intent[client]) == 0 {
		delete(n.intent, client)
	}
	return nil
}

// Disconnect removes client from every group it is in, with views whose
// reason is ReasonDisconnect: the driver calls it when a client's session
// ends without leaving.
func (n *Node) Disconnect(client string) error {
	if err := n.checkClient("disconnect", client, ""); err != nil {
		return err
	}
	if _, err := n.enqueue("disconnect", client, "", &wireMsg{kind: kindDisconnect, client: client}, localring.Agreed, nil); err != nil {
		return err
	}
	delete(n.intent, client)
	return nil
}

// SetACL replaces group's ACL (creating the group's state if needed). It
// is refused (EventReject with ErrDenied) when the group already has an
// ACL whose Admin list does not allow the client.
func (n *Node) SetACL(client, group string, acl ACL) error {
	if err := n.checkClient("acl", client, group); err != nil {
		return err
	}
	if err := acl.Validate(); err != nil {
		return n.requestError("acl", client, group, err)
	}
	acl = ACL{Join: slices.Clone(acl.Join), Send: slices.Clone(acl.Send), Admin: slices.Clone(acl.Admin)}
	_, err := n.enqueue("acl", client, group, &wireMsg{kind: kindACL, client: client, group: group, acl: acl}, localring.Agreed, nil)
	return err
}

// Multicast sends payload from client to every member of the groups, at
// service level svc, with the application's message type. Each local
// member of any of the groups receives it once, in the ring's total
// order; the client need not be a member (open groups) unless a group's
// ACL restricts senders. It returns the message's sequence number
// (Message.Seq). The payload must not be modified afterwards.
func (n *Node) Multicast(client string, svc localring.Service, msgType uint16, groups []string, payload []byte) (uint64, error) {
	if !ValidClientName(client) {
		err := n.requestError("multicast", client, "", fmt.Errorf("%w: client name %q", ErrBadName, client))
		return 0, err
	}
	if svc < localring.Unreliable || svc > localring.Safe {
		return 0, n.requestError("multicast", client, "", fmt.Errorf("%w %d", ErrBadService, svc))
	}
	if len(groups) == 0 || len(groups) > MaxGroupsPerMessage {
		return 0, n.requestError("multicast", client, "", fmt.Errorf("%w: %d groups, want 1 to %d", ErrBadName, len(groups), MaxGroupsPerMessage))
	}
	gs := make([]string, 0, len(groups))
	for i, g := range groups {
		if !ValidGroupName(g) {
			return 0, n.requestError("multicast", client, g, fmt.Errorf("%w: group name %q", ErrBadName, g))
		}
		if !slices.Contains(groups[:i], g) {
			gs = append(gs, g)
		}
	}
	w := &wireMsg{kind: kindMulticast, client: client, mtype: msgType, groups: gs, data: payload}
	msg := &Message{Sender: MemberName(n.me.m.ID, client), Svc: svc, Type: msgType, Groups: gs, Payload: payload}
	return n.enqueue("multicast", client, "", w, svc, msg)
}

// Send sends payload from client to one member ("node:client"),
// point-to-point, ordered with the client's multicasts (it travels on the
// ring like them). It returns the message's sequence number.
func (n *Node) Send(client, to string, svc localring.Service, msgType uint16, payload []byte) (uint64, error) {
	if !ValidClientName(client) {
		err := n.requestError("send", client, "", fmt.Errorf("%w: client name %q", ErrBadName, client))
		return 0, err
	}
	if _, _, err := SplitMember(to); err != nil {
		return 0, n.requestError("send", client, "", err)
	}
	if svc < localring.Unreliable || svc > localring.Safe {
		return 0, n.requestError("send", client, "", fmt.Errorf("%w %d", ErrBadService, svc))
	}
	w := &wireMsg{kind: kindUnicast, client: client, mtype: msgType, to: to, data: payload}
	msg := &Message{Sender: MemberName(n.me.m.ID, client), Svc: svc, Type: msgType, To: to, Payload: payload}
	return n.enqueue("send", client, "", w, svc, msg)
}

// pump hands queued messages to the ring: only in a regular configuration
// with agreed state, and only once no message handed with an older epoch
// is still in the ring (it will be discarded and must go again first, to
// keep the client's order).
func (n *Node) pump() {
	if n.phase != phaseRegular || n.stale > 0 || n.inRing >= n.cfg.WindowMsgs {
		return
	}
	for _, o := range n.out {
		if n.inRing >= n.cfg.WindowMsgs {
			break
		}
		if o.inRing {
			continue
		}
		if o.handed {
			o.data = bytes.Clone(o.data)
			n.stats.Resent++
		}
		binary.BigEndian.PutUint64(o.data[epochAt:], n.epoch)
		o.epoch, o.inRing, o.handed = n.epoch, true, true
		n.inRing++
		n.rd.Submits = append(n.rd.Submits, Submit{Svc: o.svc, Payload: o.data})
	}
}

// ---- ring events ----

// Step consumes one event of the ring node, in the order the ring node
// produced it. Every event must be given, including those of other ring
// users (ignored and counted as Foreign).
func (n *Node) Step(e localring.Event) {
	switch e.Kind {
	case localring.EventInstall:
		if e.Conf != nil {
			if e.Conf.Kind == localring.Transitional {
				n.onTrans(e.Conf)
			} else {
				n.onRegular(e.Conf)
			}
		}
	case localring.EventSend:
		n.onSend(&e.Msg)
	case localring.EventDeliver:
		n.onDeliver(&e.Msg)
	}
	if len(n.forgetQ) > 0 {
		n.forget()
	}
	n.pump()
}

// onSend decides the fate of one of this node's messages as the ring
// sends it: delivered everywhere when sent in a regular configuration
// with agreed state and the current epoch, discarded everywhere otherwise
// (and then sent again).
func (n *Node) onSend(msg *localring.Message) {
	p := msg.Payload
	if !IsGroupPayload(p) || kind(p[1]) == kindReport || len(p) < epochAt+9 {
		return
	}
	seq, k := binary.Uvarint(p[epochAt+8:])
	if k <= 0 {
		return
	}
	i := slices.IndexFunc(n.out, func(o *outMsg) bool { return o.inRing && o.seq == seq })
	if i < 0 {
		return
	}
	// Messages before it still marked in the ring were never submitted
	// (the driver broke its contract): send them again.
	for _, o := range n.out[:i] {
		if o.inRing {
			n.leaveRing(o)
		}
	}
	o := n.out[i]
	accepted := n.phase == phaseRegular && n.reg != nil && msg.Conf == n.reg.ID && o.epoch == n.epoch
	n.leaveRing(o)
	if !accepted {
		return
	}
	n.out = slices.Delete(n.out, i, i+1)
	if o.msg != nil {
		m := *o.msg
		m.ID, m.Conf = msg.ID, msg.Conf
		n.emit(Event{Kind: EventSent, Msg: &m})
	}
}

func (n *Node) leaveRing(o *outMsg) {
	o.inRing = false
	n.inRing--
	if o.epoch != n.epoch {
		n.stale--
	}
}

// knownGroup returns the stored name of a group the node knows.
func (n *Node) knownGroup(b []byte) (string, bool) {
	if g := n.groups[string(b)]; g != nil {
		return g.name, true
	}
	return "", false
}

func (n *Node) onDeliver(msg *localring.Message) {
	if !IsGroupPayload(msg.Payload) {
		n.stats.Foreign++
		return
	}
	w, err := parseWireIntern(msg.Payload, n.knownGroup)
	if err != nil {
		n.stats.Malformed++
		return
	}
	origin := localring.Member{ID: msg.ID.Sender, Inc: msg.ID.Inc}
	if w.kind == kindReport {
		n.onReport(msg, origin, w.rep)
		return
	}
	if (n.phase != phaseRegular && n.phase != phaseTrans) || w.epoch != n.epoch {
		n.stats.Discarded++
		return
	}
	switch w.kind {
	case kindMulticast:
		n.deliverMulticast(msg, origin, &w)
	case kindUnicast:
		n.deliverUnicast(msg, origin, &w)
	default:
		if n.phase == phaseTrans {
			// Views change only in regular configurations: requests
			// accepted here are applied at the next one.
			n.tops = append(n.tops, top{origin: origin, op: w})
			return
		}
		n.applyOp(origin, &w, opViewID(n.reg.ID, msg.Order), stamp{order: msg.Order})
	}
}

func (n *Node) deliverMulticast(msg *localring.Message, origin localring.Member, w *wireMsg) {
	m := &Message{ID: msg.ID, Seq: w.seq, Sender: MemberName(origin.ID, w.client), Svc: msg.Svc, Type: w.mtype,
		Groups: w.groups, Payload: w.data, Conf: msg.Conf, Order: msg.Order}
	for _, name := range w.groups {
		if g := n.groups[name]; g != nil && g.acl != nil && !g.acl.acl.MaySend(m.Sender) {
			err := &Error{Op: "multicast", Client: w.client, Group: name, Err: ErrDenied}
			n.stats.Denied++
			n.emit(Event{Kind: EventDeliver, Msg: m, Err: err})
			if origin == n.me.m {
				n.emit(Event{Kind: EventReject, Client: w.client, Group: name, Seq: w.seq, Err: err})
			}
			return
		}
	}
	var to []string
	gen := n.nextGen()
	for _, name := range w.groups {
		g := n.groups[name]
		if g == nil || g.nlocal == 0 {
			continue
		}
		for _, mb := range g.cur() {
			if mb.c.node == n.me && mb.c.mark != gen {
				mb.c.mark = gen
				to = append(to, mb.c.name)
			}
		}
	}
	n.stats.Delivered++
	n.emit(Event{Kind: EventDeliver, Msg: m, To: to})
}

func (n *Node) deliverUnicast(msg *localring.Message, origin localring.Member, w *wireMsg) {
	m := &Message{ID: msg.ID, Seq: w.seq, Sender: MemberName(origin.ID, w.client), Svc: msg.Svc, Type: w.mtype,
		To: w.to, Payload: w.data, Conf: msg.Conf, Order: msg.Order}
	var to []string
	if node, client, err := SplitMember(w.to); err == nil && node == n.me.m.ID {
		to = []string{client}
	}
	n.stats.Delivered++
	n.emit(Event{Kind: EventDeliver, Msg: m, To: to})
}

// applyOp applies a join, leave, disconnect or ACL change; vid names the
// views it makes and st stamps the new member or ACL.
func (n *Node) applyOp(origin localring.Member, op *wireMsg, vid viewID, st stamp) {
	n.stats.Ops++
	full := MemberName(origin.ID, op.client)
	switch op.kind {
	case kindJoin:
		g := n.groups[op.group]
		if g != nil && g.acl != nil && !g.acl.acl.MayJoin(full) {
			n.reject(origin, op, ErrDenied)
			return
		}
		c := n.clientOf(n.nodeOf(origin), op.client)
		if g != nil && g.has(c) {
			return
		}
		if g == nil {
			g = n.newGroup(op.group)
		}
		nm := make([]member, len(g.members), len(g.members)+1)
		copy(nm, g.members)
		nm = append(nm, member{c: c, st: st})
		sortMembers(nm)
		n.setRegular(g, nm, vid, ReasonJoin)
	case kindLeave:
		g := n.groups[op.group]
		c := n.lookupClient(origin, op.client)
		if g == nil || c == nil || !g.has(c) {
			n.reject(origin, op, ErrNotMember)
			return
		}
		n.setRegular(g, without(g.members, c), vid, ReasonLeave)
		n.maybeDrop(g)
		if origin == n.me.m {
			n.emit(Event{Kind: EventLeft, Client: op.client, Group: op.group})
		}
	case kindDisconnect:
		c := n.lookupClient(origin, op.client)
		if c == nil {
			return
		}
		gs := slices.Clone(c.groups)
		slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.name, b.name) })
		for _, g := range gs {
			n.setRegular(g, without(g.members, c), vid, ReasonDisconnect)
			n.maybeDrop(g)
		}
	case kindACL:
		g := n.groups[op.group]
		if g != nil && g.acl != nil && !g.acl.acl.MayAdmin(full) {
			n.reject(origin, op, ErrDenied)
			return
		}
		if g == nil {
			g = n.newGroup(op.group)
		}
		g.acl = &aclState{acl: op.acl, st: st}
	}
}

func (n *Node) reject(origin localring.Member, op *wireMsg, err error) {
	if origin != n.me.m {
		return
	}
	if op.kind == kindJoin {
		if in := n.intent[op.client]; in != nil {
			delete(in, op.group)
			if len(in) == 0 {
				delete(n.intent, op.client)
			}
		}
	}
	n.emit(Event{Kind: EventReject, Client: op.client, Group: op.group,
		Err: &Error{Op: op.kind.String(), Client: op.client, Group: op.group, Err: err}})
}

func (n *Node) newGroup(name string) *group {
	g := &group{name: name}
	n.groups[name] = g
	return g
}

// maybeDrop forgets a group with no members, no ACL and no pending view.
func (n *Node) maybeDrop(g *group) {
	if len(g.members) == 0 && g.acl == nil && !g.hasTrans && n.groups[g.name] == g {
		delete(n.groups, g.name)
	}
}

func without(ms []member, c *clientInfo) []member {
	out := make([]member, 0, len(ms))
	for _, m := range ms {
		if m.c != c {
			out = append(out, m)
		}
	}
	return out
}

// sortMembers orders members by join time, ties broken by name.
func sortMembers(ms []member) {
	slices.SortStableFunc(ms, func(a, b member) int {
		switch {
		case a.st.less(b.st):
			return -1
		case b.st.less(a.st):
			return 1
		}
		return strings.Compare(a.c.full, b.c.full)
	})
}

func sameMembers(a, b []member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].c != b[i].c {
			return false
		}
	}
	return true
}

func names(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.c.full
	}
	return out
}

// localNames returns the names of the members on this node.
func (n *Node) localNames(ms []member) []string {
	var out []string
	for _, m := range ms {
		if m.c.node == n.me {
			out = append(out, m.c.name)
		}
	}
	return out
}

// setRegular makes nm (a fresh slice, ordered) the group's regular view
// and emits it. It keeps the clients' group lists up to date.
func (n *Node) setRegular(g *group, nm []member, vid viewID, reason Reason) {
	old := g.members
	gen := n.nextGen()
	for _, m := range nm {
		m.c.mark = gen
	}
	var left []member
	for _, m := range old {
		if m.c.mark != gen {
			left = append(left, m)
		}
	}
	gen = n.nextGen()
	for _, m := range old {
		m.c.mark = gen
	}
	var joined []member
	for _, m := range nm {
		if m.c.mark != gen {
			joined = append(joined, m)
		}
	}
	for _, m := range left {
		m.c.groups = removeGroup(m.c.groups, g)
	}
	for _, m := range joined {
		m.c.groups = append(m.c.groups, g)
	}
	g.members, g.vid, g.hasTrans, g.trans = nm, vid, false, nil
	g.nlocal = 0
	for _, m := range nm {
		if m.c.node == n.me {
			g.nlocal++
		}
	}
	n.stats.Views++
	if g.nlocal > 0 || n.cfg.AllViews {
		v := &View{Group: g.name, ID: vid.String(), Members: names(nm), Joined: names(joined), Reason: reason}
		// Left lists names: a member whose node restarted and that comes
		// back with the same name is not listed as left (it is in Joined).
		for _, m := range left {
			if len(joined) == 0 || !slices.ContainsFunc(joined, func(j member) bool { return j.c.full == m.c.full }) {
				v.Left = append(v.Left, m.c.full)
			}
		}
		n.emit(Event{Kind: EventView, View: v, To: n.localNames(nm)})
	}
	for _, m := range left {
		n.forgetQ = append(n.forgetQ, m.c)
	}
}

func removeGroup(gs []*group, g *group) []*group {
	for i, x := range gs {
		if x == g {
			last := len(gs) - 1
			gs[i] = gs[last]
			gs[last] = nil
			return gs[:last]
		}
	}
	return gs
}

// setTrans emits a transitional view of g with members tm (a subset of
// its current view) for transitional configuration trans.
func (n *Node) setTrans(g *group, trans string, tm []member) {
	g.vid = viewID{conf: trans, kind: '~', a: hash64(g.vid.String())}
	if !g.hasTrans {
		g.hasTrans = true
		n.transGs = append(n.transGs, g)
	}
	g.trans = tm
	n.stats.Views++
	if g.nlocal > 0 || n.cfg.AllViews {
		n.emit(Event{Kind: EventView, To: n.localNames(tm),
			View: &View{Group: g.name, ID: g.vid.String(), Members: names(tm), Reason: ReasonNetwork, Transitional: true}})
	}
}

func memberSet(c *localring.Configuration) map[localring.Member]bool {
	s := make(map[localring.Member]bool, len(c.Members))
	for _, m := range c.Members {
		s[m] = true
	}
	return s
}

func filterNodes(ms []member, in map[localring.Member]bool) []member {
	out := make([]member, 0, len(ms))
	for _, m := range ms {
		if in[m.c.node.m] {
			out = append(out, m)
		}
	}
	return out
}

func sortedGroups(gs []*group) []*group {
	slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.name, b.name) })
	return gs
}

// ---- configuration changes ----

func (n *Node) onTrans(c *localring.Configuration) {
	n.emit(Event{Kind: EventConf, Conf: c})
	n.trans = c
	switch n.phase {
	case phaseExchange, phaseTransLost:
		// The state is not agreed: nothing is delivered here unless the
		// exchange completes with reports still in this configuration.
		n.phase = phaseTransLost
	default:
		n.phase = phaseTrans
		n.transViews(c)
	}
}

// transViews emits a transitional view for every group whose current view
// has members on nodes outside transitional configuration c.
func (n *Node) transViews(c *localring.Configuration) {
	in := memberSet(c)
	gen := n.nextGen()
	var affected []*group
	for m, ni := range n.nodes {
		if in[m] {
			continue
		}
		for _, ci := range ni.clients {
			for _, g := range ci.groups {
				if g.mark != gen {
					g.mark = gen
					affected = append(affected, g)
				}
			}
		}
	}
	for _, g := range sortedGroups(affected) {
		cur := g.cur()
		if tm := filterNodes(cur, in); len(tm) < len(cur) {
			n.setTrans(g, c.ID, tm)
		}
	}
}

func sameMemberList(a, b *localring.Configuration) bool {
	return a != nil && b != nil && slices.Equal(a.Members, b.Members)
}

func (n *Node) onRegular(c *localring.Configuration) {
	n.emit(Event{Kind: EventConf, Conf: c})
	prevT := n.trans
	n.reg = c
	if n.phase == phaseTrans && sameMemberList(prevT, c) {
		// Everyone comes from the same agreed state: the views follow
		// from the configuration alone.
		n.phase = phaseRegular
		n.settle(c)
		return
	}
	n.startExchange(c, prevT)
}

// settle installs the regular views of a configuration change that merged
// nothing, then applies the requests accepted in the transitional
// configuration.
func (n *Node) settle(c *localring.Configuration) {
	in := memberSet(c)
	gs := n.transGs
	n.transGs = nil
	var todo []*group
	for _, g := range gs {
		if g.hasTrans && n.groups[g.name] == g {
			todo = append(todo, g)
		}
	}
	for _, g := range sortedGroups(todo) {
		n.setRegular(g, filterNodes(g.members, in), viewID{conf: c.ID, kind: 'r'}, ReasonNetwork)
		n.maybeDrop(g)
	}
	n.applyTops(c, in, c.Ring.Seq<<40)
}

// applyTops applies the requests accepted in the transitional
// configuration whose senders are in c, stamped after everything before.
func (n *Node) applyTops(c *localring.Configuration, in map[localring.Member]bool, order uint64) {
	k := uint64(0)
	for i := range n.tops {
		t := &n.tops[i]
		if !in[t.origin] {
			continue
		}
		k++
		n.applyOp(t.origin, &t.op, viewID{conf: c.ID, kind: '+', a: k}, stamp{order: order, sub: k})
	}
	n.tops = nil
}

// startExchange begins a state exchange in regular configuration c: every
// member reports its own members, the requests it accepted in the last
// transitional configuration, and the ACLs it knows.
func (n *Node) startExchange(c *localring.Configuration, prevT *localring.Configuration) {
	n.phase = phaseExchange
	x := &exchange{conf: c, trans: prevT, waiting: make(map[localring.Member]bool, len(c.Members)), got: make(map[localring.Member]*report)}
	for _, m := range c.Members {
		x.waiting[m] = true
	}
	n.exch = x
	rep := n.ownReport(c.ID)
	if len(c.Members) == 1 && c.Members[0] == n.me.m {
		x.got[n.me.m] = rep
		delete(x.waiting, n.me.m)
		x.order = c.Ring.Seq << 40
		n.complete()
		return
	}
	for _, part := range n.splitReport(rep) {
		w := wireMsg{kind: kindReport, rep: part}
		n.rd.Submits = append(n.rd.Submits, Submit{Svc: localring.Agreed, Payload: w.append(nil)})
	}
}

// ownReport describes this node's share of the group state.
func (n *Node) ownReport(conf string) *report {
	rep := &report{conf: conf, last: true}
	var gs []*group
	gen := n.nextGen()
	for _, c := range n.me.clients {
		for _, g := range c.groups {
			if g.mark != gen {
				g.mark = gen
				gs = append(gs, g)
			}
		}
	}
	for _, g := range sortedGroups(gs) {
		rg := reportGroup{name: g.name}
		for _, m := range g.members {
			if m.c.node == n.me {
				rg.members = append(rg.members, reportMember{client: m.c.name, st: m.st})
			}
		}
		rep.groups = append(rep.groups, rg)
	}
	for _, t := range n.tops {
		if t.origin == n.me.m {
			rep.ops = append(rep.ops, wireMsg{kind: t.op.kind, client: t.op.client, group: t.op.group, acl: t.op.acl})
		}
	}
	var acls []*group
	for _, g := range n.groups {
		if g.acl != nil {
			acls = append(acls, g)
		}
	}
	for _, g := range sortedGroups(acls) {
		rep.acls = append(rep.acls, reportACL{group: g.name, st: g.acl.st, acl: g.acl.acl})
	}
	return rep
}

// splitReport cuts a report into parts that each fit in one ring message.
func (n *Node) splitReport(rep *report) []*report {
	budget := n.cfg.MaxMessageBytes - 64 - len(rep.conf)
	var parts []*report
	cur := &report{conf: rep.conf}
	size := 0
	flush := func() {
		cur.part = uint64(len(parts))
		parts = append(parts, cur)
		cur = &report{conf: rep.conf}
		size = 0
	}
	for _, g := range rep.groups {
		for i := 0; i < len(g.members); {
			head := 1 + len(g.name) + binary.MaxVarintLen64
			if size > 0 && size+head+reportMemberSize(g.members[i].client) > budget {
				flush()
			}
			rg := reportGroup{name: g.name}
			size += head
			for i < len(g.members) && (len(rg.members) == 0 || size+reportMemberSize(g.members[i].client) <= budget) {
				rg.members = append(rg.members, g.members[i])
				size += reportMemberSize(g.members[i].client)
				i++
			}
			cur.groups = append(cur.groups, rg)
		}
	}
	for _, op := range rep.ops {
		sz := 3 + len(op.client) + len(op.group) + aclSize(&op.acl)
		if size > 0 && size+sz > budget {
			flush()
		}
		cur.ops = append(cur.ops, op)
		size += sz
	}
	for _, a := range rep.acls {
		sz := 1 + len(a.group) + 2*binary.MaxVarintLen64 + aclSize(&a.acl)
		if size > 0 && size+sz > budget {
			flush()
		}
		cur.acls = append(cur.acls, a)
		size += sz
	}
	cur.last = true
	flush()
	return parts
}

func (n *Node) onReport(msg *localring.Message, origin localring.Member, rep *report) {
	x := n.exch
	if x == nil || (n.phase != phaseExchange && n.phase != phaseTransLost) || rep.conf != x.conf.ID || !x.waiting[origin] {
		return
	}
	acc := x.got[origin]
	if acc == nil {
		acc = &report{conf: rep.conf}
		x.got[origin] = acc
	}
	if rep.part != acc.part {
		n.stats.Malformed++ // parts come in order from a correct sender
		return
	}
	acc.part++
	acc.groups = append(acc.groups, rep.groups...)
	acc.ops = append(acc.ops, rep.ops...)
	acc.acls = append(acc.acls, rep.acls...)
	if !rep.last {
		return
	}
	delete(x.waiting, origin)
	if len(x.waiting) == 0 {
		x.order = msg.Order
		n.complete()
	}
}

// complete ends a state exchange: the group state becomes the union of the
// reports (each node is the authority on its own members), every group
// whose view changes gets a regular view named after the exchange's
// configuration (after a transitional one, if it had none since its last
// regular view), and the reported requests are applied after it.
func (n *Node) complete() {
	x := n.exch
	n.exch = nil
	n.stats.Exchanges++
	wasTrans := n.phase == phaseTransLost

	merged := make(map[string][]member)
	aclBest := make(map[string]*aclState)
	newInc := make(map[localring.NodeID]uint64, len(x.conf.Members))
	for _, m := range x.conf.Members {
		newInc[m.ID] = m.Inc
		rep := x.got[m]
		if rep == nil {
			continue
		}
		ni := n.nodeOf(m)
		for _, rg := range rep.groups {
			for _, rm := range rg.members {
				merged[rg.name] = append(merged[rg.name], member{c: n.clientOf(ni, rm.client), st: rm.st})
			}
		}
		for i := range rep.acls {
			a := &rep.acls[i]
			if b := aclBest[a.group]; b == nil || b.st.less(a.st) {
				aclBest[a.group] = &aclState{acl: a.acl, st: a.st}
			}
		}
	}
	all := make([]string, 0, len(n.groups)+len(merged))
	for name := range n.groups {
		all = append(all, name)
	}
	for name := range merged {
		if n.groups[name] == nil {
			all = append(all, name)
		}
	}
	for name := range aclBest {
		if n.groups[name] == nil && merged[name] == nil {
			all = append(all, name)
		}
	}
	slices.Sort(all)

	transID := "t:" + x.conf.ID + "/-"
	var transIn map[localring.Member]bool
	if x.trans != nil {
		transID, transIn = x.trans.ID, memberSet(x.trans)
	}
	vid := viewID{conf: x.conf.ID, kind: 'r'}
	for _, name := range all {
		nm := dedupMembers(merged[name], n.nextGen())
		sortMembers(nm)
		g := n.groups[name]
		if g == nil {
			g = n.newGroup(name)
		}
		cur := g.cur()
		tm := cur
		if transIn != nil {
			tm = filterNodes(cur, transIn)
		}
		// A view is due when the members change, and also when some left
		// through the transitional configuration and came back (a node
		// that was exchanging state then postponed that transitional
		// view; its peers that were not have delivered it).
		if !sameMembers(g.members, nm) || g.hasTrans || len(tm) < len(cur) {
			if !g.hasTrans || len(tm) < len(cur) {
				n.setTrans(g, transID, tm)
			}
			n.setRegular(g, nm, vid, syncReason(g.members, nm, newInc))
		} else {
			g.vid = vid // agreed everywhere, even where nothing changed
		}
		g.acl = aclBest[name]
		n.maybeDrop(g)
	}
	n.transGs = nil

	k := uint64(0)
	for _, m := range x.conf.Members {
		rep := x.got[m]
		if rep == nil {
			continue
		}
		for i := range rep.ops {
			k++
			n.applyOp(m, &rep.ops[i], viewID{conf: x.conf.ID, kind: '+', a: k}, stamp{order: x.order, sub: k})
		}
	}
	n.tops = nil
	// Clients the reports named but that joined nothing.
	for _, ni := range n.nodes {
		for _, c := range ni.clients {
			n.forgetQ = append(n.forgetQ, c)
		}
	}

	n.syncPoint, n.epoch = x.conf.ID, epochOf(x.conf.ID)
	n.stale = n.inRing // everything in the ring was handed with the old epoch
	if wasTrans {
		n.phase = phaseTrans
		n.transViews(n.trans)
	} else {
		n.phase = phaseRegular
	}
}

// dedupMembers drops repeated clients (a report lists each once; this
// guards against a faulty one).
func dedupMembers(ms []member, gen uint64) []member {
	out := ms[:0:0]
	for _, m := range ms {
		if m.c.mark != gen {
			m.c.mark = gen
			out = append(out, m)
		}
	}
	return out
}

// syncReason says why a state exchange changed a view: disconnect when
// every member that left was on a node that came back with a new
// incarnation (so it crashed), network otherwise.
func syncReason(old, nm []member, newInc map[localring.NodeID]uint64) Reason {
	crashed, left := true, false
	for _, m := range old {
		if slices.ContainsFunc(nm, func(x member) bool { return x.c == m.c }) {
			continue
		}
		left = true
		if inc, ok := newInc[m.c.node.m.ID]; !ok || inc == m.c.node.m.Inc {
			crashed = false
		}
	}
	if left && crashed {
		return ReasonDisconnect
	}
	return ReasonNetwork
}

// ---- queries ----

// Configuration returns the current (or last) regular configuration, nil
// before the first.
func (n *Node) Configuration() *localring.Configuration { return n.reg }

// View returns the current view of a group (the transitional one during a
// configuration change), without Joined, Left and Reason.
func (n *Node) View(group string) (View, bool) {
	g := n.groups[group]
	if g == nil || (len(g.members) == 0 && !g.hasTrans) {
		return View{}, false
	}
	return View{Group: group, ID: g.vid.String(), Members: names(g.cur()), Transitional: g.hasTrans}, true
}

// Groups returns the names of the groups with members, sorted.
func (n *Node) Groups() []string {
	out := make([]string, 0, len(n.groups))
	for name, g := range n.groups {
		if len(g.members) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ClientGroups returns the groups a local client is a member of, sorted.
func (n *Node) ClientGroups(client string) []string {
	c := n.me.clients[client]
	if c == nil {
		return nil
	}
	out := make([]string, len(c.groups))
	for i, g := range c.groups {
		out[i] = g.name
	}
	slices.Sort(out)
	return out
}

// ACL returns a group's ACL, if it has one.
func (n *Node) ACL(group string) (ACL, bool) {
	if g := n.groups[group]; g != nil && g.acl != nil {
		return g.acl.acl, true
	}
	return ACL{}, false
}
