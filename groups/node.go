package groups

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

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
	mark    uint64 // scratch for Needs (see Node.nextGen)
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
	xm       []member // complete's scratch: the members the reports list
	// delivered counts the multicasts naming the group that this node
	// delivered since it last created the group (GroupStats).
	delivered uint64
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
	if v.kind == 'r' {
		return v.conf
	}
	return string(v.appendTo(make([]byte, 0, len(v.conf)+24)))
}

// appendTo appends the id as String renders it, without allocating when
// b has room (setTrans hashes ids in a scratch buffer).
func (v viewID) appendTo(b []byte) []byte {
	switch v.kind {
	case 'r':
		return append(b, v.conf...)
	case '@':
		b = append(append(b, v.conf...), '@')
		b = append(strconv.AppendUint(b, v.a, 10), '.')
		return strconv.AppendUint(b, v.b, 10)
	case '+':
		return strconv.AppendUint(append(append(b, v.conf...), '+'), v.a, 10)
	case '~':
		b = append(append(b, v.conf...), '~')
		const hex = "0123456789abcdef"
		for sh := 60; sh >= 0; sh -= 4 {
			b = append(b, hex[v.a>>uint(sh)&0xf])
		}
		return b
	}
	return b
}

// opViewID names the view a request delivered at order makes in conf.
// The configuration names the ring, so the packet sequence number and
// index make the id unique for good.
func opViewID(conf string, order localring.Order) viewID {
	return viewID{conf: conf, kind: '@', a: order.Seq, b: uint64(order.Index)}
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
	order   localring.Order // ring order of the report that completed it
}

// outMsg is a request or message of a local client, from acceptance until
// the ring sends it in a state that delivers it.
type outMsg struct {
	seq    uint64
	svc    localring.Service
	data   []byte
	epoch  uint64 // the epoch it was handed to the ring with
	inRing bool   // handed to the ring, not yet sent
	handed bool   // handed at least once (the ring may hold data)
	// hand numbers its last handing among all of the node's (Node.hands):
	// the ring sends what it was handed in that order.
	hand uint64
	msg  *Message // multicast or point-to-point: the EventSent template
	// om is the multicast's entry itself with Config.ReuseMessages, to be
	// reused once its EventSent (or EventSentElsewhere) is released
	// (Node.omOut).
	om *outMulticast
}

// Node is the group layer of one agent, as a state machine: it consumes
// its ring node's events with Step, takes client requests (Join, Leave,
// Disconnect, SetACL, Multicast, Send), and produces ring messages to
// submit and events for local clients, collected with Ready. It does no
// I/O, reads no clock and starts no goroutine. A Node is not safe for
// concurrent use; the driver owns it from one goroutine, the one that
// owns the ring node.
type Node struct {
	cfg    Config
	me     *nodeInfo
	yields uint32 // calls of yield, for Config.Yield

	phase     phase
	reg       *localring.Configuration // the current (or last) regular configuration
	trans     *localring.Configuration // the last transitional configuration
	syncPoint string                   // the configuration of the last state exchange
	epoch     uint64                   // epochOf(syncPoint)

	groups map[string]*group
	byName []*group // every group of groups, sorted by name, while byNameOK
	// byNameOK says byName is up to date: a group's creation or removal
	// clears it, allSorted sorts again.
	byNameOK bool
	nodes    map[localring.Member]*nodeInfo
	transGs  []*group // groups that may have hasTrans set
	forgetQ  []*clientInfo
	tops     []top
	exch     *exchange

	out      []*outMsg
	outBytes int // the encoded size of out
	inRing   int
	waiting  int    // messages of out not in the ring: what pump has to hand
	stale    int    // messages in the ring handed with an older epoch
	hands    uint64 // handings to the ring so far (outMsg.hand)
	// sentHand is the hand of the last message the ring sent (onSend):
	// every message still in the ring was handed after it.
	sentHand uint64
	nextSeq  uint64
	intent   map[string]map[string]bool // local client → groups it asked to join

	gen           uint64
	scratch       []byte                      // setTrans's buffer for view ids
	header        []byte                      // enqueueIn's buffer for a message's header
	groupsScratch []string                    // onDeliver's list for a multicast's groups (deliverMulticast copies them)
	dlvOut        []*delivery                 // Config.ReuseMessages: the deliveries of the output since the last Ready
	dlvReady      []*delivery                 // ... of the last Ready, for its Release
	dlvFree       []*delivery                 // ... released, for newDelivery
	omOut         []*outMulticast             // Config.ReuseMessages: the multicasts whose EventSent the output since the last Ready holds
	omReady       []*outMulticast             // ... the last Ready, for its Release
	omFree        []*outMulticast             // ... released, for newOutMulticast
	known         func([]byte) (string, bool) // knownGroup, made once (a method value per message allocates)
	rd            Ready
	stats         Stats
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
	n.known = n.knownGroup
	return n, nil
}

func epochOf(syncPoint string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(syncPoint))
	return h.Sum64()
}

// hash64 is FNV-1a (64 bits) of b, as hash/fnv's New64a computes it,
// without its allocation.
func hash64(b []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, c := range b {
		h ^= uint64(c)
		h *= prime
	}
	return h
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

// memberName returns "node:client" for a client of origin, without
// allocating it for a client the node knows.
func (n *Node) memberName(origin localring.Member, client string) string {
	if ni := n.nodes[origin]; ni != nil {
		if c := ni.clients[client]; c != nil {
			return c.full
		}
	}
	return MemberName(origin.ID, client)
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

// growEvents makes room for k more events: a configuration change emits a
// view per group, and growing the slice by doubling copies (and leaves to
// the garbage collector) about as much again.
func (n *Node) growEvents(k int) { n.rd.Events = slices.Grow(n.rd.Events, k) }

// Ready returns what the node produced since the last call: ring messages
// to submit and events, in order. The returned slices belong to the
// caller, who may give them back with Release.
func (n *Node) Ready() Ready {
	r := n.rd
	n.rd = Ready{}
	if n.cfg.ReuseMessages {
		n.dlvReady, n.dlvOut = n.dlvOut, n.dlvReady[:0]
		n.omReady, n.omOut = n.omOut, n.omReady[:0]
	}
	return r
}

// maxReleased bounds the slices Release keeps: the output of a
// configuration change of many groups is left to the garbage collector.
const maxReleased = 1024

// Release gives back the slices of rd, the last Ready, once the caller
// keeps no reference to their elements (what the events point to, the
// messages and views, stays the caller's): the node reuses them for its
// next output, so that a driver that takes Ready after every Step does not
// allocate them each time. It has no effect once the node produced
// anything after that Ready.
func (n *Node) Release(rd Ready) {
	if n.cfg.ReuseMessages {
		n.releaseDeliveries()
	}
	if n.rd.Events == nil && cap(rd.Events) <= maxReleased {
		clear(rd.Events)
		n.rd.Events = rd.Events[:0]
	}
	if n.rd.Submits == nil && cap(rd.Submits) <= maxReleased {
		clear(rd.Submits)
		n.rd.Submits = rd.Submits[:0]
	}
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

// PendingBytes returns the encoded size of what Pending counts.
func (n *Node) PendingBytes() int { return n.outBytes }

// ---- client requests ----

func (n *Node) requestError(op, client, group string, err error) error {
	return &Error{Op: op, Client: client, Group: group, Err: err}
}

func (n *Node) checkClient(op, client, group string) error {
	if !ValidClientName(client) {
		return n.requestError(op, client, group, fmt.Errorf("%w: client name %q", ErrBadName, client))
	}
	if op != "disconnect" && !ValidGroupName(group) {
		return n.requestError(op, client, group, fmt.Errorf("%w: group name %q: %s", ErrBadName, group, GroupNameRule))
	}
	return nil
}

// enqueue accepts one encoded request or message for sending.
func (n *Node) enqueue(op, client, group string, w *wireMsg, svc localring.Service, msg *Message) (uint64, error) {
	return n.enqueueIn(op, client, group, w, svc, msg, nil, 0, nil)
}

// enqueueIn is enqueue for a message whose data is buf[room:], with the
// room before it handed over by the caller (MulticastIn): its header goes
// at the end of the room when it fits, and the message is not copied.
func (n *Node) enqueueIn(op, client, group string, w *wireMsg, svc localring.Service, msg *Message, buf []byte, room int, o *outMsg) (uint64, error) {
	if len(n.out) >= n.cfg.MaxQueuedMsgs {
		return 0, n.requestError(op, client, group, ErrBackpressure)
	}
	w.seq = n.nextSeq
	var data []byte
	if buf != nil {
		n.header = w.appendHeader(n.header[:0])
		if h := len(n.header); h <= room {
			data = buf[room-h : len(buf) : len(buf)]
			copy(data, n.header)
		}
	}
	if data == nil {
		data = w.append(make([]byte, 0, 64+len(w.data)))
	}
	if len(data) > n.cfg.MaxMessageBytes {
		return 0, n.requestError(op, client, group, fmt.Errorf("%w: %d bytes with headers, the limit is %d", ErrTooLarge, len(data), n.cfg.MaxMessageBytes))
	}
	n.nextSeq++
	if msg != nil {
		msg.Seq = w.seq
	}
	if o == nil {
		o = new(outMsg)
	}
	*o = outMsg{seq: w.seq, svc: svc, data: data, msg: msg}
	n.out = append(n.out, o)
	n.outBytes += len(data)
	n.waiting++
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
	return n.multicast(client, svc, msgType, groups, payload, nil, 0)
}

// MulticastIn is Multicast of the payload buf[room:] by a caller that
// hands all of buf over, the room before the payload too: the message's
// header is written at the end of the room when it fits there (room of
// MulticastRoom(client, groups) bytes always does), so that the group
// layer sends buf's array itself instead of a copy of the payload with
// its header. Neither buf nor the payload may be modified afterwards.
// The agent's session reader, which copies each payload out of its read
// buffer anyway, copies it with the room before it.
func (n *Node) MulticastIn(client string, svc localring.Service, msgType uint16, groups []string, buf []byte, room int) (uint64, error) {
	return n.multicast(client, svc, msgType, groups, buf[room:len(buf):len(buf)], buf, room)
}

func (n *Node) multicast(client string, svc localring.Service, msgType uint16, groups []string, payload, buf []byte, room int) (uint64, error) {
	if !ValidClientName(client) {
		err := n.requestError("multicast", client, "", fmt.Errorf("%w: client name %q", ErrBadName, client))
		return 0, err
	}
	if !svc.Valid() {
		return 0, n.requestError("multicast", client, "", fmt.Errorf("%w %d", ErrBadService, svc))
	}
	if len(groups) == 0 || len(groups) > MaxGroupsPerMessage {
		return 0, n.requestError("multicast", client, "", fmt.Errorf("%w: %d groups, want 1 to %d", ErrBadName, len(groups), MaxGroupsPerMessage))
	}
	for _, g := range groups {
		if !ValidGroupName(g) {
			return 0, n.requestError("multicast", client, g, fmt.Errorf("%w: group name %q: %s", ErrBadName, g, GroupNameRule))
		}
	}
	om := n.newOutMulticast()
	gs := om.gs[:0]
	if len(groups) > len(om.gs) {
		gs = make([]string, 0, len(groups))
	}
	for i, g := range groups {
		if !slices.Contains(groups[:i], g) {
			gs = append(gs, g)
		}
	}
	w := &wireMsg{kind: kindMulticast, client: client, mtype: msgType, groups: gs, data: payload}
	om.m = Message{Sender: n.memberName(n.me.m, client), Svc: svc, Type: msgType, Groups: gs, Payload: payload}
	seq, err := n.enqueueIn("multicast", client, "", w, svc, &om.m, buf, room, &om.o)
	if err == nil && n.cfg.ReuseMessages {
		om.o.om = om // its EventSent's Release gives it back (onSend)
	}
	return seq, err
}

// newOutMulticast returns an outMulticast to fill in: a fresh one, or
// with Config.ReuseMessages one whose EventSent a Release gave back.
func (n *Node) newOutMulticast() *outMulticast {
	if k := len(n.omFree); k > 0 {
		om := n.omFree[k-1]
		n.omFree[k-1] = nil
		n.omFree = n.omFree[:k-1]
		return om
	}
	return new(outMulticast)
}

// outMulticast is a multicast's entry in the queue, the template of its
// EventSent and the storage of its list of groups (a message to one group
// needs no other), in one allocation instead of three: the group layer
// makes one for every message its clients multicast.
type outMulticast struct {
	o  outMsg
	m  Message
	gs [1]string
}

// Send sends payload from client to one member ("node:client"),
// point-to-point, ordered with the client's multicasts (it travels on the
// ring like them). It returns the message's sequence number.
func (n *Node) Send(client, to string, svc localring.Service, msgType uint16, payload []byte) (uint64, error) {
	return n.send(client, to, svc, msgType, payload, true)
}

// SendUnchecked is Send without the check that to is a member of one of
// this Node's groups, for a driver that runs several Nodes and found the
// member in the views of another (HasMember): the agent orders a
// point-to-point message to a member at another site in one federation
// domain's Node, while the member may be listed only in another domain's
// views. The message is delivered like Send's, to the named member if
// its node has a client of that name.
func (n *Node) SendUnchecked(client, to string, svc localring.Service, msgType uint16, payload []byte) (uint64, error) {
	return n.send(client, to, svc, msgType, payload, false)
}

// HasMember reports whether member ("node:client") is a member of one of
// this Node's groups, as its views list them (what Send checks).
func (n *Node) HasMember(member string) bool {
	node, client, err := SplitMember(member)
	return err == nil && n.isMember(node, client)
}

func (n *Node) send(client, to string, svc localring.Service, msgType uint16, payload []byte, check bool) (uint64, error) {
	if !ValidClientName(client) {
		err := n.requestError("send", client, "", fmt.Errorf("%w: client name %q", ErrBadName, client))
		return 0, err
	}
	node, toClient, err := SplitMember(to)
	if err != nil {
		return 0, n.requestError("send", client, "", err)
	}
	// Refused here rather than sent nowhere. Only once the group state is
	// agreed: during a state exchange this node may not know every member
	// yet. The member may still leave before the message is ordered.
	if check && n.phase == phaseRegular && !n.isMember(node, toClient) {
		return 0, n.requestError("send", client, "", fmt.Errorf("%w: %s is a member of no group; point-to-point messages go to members as views list them", ErrNotMember, to))
	}
	if !svc.Valid() {
		return 0, n.requestError("send", client, "", fmt.Errorf("%w %d", ErrBadService, svc))
	}
	w := &wireMsg{kind: kindUnicast, client: client, mtype: msgType, to: to, data: payload}
	msg := &Message{Sender: n.memberName(n.me.m, client), Svc: svc, Type: msgType, To: to, Payload: payload}
	return n.enqueue("send", client, "", w, svc, msg)
}

// isMember reports whether client of node is a member of some group.
func (n *Node) isMember(node localring.NodeID, client string) bool {
	for m, ni := range n.nodes {
		if m.ID == node {
			if c := ni.clients[client]; c != nil && len(c.groups) > 0 {
				return true
			}
		}
	}
	return false
}

// pump hands queued messages to the ring: only in a regular configuration
// with agreed state, and only once no message handed with an older epoch
// is still in the ring (it will be discarded and must go again first, to
// keep the client's order).
//
// It runs at every Step and every accepted request, so it looks at the
// queue only when a message waits, and at the newest message alone when
// only that one does: at full load the queue holds the messages the ring
// has not sent yet (100 at an agent by default), and a scan of them at
// every event was the group layer's largest cost per message
// (BenchmarkPipeline).
func (n *Node) pump() {
	if n.waiting == 0 || n.phase != phaseRegular || n.stale > 0 || n.inRing >= n.cfg.WindowMsgs {
		return
	}
	out := n.out
	if last := out[len(out)-1]; n.waiting == 1 && !last.inRing {
		out = out[len(out)-1:]
	}
	for _, o := range out {
		if n.inRing >= n.cfg.WindowMsgs || n.waiting == 0 {
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
		n.hands++
		o.epoch, o.inRing, o.handed, o.hand = n.epoch, true, true, n.hands
		n.inRing++
		n.waiting--
		n.rd.Submits = append(n.rd.Submits, Submit{Svc: o.svc, Payload: o.data})
	}
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

// GroupStats are one group's numbers at this node.
type GroupStats struct {
	Group string
	// ViewID names the group's current view; Members and LocalMembers
	// count its members, on every node and on this one.
	ViewID       string
	Members      int
	LocalMembers int
	// Delivered counts the multicasts naming the group that the ring
	// delivered at this node (whether or not a local member received
	// them) since the group last got its first member here: a group
	// without members is forgotten, and its count starts again at 0.
	Delivered uint64
}

// GroupStats returns the numbers of the groups with members, sorted by
// name (the groups of Groups).
func (n *Node) GroupStats() []GroupStats {
	out := make([]GroupStats, 0, len(n.groups))
	for _, name := range n.Groups() {
		g := n.groups[name]
		out = append(out, GroupStats{Group: name, ViewID: g.vid.String(), Members: len(g.cur()),
			LocalMembers: int(g.nlocal), Delivered: g.delivered})
	}
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

// IsMember reports whether this node's client is in group's last regular
// view, without building a list as ClientGroups does.
func (n *Node) IsMember(client, group string) bool {
	c := n.me.clients[client]
	if c == nil {
		return false
	}
	for _, g := range c.groups {
		if g.name == group {
			return true
		}
	}
	return false
}

// ACL returns a group's ACL, if it has one.
func (n *Node) ACL(group string) (ACL, bool) {
	if g := n.groups[group]; g != nil && g.acl != nil {
		return g.acl.acl, true
	}
	return ACL{}, false
}

// yieldEvery is how many calls of yield make one of Config.Yield: a few
// hundred groups' views are well under a millisecond of work.
const yieldEvery = 256

// yield calls Config.Yield every yieldEvery calls; the loops over groups
// of a configuration change call it once per group.
func (n *Node) yield() {
	if n.cfg.Yield == nil {
		return
	}
	n.yields++
	if n.yields%yieldEvery == 0 {
		n.cfg.Yield()
	}
}
