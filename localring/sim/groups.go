package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/internal/tracemap"
	"github.com/atoll-gcs/atoll/localring"
)

// Group traffic in the simulator: every ring node drives a groups.Node, as
// an agent does, and simulated clients on each node join and leave
// groups, multicast to one or several of them at every service level
// (Causal messages name their causal predecessors in the trace), send
// point-to-point messages and disconnect. The trace holds what the group
// layer produces (installs, sends, deliveries with their groups, views of
// every group), so the EVS checker judges group views and messages, not
// the raw ring.
//
// The cluster needs no change for this: the group layers get the ring
// events through Cluster.OnEvent, and their ring messages are handed to
// the ring nodes from RunUntil's per-step callback (drain), between steps
// and never inside a flush, in order, keeping what a node refuses.

// Group names and client names the simulated clients use. Group "locked"
// gets an ACL early in each run: only clients c1 and c2 may join and only
// c1 may send.
var (
	simGroups  = []string{"g1", "g2", "g3", "g4", "g5", "locked"}
	simClients = []string{"c1", "c2", "c3"}
)

// groupSim drives the group layer of every node of a cluster.
type groupSim struct {
	c     *Cluster
	rng   *rand.Rand
	slots []*groupSlot
	trace []evs.Event
	msgs  uint64 // payload counter
}

// groupSlot is the group layer of one node slot, for its current
// incarnation.
type groupSlot struct {
	inc    uint64
	g      *groups.Node
	queue  []groups.Submit            // ring messages the ring has not accepted yet
	recent []string                   // messages delivered in the current configuration, newest last
	deps   map[uint64][]string        // Causal messages' predecessors, by Message.Seq
	joined map[string]map[string]bool // client → groups it asked to join
}

func newGroupSim(c *Cluster, rng *rand.Rand) *groupSim {
	gs := &groupSim{c: c, rng: rng, slots: make([]*groupSlot, c.Size())}
	c.OnEvent = gs.onEvent
	return gs
}

// slot returns the group layer of slot i for the running incarnation,
// creating it when the node (re)started, and nil while the node is down.
func (gs *groupSim) slot(i int) *groupSlot {
	sn := gs.c.nodes[i]
	if sn.node == nil {
		gs.slots[i] = nil
		return nil
	}
	s := gs.slots[i]
	if s == nil || s.inc != sn.inc {
		g, err := groups.New(groups.Config{Node: localring.Member{ID: sn.id, Inc: sn.inc}, AllViews: true, WindowMsgs: 32})
		if err != nil {
			panic(fmt.Sprintf("sim: groups.New: %v", err))
		}
		s = &groupSlot{inc: sn.inc, g: g, deps: make(map[uint64][]string), joined: make(map[string]map[string]bool)}
		gs.slots[i] = s
	}
	return s
}

// onEvent feeds one ring event to its node's group layer (Cluster.OnEvent).
// It must not submit to the ring: flush is iterating the node's events.
func (gs *groupSim) onEvent(id localring.NodeID, inc uint64, e localring.Event) {
	i := gs.c.Index(id)
	s := gs.slot(i)
	if s == nil || s.inc != inc {
		return
	}
	s.g.Step(e)
	gs.collect(i, s)
}

// collect takes a group node's output: ring messages into the slot's
// queue, events into the trace.
func (gs *groupSim) collect(i int, s *groupSlot) {
	rd := s.g.Ready()
	s.queue = append(s.queue, rd.Submits...)
	sn := gs.c.nodes[i]
	p := tracemap.Proc{Node: string(sn.id), Inc: s.inc, Domain: Domain}
	for i := range rd.Events {
		e := &rd.Events[i]
		switch e.Kind {
		case groups.EventConf:
			s.recent = s.recent[:0]
		case groups.EventDeliver:
			if len(s.recent) == 8 {
				s.recent = append(s.recent[:0], s.recent[1:]...)
			}
			s.recent = append(s.recent, e.Msg.ID.String())
		case groups.EventReject:
			if e.Group != "" && errors.Is(e.Err, groups.ErrDenied) {
				if in := s.joined[e.Client]; in != nil {
					delete(in, e.Group)
				}
			}
		}
		line, ok := p.Group(e)
		if !ok {
			continue
		}
		if e.Kind == groups.EventSent && e.Msg.Svc == localring.Causal {
			line.Deps = s.deps[e.Msg.Seq]
			delete(s.deps, e.Msg.Seq)
		}
		gs.trace = append(gs.trace, line)
	}
}

// drain hands queued ring messages to the ring nodes, in order, until a
// ring refuses (back-pressure, or a paused node) or nothing is left. It
// runs between the cluster's steps, never inside a flush.
func (gs *groupSim) drain() {
	for progress := true; progress; {
		progress = false
		for i := range gs.slots {
			s := gs.slot(i)
			if s == nil {
				continue
			}
			gs.collect(i, s)
			for len(s.queue) > 0 {
				sub := s.queue[0]
				if err := gs.c.SubmitPayload(i, sub.Svc, sub.Payload); err != nil {
					break
				}
				s.queue = s.queue[1:]
				progress = true
				if gs.slot(i) != s {
					break
				}
			}
		}
	}
}

// run advances the cluster by d, handing group messages to the rings
// between steps; it stops early when until (if not nil) returns true.
func (gs *groupSim) run(d time.Duration, until func() bool) bool {
	return gs.c.RunUntil(gs.c.Now().Add(d), func() bool {
		gs.drain()
		return until != nil && until()
	})
}

// quietExcept reports whether every running node's group layer but the
// one in slot victim (none if -1) has agreed state and nothing left to
// send.
func (gs *groupSim) quietExcept(victim int) bool {
	if !gs.c.Quiet() {
		return false
	}
	for i := range gs.slots {
		s := gs.slot(i)
		if s == nil || i == victim {
			continue
		}
		if gs.c.nodes[i].paused || !s.g.Synced() || s.g.Pending() > 0 || len(s.queue) > 0 || s.g.HasReady() {
			return false
		}
	}
	return true
}

// offerGroupLoad makes the clients of every running node act for one step.
func (gs *groupSim) offerGroupLoad(mix Mix, step time.Duration) {
	perStep := float64(mix.Load) * step.Seconds() / 2
	for i := range gs.slots {
		s := gs.slot(i)
		if s == nil || gs.c.Paused(i) {
			continue
		}
		r := gs.rng
		client := simClients[r.IntN(len(simClients))]
		switch x := r.Float64(); {
		case x < 0.12:
			g := simGroups[r.IntN(len(simGroups))]
			if s.g.Join(client, g) == nil {
				in := s.joined[client]
				if in == nil {
					in = make(map[string]bool)
					s.joined[client] = in
				}
				in[g] = true
			}
		case x < 0.2:
			if in := s.joined[client]; len(in) > 0 {
				names := make([]string, 0, len(in))
				for g := range in {
					names = append(names, g)
				}
				slices.Sort(names)
				g := names[r.IntN(len(names))]
				if s.g.Leave(client, g) == nil {
					delete(in, g)
				}
			}
		case x < 0.21:
			if s.g.Disconnect(client) == nil {
				delete(s.joined, client)
			}
		}
		n := int(perStep)
		if r.Float64() < perStep-float64(n) {
			n++
		}
		for ; n > 0; n-- {
			gs.multicast(s, mix)
		}
		gs.collect(i, s)
	}
	gs.drain()
}

// multicast sends one message from a random client of slot s: to one to
// three groups, or now and then point-to-point, at a random service level.
func (gs *groupSim) multicast(s *groupSlot, mix Mix) {
	r := gs.rng
	client := simClients[r.IntN(len(simClients))]
	svc := localring.Service(1 + r.IntN(6))
	if svc == localring.Safe && !mix.SafeMsgs {
		svc = localring.Agreed
	}
	gs.msgs++
	size := 16 + r.IntN(300)
	if mix.BigMsgs && r.IntN(40) == 0 {
		size = 2000 + r.IntN(64<<10)
	}
	payload := make([]byte, size)
	binary.BigEndian.PutUint64(payload, gs.msgs)
	binary.BigEndian.PutUint64(payload[size-8:], gs.msgs)
	var seq uint64
	var err error
	if r.IntN(10) == 0 {
		to := groups.MemberName(gs.c.NodeID(r.IntN(gs.c.Size())), simClients[r.IntN(len(simClients))])
		seq, err = s.g.Send(client, to, svc, uint16(r.IntN(4)), payload)
	} else {
		var dst []string
		for k := 1 + r.IntN(3); k > 0; k-- {
			dst = append(dst, simGroups[r.IntN(len(simGroups))])
		}
		seq, err = s.g.Multicast(client, svc, uint16(r.IntN(4)), dst, payload)
	}
	if err == nil && svc == localring.Causal && len(s.recent) > 0 {
		// What this node delivered just before: the message's causal past
		// within the configuration (the checker ignores older ones).
		k := min(len(s.recent), 1+r.IntN(3))
		s.deps[seq] = slices.Clone(s.recent[len(s.recent)-k:])
	}
}

// checkAgreement compares the group state of the running nodes of live:
// after a quiet end, every one must know the same groups with the same
// current views.
func (gs *groupSim) checkAgreement(live []evs.Proc) []evs.Violation {
	var ref []string
	var refNode string
	for i := range gs.slots {
		s := gs.slot(i)
		if s == nil || !slices.Contains(live, evs.Proc{Node: string(gs.c.NodeID(i)), Inc: s.inc}) {
			continue
		}
		var st []string
		for _, name := range s.g.Groups() {
			v, _ := s.g.View(name)
			st = append(st, fmt.Sprintf("%s=%s%v", name, v.ID, v.Members))
		}
		id := string(gs.c.NodeID(i))
		if ref == nil {
			ref, refNode = st, id
			continue
		}
		if !slices.Equal(st, ref) {
			return []evs.Violation{{Property: evs.ViewAgreement, Domain: Domain,
				Detail: fmt.Sprintf("after the run settled, %s's groups are %v but %s's are %v", id, st, refNode, ref)}}
		}
	}
	return nil
}

// GroupsResult is the outcome of one random run with group traffic.
type GroupsResult struct {
	Result
	Trace []evs.Event // the group-level trace the checker judged
	Views int         // view events in the trace
}

// TraceBytes returns the group-level trace as JSON lines.
func (r *GroupsResult) TraceBytes() []byte {
	var b strings.Builder
	w := evs.NewWriter(&b)
	for _, e := range r.Trace {
		_ = w.Write(e)
	}
	return []byte(b.String())
}

// RunGroups performs one random run with group traffic: the seed's fault
// mix (the same choice as Run's for that seed, its persistent fault
// included) under simulated clients of the group layer, then a liveness
// phase that must converge to one ring and one group state at every
// running node (but the victim of the persistent fault, if the ring took
// it out) and deliver traffic sent after it; the EVS checker judges the
// group-level trace.
func RunGroups(seed uint64, opts RunOptions) *GroupsResult {
	if opts.Safety == 0 {
		opts.Safety = 3 * time.Second
	}
	if opts.Liveness == 0 {
		opts.Liveness = 10 * time.Second
	}
	rng := rand.New(rand.NewPCG(seed, 0xa7011))
	mix := PickMix(rng)
	// As Run: from its own source, so that a seed's other choices stay
	// those it had before persistent faults came to these runs.
	pers := PickPersistent(rand.New(rand.NewPCG(seed, 0x9e15)), mix.Nodes)
	mix.Persistent = pers.String()
	c := NewCluster(rng.Uint64(), mix.Nodes)
	c.Log = opts.LogTo
	c.SetFaults(mix.Faults)
	c.startAt(opts)
	gs := newGroupSim(c, rand.New(rand.NewPCG(rng.Uint64(), 0x9e0c)))
	c.StartAll()
	if s := gs.slot(0); s != nil {
		_ = s.g.SetACL("c1", "locked", groups.ACL{Join: []string{"*:c1", "*:c2"}, Send: []string{"*:c1"}})
		gs.collect(0, s)
	}
	gs.drain()

	end := c.Now().Add(opts.Safety)
	nextFault := c.Now().Add(time.Duration(100+rng.IntN(400)) * time.Millisecond)
	step := 5 * time.Millisecond
	for c.Now().Before(end) {
		gs.offerGroupLoad(mix, step)
		if !c.Now().Before(nextFault) {
			c.injectFault(rng, mix)
			nextFault = c.Now().Add(time.Duration(50+rng.IntN(600)) * time.Millisecond)
		}
		gs.run(step, nil)
	}

	c.SetFaults(Faults{BaseDelay: mix.Faults.BaseDelay, Jitter: mix.Faults.Jitter, SocketBuffer: mix.Faults.SocketBuffer})
	c.Heal()
	for i := 0; i < c.Size(); i++ {
		c.Resume(i)
		if !c.Alive(i) && rng.IntN(2) == 0 {
			c.Start(i)
		}
	}
	if !c.anyAlive() {
		c.Start(0)
	}
	// A persistent fault stays on (Run): the ring must work around it or
	// take its victim out, and the others must settle on one ring and
	// one group state that delivers.
	victim := pers.apply(c)
	gs.drain()
	res := &GroupsResult{Result: Result{Seed: seed, Mix: mix, Cluster: c}}
	settled := func() bool { return c.convergedExcept(victim) && gs.quietExcept(victim) }
	converged := gs.run(opts.Liveness, settled)
	var conv []evs.Violation
	if !converged {
		conv = append(conv, evs.Violation{Property: evs.Liveness, Domain: Domain,
			Detail: fmt.Sprintf("running nodes (but the victim of %q) did not settle on one ring and one group state within %v of the faults stopping: %s%s", mix.Persistent, opts.Liveness, c.describe(), gs.describe())})
	} else {
		// Traffic after convergence must reach everyone.
		for i := range gs.slots {
			if s := gs.slot(i); s != nil && i != victim {
				for k, svc := range []localring.Service{localring.Agreed, localring.Safe, localring.Causal, localring.FIFO} {
					_, _ = s.g.Multicast(simClients[k%len(simClients)], svc, 1, []string{simGroups[k]}, []byte("after "+strconv.Itoa(k)))
				}
				gs.collect(i, s)
			}
		}
		gs.drain()
		gs.run(opts.Liveness, func() bool { return gs.quietExcept(victim) })
		gs.run(200*time.Millisecond, nil)
		if pers.Kind != "" {
			// As Run: the fault may still change the ring now and then;
			// end where the others' ring is whole, settled and unchanged
			// for lanPacing.steady.
			steady := c.steadyFor(lanPacing.steady, victim)
			if !gs.run(opts.Liveness, func() bool { return steady() && settled() }) {
				conv = append(conv, evs.Violation{Property: evs.Liveness, Domain: Domain,
					Detail: fmt.Sprintf("running nodes (but the victim of %q) did not stay on one ring and one group state for %v within %v: %s%s", mix.Persistent, lanPacing.steady, opts.Liveness, c.describe(), gs.describe())})
			}
		}
		live := c.Live()
		if victim >= 0 && !c.inHealthyRing(victim) {
			live = slices.DeleteFunc(live, func(p evs.Proc) bool { return p.Node == string(c.NodeID(victim)) })
		}
		conv = append(conv, evs.CheckConverged(gs.trace, live)...)
		conv = append(conv, gs.checkAgreement(live)...)
	}
	res.Violations = append(evs.Check(gs.trace, evs.Options{Failed: c.Failed(), Quiescent: converged}), conv...)
	res.Elapsed = c.Elapsed()
	res.Injected = c.Injected()
	res.Trace = gs.trace
	res.Events = len(gs.trace)
	for _, e := range gs.trace {
		switch e.Ev {
		case evs.EvDeliver:
			res.Delivered++
		case evs.EvInstall:
			res.Installs++
		case evs.EvView:
			res.Views++
		}
	}
	return res
}

func (gs *groupSim) describe() string {
	var b strings.Builder
	for i := range gs.slots {
		if s := gs.slot(i); s != nil {
			fmt.Fprintf(&b, "; %s groups synced=%t pending=%d queued=%d", gs.c.NodeID(i), s.g.Synced(), s.g.Pending(), len(s.queue))
		}
	}
	return b.String()
}
