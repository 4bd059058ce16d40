package groups

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// testRing is a fake Totem ring for unit tests: it produces the events a
// localring.Node would (installs, sends, deliveries in one total order,
// transitional configurations before regular ones) for a few group
// Nodes, under the test's control, and writes each node's EVS trace.
type testRing struct {
	t       testing.TB
	nodes   map[string]*tnode
	ringSeq uint64
	trace   []evs.Event
	failed  map[evs.Proc]bool
	cfg     Config // template for new nodes (Node is set per node)
	// quiet keeps neither the nodes' events nor the trace, and drops the
	// messages every member delivered (benchmarks with many groups);
	// events and sentBytes count what went by.
	quiet     bool
	events    int
	sentBytes int
	// needsSeen keeps the answers of Node.Needs of a node that delivered
	// each message in each configuration, needsFrom those of the first
	// node that delivered it after each regular configuration; needed
	// and notNeeded count the deliveries it said concern their node, and
	// those it said do not.
	needsSeen, needsFrom map[needsKey]map[string]bool
	needed, notNeeded    int
}

type tnode struct {
	id     string
	inc    uint64
	g      *Node
	conf   *localring.Configuration // current regular configuration
	ring   *tring
	queue  []Submit // submitted to the ring, not yet sent
	events []Event  // everything the group node emitted
	msgSeq uint64   // ring message counter
	conn   bool     // alive
}

// tring is one installed ring: its members and the messages sent in it.
type tring struct {
	conf      *localring.Configuration
	members   []*tnode
	sent      []localring.Message // in total order
	delivered map[*tnode]int      // prefix of sent delivered to each member
	seq       uint64              // packet sequence numbers
}

func newTestRing(t testing.TB, ids ...string) *testRing {
	r := &testRing{t: t, nodes: make(map[string]*tnode), failed: make(map[evs.Proc]bool), cfg: Config{AllViews: true}}
	for _, id := range ids {
		r.start(id)
	}
	return r
}

func (r *testRing) start(id string) *tnode {
	old := r.nodes[id]
	inc := uint64(1)
	if old != nil {
		inc = old.inc + 1
	}
	cfg := r.cfg
	cfg.Node = localring.Member{ID: localring.NodeID(id), Inc: inc}
	g, err := New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	tn := &tnode{id: id, inc: inc, g: g, conn: true}
	r.nodes[id] = tn
	return tn
}

// crash stops a node at once.
func (r *testRing) crash(id string) {
	tn := r.nodes[id]
	tn.conn = false
	r.failed[evs.Proc{Node: id, Inc: tn.inc}] = true
	if tn.ring != nil {
		tn.ring.members = slices.DeleteFunc(tn.ring.members, func(x *tnode) bool { return x == tn })
	}
}

func (r *testRing) node(id string) *tnode { return r.nodes[id] }

func (tn *tnode) member() localring.Member {
	return localring.Member{ID: localring.NodeID(tn.id), Inc: tn.inc}
}

// step feeds one ring event to a node and collects its output. Before a
// delivery it asks the node whether the message concerns each node
// (Node.Needs, with every node its own site: the finest split), and
// checks that a node it said no for delivers it to no client, and that
// the nodes that come from one regular configuration answer alike
// (needsFrom), also in different transitional configurations after it.
func (r *testRing) step(tn *tnode, e localring.Event) {
	if r.quiet || e.Kind != localring.EventDeliver {
		tn.g.Step(e)
		r.collect(tn)
		return
	}
	needs := make(map[string]bool, len(r.nodes))
	reg := ""
	if tn.g.reg != nil {
		reg = tn.g.reg.ID
	}
	for id := range r.nodes {
		needs[id] = tn.g.Needs(e.Msg.Payload, e.Msg.ID.Sender, func(n localring.NodeID) bool { return string(n) == id })
	}
	before := len(tn.events)
	tn.g.Step(e)
	r.collect(tn)
	for _, ev := range tn.events[before:] {
		if ev.Kind == EventDeliver && len(ev.To) > 0 && !needs[tn.id] {
			r.t.Errorf("%s delivered %v to %v, but Needs said the message does not concern it", tn.id, e.Msg.ID, ev.To)
		}
	}
	if r.needsSeen == nil {
		r.needsSeen = make(map[needsKey]map[string]bool)
		r.needsFrom = make(map[needsKey]map[string]bool)
	}
	r.needsSeen[needsKey{e.Msg.ID, e.Msg.Conf}] = needs
	// Nodes that come from one regular configuration answer alike, also
	// in different transitional configurations after it (a federation
	// domain's round puts every node in one of itself alone: gateway/
	// domconf), where their transitional views differ.
	k := needsKey{e.Msg.ID, reg}
	if prev, ok := r.needsFrom[k]; !ok {
		r.needsFrom[k] = needs
	} else if !maps.Equal(prev, needs) {
		r.t.Errorf("%s: Needs of %v in %s (from %s) is %v, another node's was %v", tn.id, e.Msg.ID, e.Msg.Conf, reg, needs, prev)
	}
	if needs[tn.id] {
		r.needed++
	} else {
		r.notNeeded++
	}
}

// needsKey names a delivery: a message and a configuration.
type needsKey struct {
	id   localring.MessageID
	conf string
}

func (r *testRing) collect(tn *tnode) {
	if err := tn.g.checkQueue(); err != nil {
		r.t.Errorf("%s: %v", tn.id, err)
	}
	rd := tn.g.Ready()
	tn.queue = append(tn.queue, rd.Submits...)
	if r.quiet {
		r.events += len(rd.Events)
		return
	}
	for _, e := range rd.Events {
		tn.events = append(tn.events, e)
		r.record(tn, e)
	}
}

// TraceLine maps a group event to its EVS trace line. It is
// tracemap.Proc.Group, installed by trace_test.go (package groups_test):
// tracemap imports groups, so this package's own tests reach it only
// through the external test package of the same test binary.
var TraceLine func(node string, inc uint64, domain string, e *Event) (evs.Event, bool)

// record writes the EVS trace line of a group event, as a driver does.
func (r *testRing) record(tn *tnode, e Event) {
	if l, ok := TraceLine(tn.id, tn.inc, "site/test", &e); ok {
		r.trace = append(r.trace, l)
	}
}

// form installs new rings, one per set of node ids: each member first
// installs the transitional configuration of the members that come from
// its old ring (and delivers there what was sent in its old ring and not
// yet delivered), then the new regular configuration.
func (r *testRing) form(sets ...[]string) { r.formAbsent(nil, sets...) }

// formAbsent is form where the nodes in absent are members of the new
// configurations but do not install them (they stay in their old ring,
// as a node that misses the end of the membership protocol does).
func (r *testRing) formAbsent(absent []string, sets ...[]string) {
	r.ringSeq += 4
	type plan struct {
		conf    *localring.Configuration
		members []*tnode
	}
	var plans []plan
	for _, set := range sets {
		ids := slices.Clone(set)
		slices.Sort(ids)
		var ms []localring.Member
		var tns []*tnode
		for _, id := range ids {
			tn := r.nodes[id]
			if !tn.conn {
				r.t.Fatalf("form: %s is down", id)
			}
			ms = append(ms, tn.member())
			if !slices.Contains(absent, id) {
				tns = append(tns, tn)
			}
		}
		rid := localring.RingID{Seq: r.ringSeq, Rep: ms[0].ID}
		plans = append(plans, plan{&localring.Configuration{ID: "r:" + rid.String(), Kind: localring.Regular, Ring: rid, Members: ms}, tns})
	}
	for _, p := range plans {
		for _, tn := range p.members {
			old := tn.ring
			oldID := localring.RingID{Seq: 0, Rep: localring.NodeID(tn.id)}
			var trans []localring.Member
			if old != nil {
				oldID = old.conf.Ring
				for _, m := range p.conf.Members {
					if r.nodes[string(m.ID)].ring == old {
						trans = append(trans, m)
					}
				}
			} else {
				trans = []localring.Member{tn.member()}
			}
			tc := &localring.Configuration{ID: "t:" + p.conf.Ring.String() + "/" + oldID.String(), Kind: localring.Transitional, Ring: p.conf.Ring, Members: trans}
			r.step(tn, localring.Event{Kind: localring.EventInstall, Conf: tc})
			if old != nil {
				for _, m := range old.sent[old.delivered[tn]:] {
					m.Conf = tc.ID
					r.step(tn, localring.Event{Kind: localring.EventDeliver, Msg: m})
				}
			}
		}
	}
	for _, p := range plans {
		nr := &tring{conf: p.conf, members: p.members, delivered: make(map[*tnode]int)}
		for _, tn := range p.members {
			if tn.ring != nil {
				tn.ring.members = slices.DeleteFunc(tn.ring.members, func(x *tnode) bool { return x == tn })
			}
			tn.ring, tn.conf = nr, p.conf
			r.step(tn, localring.Event{Kind: localring.EventInstall, Conf: p.conf})
		}
	}
}

// send lets every member of every ring send what it has queued (in
// member order, as one token rotation would), without delivering.
func (r *testRing) send() bool {
	any := false
	for _, tn := range r.sortedNodes() {
		if !tn.conn || tn.ring == nil {
			continue
		}
		q := tn.queue
		tn.queue = nil
		for _, s := range q {
			tn.msgSeq++
			tr := tn.ring
			tr.seq++
			m := localring.Message{
				ID:      localring.MessageID{Sender: localring.NodeID(tn.id), Inc: tn.inc, Seq: tn.msgSeq},
				Svc:     s.Svc,
				Payload: s.Payload,
				Conf:    tr.conf.ID,
			}
			r.step(tn, localring.Event{Kind: localring.EventSend, Msg: m})
			r.sentBytes += len(s.Payload)
			m.Order = localring.Order{Ring: tr.conf.Ring.Seq, Seq: tr.seq}
			tr.sent = append(tr.sent, m)
			any = true
		}
	}
	return any
}

// deliver delivers every message sent in every ring to all its members.
func (r *testRing) deliver() bool {
	any := false
	for _, tr := range r.rings() {
		for {
			moved := false
			for _, tn := range tr.members {
				if i := tr.delivered[tn]; i < len(tr.sent) {
					tr.delivered[tn]++
					r.step(tn, localring.Event{Kind: localring.EventDeliver, Msg: tr.sent[i]})
					moved = true
				}
			}
			if !moved {
				break
			}
			any = true
		}
	}
	return any
}

// deliverTo delivers the ring's messages up to upto (exclusive) to the
// given members only.
func (r *testRing) deliverTo(upto int, ids ...string) {
	for _, id := range ids {
		tn := r.nodes[id]
		tr := tn.ring
		for tr.delivered[tn] < upto {
			i := tr.delivered[tn]
			tr.delivered[tn]++
			r.step(tn, localring.Event{Kind: localring.EventDeliver, Msg: tr.sent[i]})
		}
	}
}

// run sends and delivers until nothing moves.
func (r *testRing) run() {
	for i := 0; ; i++ {
		if i > 1000 {
			r.t.Fatal("testRing.run: no quiescence")
		}
		s := r.send()
		d := r.deliver()
		if !s && !d {
			if r.quiet {
				r.trim()
			}
			return
		}
	}
}

// trim drops the messages of each ring that all its members delivered.
func (r *testRing) trim() {
	for _, tr := range r.rings() {
		done := len(tr.sent)
		for _, tn := range tr.members {
			done = min(done, tr.delivered[tn])
		}
		if done == len(tr.sent) {
			tr.sent = nil
			clear(tr.delivered)
		}
	}
}

func (r *testRing) sortedNodes() []*tnode {
	var out []*tnode
	for _, tn := range r.nodes {
		out = append(out, tn)
	}
	slices.SortFunc(out, func(a, b *tnode) int { return strings.Compare(a.id, b.id) })
	return out
}

func (r *testRing) rings() []*tring {
	var out []*tring
	for _, tn := range r.sortedNodes() {
		if tn.ring != nil && !slices.Contains(out, tn.ring) {
			out = append(out, tn.ring)
		}
	}
	return out
}

// check runs the EVS checker over the trace so far.
func (r *testRing) check(quiescent bool) {
	r.t.Helper()
	vs := evs.Check(r.trace, evs.Options{Failed: r.failed, Quiescent: quiescent, MaxPerProperty: -1})
	if len(vs) > 0 {
		var b strings.Builder
		_ = evs.Report(&b, vs)
		r.t.Fatalf("EVS violations:\n%s\ntrace:\n%s", b.String(), r.traceText())
	}
}

func (r *testRing) traceText() string {
	var b strings.Builder
	w := evs.NewWriter(&b)
	for _, e := range r.trace {
		_ = w.Write(e)
	}
	return b.String()
}

// views returns the views of group a node emitted, as "id members... (reason)".
func (tn *tnode) views(group string) []string {
	var out []string
	for _, e := range tn.events {
		if e.Kind == EventView && e.View.Group == group {
			out = append(out, viewString(e.View))
		}
	}
	return out
}

func viewString(v *View) string {
	s := v.ID + " [" + strings.Join(v.Members, " ") + "]"
	if v.Transitional {
		return s + " trans"
	}
	if len(v.Joined) > 0 {
		s += " +" + strings.Join(v.Joined, ",")
	}
	if len(v.Left) > 0 {
		s += " -" + strings.Join(v.Left, ",")
	}
	return s + " " + v.Reason.String()
}

// delivered returns, for each delivery of a multicast, "client<-payload".
func (tn *tnode) delivered() []string {
	var out []string
	for _, e := range tn.events {
		if e.Kind == EventDeliver {
			for _, c := range e.To {
				out = append(out, c+"<-"+string(e.Msg.Payload))
			}
		}
	}
	return out
}

func (tn *tnode) kinds(k EventKind) []Event {
	var out []Event
	for _, e := range tn.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (tn *tnode) must(err error) {
	if err != nil {
		panic(fmt.Sprintf("%s: %v", tn.id, err))
	}
}

func (tn *tnode) mcast(client string, svc localring.Service, payload string, groups ...string) uint64 {
	seq, err := tn.g.Multicast(client, svc, 7, groups, []byte(payload))
	tn.must(err)
	return seq
}

// stepRaw hands a node an arbitrary payload as a delivery from another
// node (send == 0) or as one of its own messages being sent (send == 1).
func (r *testRing) stepRaw(tn *tnode, payload []byte, send int) {
	m := localring.Message{
		ID:      localring.MessageID{Sender: "a", Inc: 1, Seq: 1 << 40},
		Svc:     localring.Agreed,
		Payload: payload,
		Conf:    tn.conf.ID,
		Order:   localring.Order{Ring: tn.conf.Ring.Seq, Seq: 1 << 39},
	}
	k := localring.EventDeliver
	if send == 1 {
		m.ID.Sender, m.ID.Inc, k = localring.NodeID(tn.id), tn.inc, localring.EventSend
	}
	r.step(tn, localring.Event{Kind: k, Msg: m})
}
