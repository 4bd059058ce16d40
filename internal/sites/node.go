package sites

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/topology"
)

// Node is one agent of the world and its client.
type Node struct {
	// ID and Site name the node.
	ID, Site string

	w    *World
	addr netip.AddrPort // on its site's simulated LAN
	dead atomic.Bool    // killed: its packets are dropped
	// lanPart is its part of its site's LAN while SplitLAN holds (0: the
	// first part, or not split): packets between parts are dropped.
	// wanCut: its federation ring members' packets are dropped both ways
	// (CutGateway), while the node and its LAN run on.
	lanPart atomic.Int32
	wanCut  atomic.Bool

	mu      sync.Mutex
	running bool
	agent   *agent.Agent
	client  *client.Client
	cancel  context.CancelFunc
	done    chan error
	next    int                  // the number of its next payload
	got     map[string]int       // payload -> deliveries
	gotAt   map[string]time.Time // payload -> its first delivery
	views   map[string][]View
	groups  map[string]bool // the groups its client joined
	errs    []string        // the errors the agent reported to the client
	conns   []*gatewayConn  // its federation ring members' sockets
	// The stubs its agents delivered and the catch-ups they refused for
	// a stub (federation.unneeded), summed over its stopped incarnations.
	stubs, stubRefusals uint64
}

// Stubs returns the stubs node's agents delivered (groups.Stats.Stubs)
// and the catch-ups they refused for a stub in the log
// (bridge.Stats.ElidedRefused), over every incarnation so far.
func (n *Node) Stubs() (delivered, refused uint64) {
	n.mu.Lock()
	delivered, refused = n.stubs, n.stubRefusals
	a, running := n.agent, n.running
	n.mu.Unlock()
	if running {
		for _, d := range a.Status().Domains {
			delivered, refused = delivered+d.Layer.Stubs, refused+d.Bridge.ElidedRefused
		}
	}
	return delivered, refused
}

// View is a view of a group that a node's client got, and when.
type View struct {
	client.View
	At time.Time
}

func (n *Node) isDead() bool { return n != nil && n.dead.Load() }

// Running reports whether the node's agent runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running
}

// Agent returns the node's agent (nil before it started; the last one
// after it stopped).
func (n *Node) Agent() *agent.Agent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.agent
}

// Client returns the node's client (nil when it is not running).
func (n *Node) Client() *client.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return nil
	}
	return n.client
}

// Got returns how many times the node's client got payload.
func (n *Node) Got(payload string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.got[payload]
}

// Views returns the views of group the node's client got since it
// started, in order, transitional ones included.
func (n *Node) Views(group string) []View {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.views[group])
}

// LastView returns the last regular view of group the node's client got.
func (n *Node) LastView(group string) (client.View, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	vs := n.views[group]
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].Transitional {
			return vs[i].View, true
		}
	}
	return client.View{}, false
}

// Errors returns the errors the agent reported to the node's client.
func (n *Node) Errors() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.errs)
}

// read records the deliveries, views and errors of client c.
func (n *Node) read(c *client.Client) {
	for e := range c.Events() {
		switch e.Kind {
		case client.EventMessage:
			d := Delivery{Node: n.ID, Payload: string(e.Message.Payload), At: time.Now()}
			if len(e.Message.Groups) > 0 {
				d.Group = e.Message.Groups[0]
			}
			d.Sender, d.Phase, _, d.Sent = parsePayload(d.Payload)
			if !d.Sent.IsZero() {
				d.Latency = d.At.Sub(d.Sent)
				n.w.mu.Lock()
				n.w.lat[d.Group] = append(n.w.lat[d.Group], d.Latency)
				n.w.mu.Unlock()
			}
			n.mu.Lock()
			if n.client == c {
				if n.got[d.Payload] == 0 {
					n.gotAt[d.Payload] = d.At
				}
				n.got[d.Payload]++
			}
			n.mu.Unlock()
			if n.w.cfg.OnDeliver != nil {
				n.w.cfg.OnDeliver(d)
			}
		case client.EventView:
			n.mu.Lock()
			if n.client == c {
				n.views[e.View.Group] = append(n.views[e.View.Group], View{View: *e.View, At: time.Now()})
			}
			n.mu.Unlock()
		case client.EventError:
			n.mu.Lock()
			if n.client == c {
				n.errs = append(n.errs, e.Err.Error())
			}
			n.mu.Unlock()
		}
	}
}

// stop closes the client and stops the agent; early says the run goes on
// without it (it counts as failed for Check).
func (n *Node) stop(early bool) error {
	n.mu.Lock()
	if !n.running {
		n.mu.Unlock()
		return nil
	}
	n.running = false
	a, c, cancel, done := n.agent, n.client, n.cancel, n.done
	n.mu.Unlock()
	ds := a.Status().Domains
	n.mu.Lock()
	for _, d := range ds {
		n.stubs, n.stubRefusals = n.stubs+d.Layer.Stubs, n.stubRefusals+d.Bridge.ElidedRefused
	}
	n.mu.Unlock()
	if early {
		n.w.mu.Lock()
		n.w.ended[evs.Proc{Node: n.ID, Inc: a.Self().Inc}] = true
		n.w.mu.Unlock()
	}
	c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("sites: agent %s stopped with an error: %w", n.ID, err)
		}
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("sites: agent %s did not stop within 15s", n.ID)
	}
}

// listenPacket opens the UDP socket of one of the node's federation ring
// members; it goes silent when the node is killed.
func (n *Node) listenPacket(addr string) (net.PacketConn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dead.Load() {
		return nil, errors.New("sites: the node was killed")
	}
	c, err := openGatewayConn(addr, &n.dead, &n.wanCut)
	if err != nil {
		return nil, err
	}
	n.conns = slices.DeleteFunc(n.conns, (*gatewayConn).isClosed)
	n.conns = append(n.conns, c)
	return c, nil
}

// kill drops the node's packets from now on, on its LAN and the WAN, and
// closes its gateways' sockets, as the end of its process would.
func (n *Node) kill() {
	n.mu.Lock()
	n.dead.Store(true)
	conns := n.conns
	n.conns = nil
	n.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// payload returns the node's next payload for group in phase, at least
// size bytes long.
func (n *Node) payload(group, phase string, size int) string {
	n.mu.Lock()
	i := n.next
	n.next++
	n.mu.Unlock()
	p := fmt.Sprintf("%s/%s/%s/%d %d", n.ID, phase, group, i, time.Now().UnixNano())
	if len(p) < size {
		p += " " + strings.Repeat(".", size-len(p)-1)
	}
	return p
}

// payloadNumber returns the number i of a payload of the world's.
func payloadNumber(p string) int {
	f := strings.Split(strings.Fields(p)[0], "/")
	i, _ := strconv.Atoi(f[len(f)-1])
	return i
}

// parsePayload reads "<node>/<phase>/<group>/<i> <unix nanoseconds>[ pad]".
func parsePayload(p string) (node, phase, group string, at time.Time) {
	f := strings.Fields(p)
	if len(f) < 2 {
		return "", "", "", time.Time{}
	}
	parts := strings.Split(f[0], "/")
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if len(parts) != 4 || err != nil {
		return "", "", "", time.Time{}
	}
	return parts[0], parts[1], parts[2], time.Unix(0, ns)
}

// Send has node id's client multicast one payload of the world's to group
// (Agreed) and waits until the agent accepted it; it returns the payload.
func (w *World) Send(ctx context.Context, id, group, phase string) (string, error) {
	return w.send(ctx, id, group, phase, 0, client.Agreed)
}

func (w *World) send(ctx context.Context, id, group, phase string, size int, svc client.Service) (string, error) {
	n := w.nodes[id]
	if n == nil {
		return "", fmt.Errorf("sites: no node %q", id)
	}
	c := n.Client()
	if c == nil {
		return "", fmt.Errorf("sites: node %s is not running", id)
	}
	p := n.payload(group, phase, size)
	if err := c.MulticastWait(ctx, svc, 0, []string{group}, []byte(p)); err != nil {
		return "", fmt.Errorf("sites: %s multicasts to %s: %w", id, group, err)
	}
	w.mu.Lock()
	w.sent = append(w.sent, sent{payload: p, node: id, phase: phase, group: group})
	w.mu.Unlock()
	return p, nil
}

// Flush waits until node id's agent handled every request of its client.
func (w *World) Flush(ctx context.Context, id string) error {
	n := w.nodes[id]
	if n == nil {
		return fmt.Errorf("sites: no node %q", id)
	}
	c := n.Client()
	if c == nil {
		return fmt.Errorf("sites: node %s is not running", id)
	}
	if err := c.Flush(ctx); err != nil {
		return fmt.Errorf("sites: %s flushes: %w", id, err)
	}
	return nil
}

// Load is a load generator's work.
type Load struct {
	// Phase names the messages (Count judges a phase).
	Phase string
	// Senders are the nodes whose clients send; Groups the groups each
	// of them sends to, one message to each in turn.
	Senders []string
	Groups  []string
	// Every is the time between two rounds of a sender (one message to
	// each group). Default 50 ms.
	Every time.Duration
	// Size pads each payload to this many bytes (a bandwidth to fill).
	Size int
	// For stops the generator after this long; Count after this many
	// rounds per sender. Neither: until Stop.
	For   time.Duration
	Count int
	// Service is the messages' service. Default client.Agreed.
	Service client.Service
}

// Generator runs a Load.
type Generator struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	sent   atomic.Int64
}

// Load starts a load generator: each sender's client multicasts a round
// every Every (as soon as it can when late), until For or Count is
// reached or Stop, then flushes. A sender that is stopped or killed
// meanwhile stops sending without an error.
func (w *World) Load(l Load) *Generator {
	if l.Every <= 0 {
		l.Every = 50 * time.Millisecond
	}
	if l.Service == 0 {
		l.Service = client.Agreed
	}
	ctx, cancel := context.WithCancel(context.Background())
	if l.For > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), l.For)
	}
	g := &Generator{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if g.err == nil {
			g.err = err
		}
		mu.Unlock()
	}
	for _, id := range l.Senders {
		wg.Go(func() {
			next := time.Now()
			for round := 0; l.Count == 0 || round < l.Count; round++ {
				for _, group := range l.Groups {
					if ctx.Err() != nil {
						break
					}
					if _, err := w.send(ctx, id, group, l.Phase, l.Size, l.Service); err != nil {
						if ctx.Err() == nil && w.nodes[id].Running() {
							fail(err)
						}
						return
					}
					g.sent.Add(1)
				}
				next = next.Add(l.Every)
				select {
				case <-ctx.Done():
				case <-time.After(time.Until(next)):
				}
				if ctx.Err() != nil {
					break
				}
			}
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			if err := w.Flush(fctx, id); err != nil && w.nodes[id].Running() {
				fail(err)
			}
		})
	}
	go func() {
		wg.Wait()
		cancel()
		close(g.done)
	}()
	return g
}

// Sent returns how many messages the generator's senders had accepted.
func (g *Generator) Sent() int { return int(g.sent.Load()) }

// Wait waits until the generator ended (For, Count) and its senders
// flushed, and returns the first error of a sender that still runs.
func (g *Generator) Wait() error {
	<-g.done
	return g.err
}

// Stop stops the generator and waits as Wait does.
func (g *Generator) Stop() error {
	g.cancel()
	return g.Wait()
}

// Run runs loads together until each ended (each needs For or Count).
func (w *World) Run(loads ...Load) error {
	gs := make([]*Generator, len(loads))
	for i, l := range loads {
		if l.For <= 0 && l.Count <= 0 {
			return fmt.Errorf("sites: load %s runs until stopped: give it For or Count", l.Phase)
		}
		gs[i] = w.Load(l)
	}
	var first error
	for _, g := range gs {
		if err := g.Wait(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Count is the outcome of a phase for the nodes Count judged.
type Count struct {
	Phase string
	// Sent counts the messages the judged nodes sent in the phase.
	Sent int
	// Lost counts the deliveries missing (one per message and node that
	// should have got it: it stayed connected with the sender); Dup the
	// deliveries of a payload beyond the first at a node (of any sender).
	Lost, Dup int
	// Separated counts the deliveries missing at a node that was apart
	// from the message's sender after the send (Apart), or whose sender
	// got it in a transitional view without the node (DeliveredApart), or
	// in a regular view that the node left through a transitional view
	// without the sender (LeftApart): EVS does not make it deliver them,
	// and they are not lost.
	Separated int
	// Missing names a few of the lost deliveries ("b-1 lacks a-2/...").
	Missing []string
	// Lacks groups every lost delivery by receiver, sender and group,
	// with the views both had of the group when counted: what the next
	// loss needs to be told from a separation that Apart did not see.
	Lacks []Lack
}

// Lack is the lost deliveries at one node of one sender's messages of one
// group in a phase.
type Lack struct {
	Node, Sender, Group string
	// N counts the messages missing; First and Last are the first and
	// last of them (their payloads' numbers and send times); Later counts
	// the sender's messages of the group in the phase, sent after Last,
	// that the node got (a gap before those is no message still on its
	// way). GotBefore and GotAfter are when the node got the sender's
	// message of the group just before First and just after Last (zero:
	// none): a view between the two is where it stopped and resumed.
	// SenderGot is when the sender got First (zero: never), which its
	// views place in a regular or a transitional view.
	N, First, Last      int
	FirstAt, LastAt     time.Time
	Later               int
	GotBefore, GotAfter time.Time
	SenderGot           time.Time
	// Views and SenderViews are the node's and the sender's views of the
	// group when counted; Start is the world's start, which the string
	// form counts their times from.
	Views, SenderViews []View
	Start              time.Time
}

func (l Lack) String() string {
	var b strings.Builder
	at := func(t time.Time) string { return t.Sub(l.Start).Round(time.Millisecond).String() }
	got := func(which string, t time.Time) string {
		if t.IsZero() {
			return "none " + which
		}
		return "the one " + which + " at " + at(t)
	}
	sender := "never"
	if !l.SenderGot.IsZero() {
		sender = "at " + at(l.SenderGot)
	}
	fmt.Fprintf(&b, "%s lacks %d of %s's messages of %s: %d (sent at %s, got by %s %s) to %d (at %s), and got %d sent after them; got %s, %s",
		l.Node, l.N, l.Sender, l.Group, l.First, at(l.FirstAt), l.Sender, sender, l.Last, at(l.LastAt), l.Later, got("before", l.GotBefore), got("after", l.GotAfter))
	for _, side := range []struct {
		id string
		vs []View
	}{{l.Node, l.Views}, {l.Sender, l.SenderViews}} {
		fmt.Fprintf(&b, "\n  %s's views of %s:", side.id, l.Group)
		for _, v := range side.vs {
			kind := "regular"
			if v.Transitional {
				kind = "transitional"
			}
			fmt.Fprintf(&b, "\n    %s %s %s %v", at(v.At), kind, v.ID, v.Members)
		}
	}
	return b.String()
}

// OK reports whether nothing was lost or duplicated.
func (c Count) OK() bool { return c.Lost == 0 && c.Dup == 0 }

func (c Count) String() string {
	s := fmt.Sprintf("%s: %d sent, %d lost, %d duplicated", c.Phase, c.Sent, c.Lost, c.Dup)
	if c.Separated > 0 {
		s += fmt.Sprintf(", %d not delivered where the receiver was apart from the sender", c.Separated)
	}
	if len(c.Missing) > 0 {
		s += " (e.g. " + strings.Join(c.Missing, ", ") + ")"
	}
	return s
}

// Count waits up to timeout until every message that a node of ids sent
// in phase reached every node of ids whose client is in its group and
// that stayed connected with the sender, and counts what is missing then
// and what was delivered twice. A message is not owed to a node that was
// apart from its sender at some time from the send on (Apart, in the
// receiver's views or the sender's: a view without the other, or in a
// site's group a transitional view without it), nor to one that the
// sender's transitional view lacked when the sender got it
// (DeliveredApart), nor to one that left the sender's regular view of
// then through a transitional view without the sender (LeftApart); every
// duplicate counts.
func (w *World) Count(phase string, ids []string, timeout time.Duration) Count {
	w.mu.Lock()
	var want []sent
	for _, s := range w.sent {
		if s.phase == phase && slices.Contains(ids, s.node) {
			want = append(want, s)
		}
	}
	w.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		c := w.count(phase, want, ids, time.Now())
		if c.Lost == 0 || time.Now().After(deadline) {
			w.mu.Lock()
			w.lacks = append(w.lacks, c.Lacks...)
			w.mu.Unlock()
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count judges want (messages of phase) at the nodes ids as of now.
func (w *World) count(phase string, want []sent, ids []string, now time.Time) Count {
	views := map[string]map[string][]View{} // node -> group -> its views
	own := map[string]time.Time{}           // payload -> when its sender got it
	for _, id := range ids {
		n := w.nodes[id]
		n.mu.Lock()
		views[id] = map[string][]View{}
		for g, vs := range n.views {
			views[id][g] = slices.Clone(vs)
		}
		for _, s := range want {
			if t, ok := n.gotAt[s.payload]; ok && s.node == id {
				own[s.payload] = t
			}
		}
		n.mu.Unlock()
	}
	c := Count{Phase: phase, Sent: len(want)}
	for _, id := range ids {
		n := w.nodes[id]
		n.mu.Lock()
		lacks := map[[2]string]*Lack{} // sender, group -> what id lacks
		for _, s := range want {
			if !n.groups[s.group] || n.got[s.payload] > 0 {
				continue
			}
			_, _, _, at := parsePayload(s.payload)
			fed := w.federated(s.group)
			sv := viewAt(views[s.node][s.group], own[s.payload]) // the sender's view when it got it
			if Apart(views[id][s.group], w.Member(s.node), at, now, fed) || Apart(views[s.node][s.group], w.Member(id), at, now, fed) ||
				DeliveredApart(views[s.node][s.group], w.Member(id), own[s.payload]) ||
				sv != nil && !sv.Transitional && LeftApart(views[id][s.group], w.Member(s.node), sv.ID) {
				c.Separated++
				continue
			}
			c.Lost++
			if len(c.Missing) < 4 {
				c.Missing = append(c.Missing, id+" lacks "+strings.Fields(s.payload)[0])
			}
			i := payloadNumber(s.payload)
			l := lacks[[2]string{s.node, s.group}]
			if l == nil {
				l = &Lack{Node: id, Sender: s.node, Group: s.group, First: i, FirstAt: at, SenderGot: own[s.payload], Views: views[id][s.group], SenderViews: views[s.node][s.group], Start: w.start}
				lacks[[2]string{s.node, s.group}] = l
			}
			l.N++
			if i < l.First {
				l.First, l.FirstAt, l.SenderGot = i, at, own[s.payload]
			}
			if i >= l.Last {
				l.Last, l.LastAt = i, at
			}
		}
		before, after := map[*Lack]int{}, map[*Lack]int{} // the numbers of GotBefore, GotAfter
		for _, s := range want {
			l := lacks[[2]string{s.node, s.group}]
			if l == nil || n.got[s.payload] == 0 {
				continue
			}
			switch i := payloadNumber(s.payload); {
			case i < l.First && (l.GotBefore.IsZero() || i > before[l]):
				l.GotBefore, before[l] = n.gotAt[s.payload], i
			case i > l.Last:
				if l.Later == 0 || i < after[l] {
					l.GotAfter, after[l] = n.gotAt[s.payload], i
				}
				l.Later++
			}
		}
		for _, k := range slices.SortedFunc(maps.Keys(lacks), func(a, b [2]string) int {
			return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
		}) {
			c.Lacks = append(c.Lacks, *lacks[k])
		}
		for p, k := range n.got {
			if _, ph, _, _ := parsePayload(p); ph == phase {
				c.Dup += max(k-1, 0)
			}
		}
		n.mu.Unlock()
	}
	return c
}

// federated reports whether the plan puts group in a federation domain
// (a group it does not name is local to the sender's site).
func (w *World) federated(group string) bool {
	pl, ok := w.plan.Lookup(group)
	if !ok {
		return false
	}
	d, ok := w.plan.Domain(pl.Domain)
	return ok && d.Kind == topology.FederationDomain
}
