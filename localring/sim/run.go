package sim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// Mix is the fault mix of a run, picked from the seed.
type Mix struct {
	Nodes      int
	Faults     Faults
	Crash      bool // crash and restart nodes
	Pause      bool // pause nodes, also past the token timeout
	Partition  bool // symmetric partitions, flapping
	Asymmetric bool // one-way link loss, non-transitive bridges, clogging
	BigMsgs    bool // fragmented messages up to 256 KiB
	SafeMsgs   bool // a share of Safe messages
	Load       int  // messages per node per second
	// Persistent is a partial fault that stays on through the liveness
	// phase (PickPersistent), "" for none.
	Persistent string
	// IDBytes is the ring's node id bound (localring.Config.MaxIDBytes)
	// when the run sets one, its node ids that long (PickIDs); 0 for the
	// default bound and ids n1..nN.
	IDBytes int
	// BusyRotation is the representative's hold of a lightly loaded
	// ring's token (localring.Config.BusyRotation) when the run sets one
	// (half of them, PickBusyRotation); 0 for none.
	BusyRotation time.Duration
	// IdleLinger is how long the representative keeps the token rotating
	// after another member's message before it holds it as idle
	// (localring.Config.IdleLinger) when the run sets one (half of them,
	// PickIdleLinger); 0 for none.
	IdleLinger time.Duration
}

// Parts describes the packet faults of f as key=value words, one per kind
// that is on (none when f injects nothing), for logs: Mix.String and the
// hierarchy simulator's Network.
func (f Faults) Parts() []string {
	var parts []string
	if f.Loss+f.McastLoss+f.TokenLoss > 0 {
		parts = append(parts, fmt.Sprintf("loss=%.2f mcast=%.2f token=%.2f burst=%.2f/%d", f.Loss, f.McastLoss, f.TokenLoss, f.BurstLoss, f.BurstPackets))
	}
	if f.Duplicate > 0 {
		parts = append(parts, fmt.Sprintf("dup=%.2f", f.Duplicate))
	}
	if f.Reorder > 0 {
		parts = append(parts, fmt.Sprintf("reorder=%.2f/%v", f.Reorder, f.ReorderDelay))
	}
	if f.CorruptBytes > 0 {
		parts = append(parts, fmt.Sprintf("corrupt=%.3f", f.CorruptBytes))
	}
	if f.StaleReplay > 0 {
		parts = append(parts, fmt.Sprintf("stale=%.3f", f.StaleReplay))
	}
	return parts
}

func (m Mix) String() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("nodes=%d load=%d/s", m.Nodes, m.Load))
	parts = append(parts, m.Faults.Parts()...)
	for _, b := range []struct {
		on   bool
		name string
	}{{m.Crash, "crash"}, {m.Pause, "pause"}, {m.Partition, "partition"}, {m.Asymmetric, "asymmetric"}, {m.BigMsgs, "big"}, {m.SafeMsgs, "safe"}} {
		if b.on {
			parts = append(parts, b.name)
		}
	}
	if m.BusyRotation > 0 {
		parts = append(parts, fmt.Sprintf("busy=%v", m.BusyRotation))
	}
	if m.IdleLinger > 0 {
		parts = append(parts, fmt.Sprintf("linger=%v", m.IdleLinger))
	}
	if m.IDBytes > 0 {
		parts = append(parts, fmt.Sprintf("ids=%d", m.IDBytes))
	}
	if m.Persistent != "" {
		parts = append(parts, "persistent: "+m.Persistent)
	}
	return strings.Join(parts, " ")
}

// PickMix chooses a fault mix from rng: every run gets a different
// combination, from a perfect network to everything at once.
func PickMix(rng *rand.Rand) Mix {
	m := Mix{Nodes: 2 + rng.IntN(8), Load: 50 + rng.IntN(400)}
	f := Faults{BaseDelay: time.Duration(50+rng.IntN(400)) * time.Microsecond, SocketBuffer: 64 + rng.IntN(512)}
	f.Jitter = f.BaseDelay / 2
	chance := func(p float64) bool { return rng.Float64() < p }
	if chance(0.6) {
		switch rng.IntN(4) {
		case 0:
			f.Loss = 0.01 + 0.29*rng.Float64()
		case 1:
			f.McastLoss = 0.01 + 0.29*rng.Float64()
		case 2:
			f.TokenLoss = 0.01 + 0.29*rng.Float64()
		default:
			f.Loss = 0.01 + 0.1*rng.Float64()
			f.BurstLoss = 0.2 + 0.5*rng.Float64()
			f.BurstPackets = 2 + rng.IntN(20)
		}
	}
	if chance(0.4) {
		f.Duplicate = 0.01 + 0.2*rng.Float64()
	}
	if chance(0.4) {
		f.Reorder = 0.05 + 0.3*rng.Float64()
		f.ReorderDelay = time.Duration(1+rng.IntN(20)) * time.Millisecond
	}
	if chance(0.2) {
		f.CorruptBytes = 0.001 + 0.01*rng.Float64()
	}
	if chance(0.2) {
		f.StaleReplay = 0.001 + 0.02*rng.Float64()
	}
	m.Faults = f
	m.Crash = chance(0.5)
	m.Pause = chance(0.4)
	m.Partition = chance(0.5)
	m.Asymmetric = chance(0.3)
	m.BigMsgs = chance(0.3)
	m.SafeMsgs = chance(0.6)
	return m
}

// PickIDs chooses the node ids of a run of n ≤ 9 nodes and their bound
// (localring.Config.MaxIDBytes) from rng, from their own source so that
// a seed's other choices stay what they were: a third of the runs keep
// the default bound (0) with ids n1..nN, a third bound them to 2 bytes
// (n1..n9), and a third to 4 (n001..n009). Every id is as long as the
// bound, so recovery wraps packets in headers as large as it allows.
func PickIDs(rng *rand.Rand, n int) ([]localring.NodeID, int) {
	bound := []int{0, 2, 4}[rng.IntN(3)]
	ids := make([]localring.NodeID, n)
	for i := range ids {
		if bound == 4 {
			ids[i] = localring.NodeID(fmt.Sprintf("n%03d", i+1))
		} else {
			ids[i] = localring.NodeID(fmt.Sprintf("n%d", i+1))
		}
		if bound > 0 {
			bound = max(bound, len(ids[i]))
		}
	}
	return ids, bound
}

// PickBusyRotation chooses a run's localring.Config.BusyRotation from
// rng, from its own source so that a seed's other choices stay what they
// were: none in half of the runs, else 0.5 to 2 ms.
func PickBusyRotation(rng *rand.Rand) time.Duration {
	if rng.IntN(2) == 0 {
		return 0
	}
	return 500*time.Microsecond + time.Duration(rng.Int64N(int64(1500*time.Microsecond)))
}

// PickIdleLinger chooses a run's localring.Config.IdleLinger from rng,
// from its own source so that a seed's other choices stay what they were:
// none in half of the runs, else 1 to 10 ms.
func PickIdleLinger(rng *rand.Rand) time.Duration {
	if rng.IntN(2) == 0 {
		return 0
	}
	return time.Millisecond + time.Duration(rng.Int64N(int64(9*time.Millisecond)))
}

// Result is the outcome of one random run.
type Result struct {
	Seed       uint64
	Mix        Mix
	Violations []evs.Violation
	Events     int
	Delivered  int
	Installs   int
	Injected   Injected      // the faults the run really injected
	Elapsed    time.Duration // virtual
	Cluster    *Cluster
}

// Failed reports whether the run broke a property.
func (r *Result) Failed() bool { return len(r.Violations) > 0 }

// RunOptions shapes a random run.
type RunOptions struct {
	Safety   time.Duration // virtual time under faults; default 3 s
	Liveness time.Duration // bound for convergence with faults off; default 10 s
	LogTo    io.Writer     // if set, a human-readable log of the run

	// RingSeq and StartSeq start every node's ring sequence number (as if
	// persisted) and every ring's packet sequence numbers
	// (localring.Config.StartSeq) just below a boundary, for the
	// wrap-around tests (EVS.md: "sequence numbers near wrap-around").
	// Default 0.
	RingSeq, StartSeq uint64
}

// startAt applies RunOptions.RingSeq and StartSeq to a cluster whose nodes
// have not started.
func (c *Cluster) startAt(opts RunOptions) {
	c.Config.StartSeq = opts.StartSeq
	for _, sn := range c.nodes {
		sn.ringSeq = opts.RingSeq
	}
}

// Run performs one random run: a safety phase under the seed's fault mix,
// then a liveness phase with faults off that must converge to one ring of
// every running node and deliver traffic sent after it, and finally runs
// the EVS checker over all traces.
func Run(seed uint64, opts RunOptions) *Result {
	if opts.Safety == 0 {
		opts.Safety = 3 * time.Second
	}
	if opts.Liveness == 0 {
		opts.Liveness = 10 * time.Second
	}
	rng := rand.New(rand.NewPCG(seed, 0xa7011))
	mix := PickMix(rng)
	// From its own source, so that the other faults of a seed stay those
	// it had before persistent faults existed.
	pers := PickPersistent(rand.New(rand.NewPCG(seed, 0x9e15)), mix.Nodes)
	mix.Persistent = pers.String()
	ids, bound := PickIDs(rand.New(rand.NewPCG(seed, 0x1db)), mix.Nodes)
	mix.IDBytes = bound
	c := NewClusterOf(rng.Uint64(), ids)
	c.Config.MaxIDBytes = bound
	mix.BusyRotation = PickBusyRotation(rand.New(rand.NewPCG(seed, 0xb05e)))
	c.Config.BusyRotation = mix.BusyRotation
	mix.IdleLinger = PickIdleLinger(rand.New(rand.NewPCG(seed, 0x1d1e)))
	c.Config.IdleLinger = mix.IdleLinger
	c.Log = opts.LogTo
	c.SetFaults(mix.Faults)
	c.startAt(opts)
	c.StartAll()
	return c.play(seed, rng, mix, pers, opts, lanPacing)
}

// pacing is the time scale of a random run: how often faults come and
// how long the phases last, in proportion to the ring's timers.
type pacing struct {
	step                    time.Duration // load and faults are applied every step
	firstFault, firstSpread time.Duration // the first fault after firstFault + [0, firstSpread)
	faultGap, gapSpread     time.Duration // later faults after faultGap + [0, gapSpread)
	settle                  time.Duration // traffic after convergence runs this long first
	// steady is how long the others' ring must go unchanged before a run
	// with a persistent fault ends.
	steady time.Duration
}

// lanPacing is the pace of local ring runs.
var lanPacing = pacing{step: 5 * time.Millisecond, firstFault: 100 * time.Millisecond, firstSpread: 400 * time.Millisecond,
	faultGap: 50 * time.Millisecond, gapSpread: 600 * time.Millisecond, settle: 500 * time.Millisecond,
	steady: time.Second}

// play runs the safety phase, the liveness phase and the checks on a
// started cluster.
func (c *Cluster) play(seed uint64, rng *rand.Rand, mix Mix, pers Persistent, opts RunOptions, pc pacing) *Result {
	ms := func(spread time.Duration) time.Duration {
		return time.Duration(rng.IntN(int(spread/time.Millisecond))) * time.Millisecond
	}
	// Safety phase: load and faults.
	end := c.Now().Add(opts.Safety)
	nextFault := c.Now().Add(pc.firstFault + ms(pc.firstSpread))
	step := pc.step
	for c.Now().Before(end) {
		c.offerLoad(rng, mix, step)
		if !c.Now().Before(nextFault) {
			c.injectFault(rng, mix)
			nextFault = c.Now().Add(pc.faultGap + ms(pc.gapSpread))
		}
		c.RunFor(step)
	}

	// Liveness phase: faults off, everything healed and resumed; crashed
	// nodes come back half of the time.
	c.SetFaults(Faults{BaseDelay: mix.Faults.BaseDelay, Jitter: mix.Faults.Jitter, SocketBuffer: mix.Faults.SocketBuffer})
	c.Heal()
	for i := 0; i < c.Size(); i++ {
		c.Resume(i)
		if !c.Alive(i) && rng.IntN(2) == 0 {
			c.Start(i)
		}
	}
	if !c.Alive(0) && !c.anyAlive() {
		c.Start(0)
	}
	// A persistent fault stays on: the ring must work around it (a lossy
	// link) or take its victim out (a node whose multicasts never arrive,
	// or that receives none), and the others must form one ring that
	// delivers.
	victim := pers.apply(c)
	res := &Result{Seed: seed, Mix: mix, Cluster: c}
	converged := c.RunUntil(c.Now().Add(opts.Liveness), func() bool { return c.convergedExcept(victim) })
	var conv []evs.Violation
	if !converged {
		conv = append(conv, evs.Violation{Property: evs.Liveness, Domain: c.Domain(),
			Detail: fmt.Sprintf("running nodes (but the victim of %q) did not form one ring of all of them within %v of the faults stopping: %s", mix.Persistent, opts.Liveness, c.describe())})
	} else {
		// Traffic after convergence must reach everyone.
		delivered := c.deliveredSince(len(c.Trace()), victim)
		for i := 0; i < c.Size(); i++ {
			if c.Alive(i) && i != victim {
				for k := 0; k < 3; k++ {
					_ = c.Submit(i, localring.Agreed, 100)
				}
				_ = c.Submit(i, localring.Safe, 100)
			}
		}
		c.RunFor(pc.settle)
		c.RunUntil(c.Now().Add(opts.Liveness), func() bool { return c.Quiet() })
		c.RunFor(pc.settle)
		if pers.Kind != "" {
			// A persistent fault may still change the ring now and then (a
			// token lost on the lossy link, a quarantine that ran out), and
			// taking its victim out takes FailRecvRotations rotations, which
			// last seconds on a WAN: end the run where the ring is whole
			// again, has delivered the traffic and has not changed for
			// pc.steady. A ring that keeps re-forming (a victim's
			// merge-detects pulling the others into a round at every merge
			// interval) is not one ring that delivers, and a run that ended
			// in the middle of such a round left its members' traces cut
			// short.
			steady := c.steadyFor(pc.steady, victim)
			whole := func() bool { return steady() && c.convergedExcept(victim) && c.Quiet() }
			if !c.RunUntil(c.Now().Add(opts.Liveness), func() bool { return whole() && delivered() }) && !whole() &&
				!c.RunUntil(c.Now().Add(opts.Liveness), whole) {
				// (Delivered may never hold: the messages a healthy node
				// sent while the ring had left it out for a while reach
				// only the members of its configuration then, as EVS
				// allows; the checks below judge them.)
				conv = append(conv, evs.Violation{Property: evs.Liveness, Domain: c.Domain(),
					Detail: fmt.Sprintf("running nodes (but the victim of %q) did not stay in one ring of all of them for %v within %v: %s", mix.Persistent, pc.steady, opts.Liveness, c.describe())})
			}
		}
		live := c.Live()
		if victim >= 0 && !c.inHealthyRing(victim) {
			live = slices.DeleteFunc(live, func(p evs.Proc) bool { return p.Node == string(c.NodeID(victim)) })
		}
		conv = append(conv, evs.CheckConverged(c.Trace(), live)...)
	}
	res.Violations = append(evs.Check(c.Trace(), evs.Options{Failed: c.Failed(), Quiescent: converged}), conv...)
	res.Violations = append(res.Violations, c.FenceViolations()...)
	res.Violations = append(res.Violations, c.PacketViolations()...)
	res.Elapsed = c.Elapsed()
	res.Injected = c.Injected()
	res.Events = len(c.Trace())
	for _, e := range c.Trace() {
		switch e.Ev {
		case evs.EvDeliver:
			res.Delivered++
		case evs.EvInstall:
			res.Installs++
		}
	}
	return res
}

// Persistent is a partial fault that lasts through the liveness phase.
// Node and From are ring members: slots of a local ring's cluster, sites
// (in the order of the cluster's slots) of a federation ring's, whose
// running gateway the fault strikes.
type Persistent struct {
	Kind   string  // "mute", "deaf", "lossy-link" or "" for none
	Node   int     // the victim (mute, deaf) or the link's receiver
	From   int     // the lossy link's sender
	Loss   float64 // the lossy link's loss probability
	victim bool
	// names, when set, names the members (sites) in String; else nN.
	names []string
}

func (p Persistent) String() string {
	switch p.Kind {
	case "mute":
		return fmt.Sprintf("multicasts from %s never arrive", p.name(p.Node))
	case "deaf":
		return fmt.Sprintf("%s receives no multicasts", p.name(p.Node))
	case "lossy-link":
		return fmt.Sprintf("link %s->%s loses %.2f", p.name(p.From), p.name(p.Node), p.Loss)
	}
	return ""
}

func (p Persistent) name(i int) string {
	if p.names != nil {
		return p.names[i]
	}
	return fmt.Sprintf("n%d", i+1)
}

// PickPersistent chooses, for a third of the seeds, a partial fault that
// persists through the liveness phase: one node's multicasts lost (its
// tokens pass), one node receiving no multicasts (deaf), or a lossy link
// that never heals. In a ring of two the first two cannot tell the victim
// from the healthy node, so it gets only lossy links.
func PickPersistent(rng *rand.Rand, nodes int) Persistent {
	if rng.IntN(3) != 0 {
		return Persistent{}
	}
	p := Persistent{Node: rng.IntN(nodes)}
	k := rng.IntN(3)
	if nodes < 3 {
		k = 2
	}
	switch k {
	case 0:
		p.Kind, p.victim = "mute", true
	case 1:
		p.Kind, p.victim = "deaf", true
	default:
		p.Kind = "lossy-link"
		p.From = (p.Node + 1 + rng.IntN(nodes-1)) % nodes
		p.Loss = 0.05 + 0.25*rng.Float64()
	}
	return p
}

// apply switches the fault on and returns the slot of the node the ring
// must take out, or -1.
func (p Persistent) apply(c *Cluster) int {
	node := c.memberSlot(p.Node)
	switch p.Kind {
	case "mute":
		c.MuteMulticast(node, 1)
	case "deaf":
		c.DeafMulticast(node, 1)
	case "lossy-link":
		c.LossyLink(c.memberSlot(p.From), node, p.Loss)
	}
	if !p.victim {
		return -1
	}
	return node
}

// memberSlot returns the slot that speaks for ring member i (the i-th
// distinct id of the cluster's slots) now: the newest running one, else
// the member's first slot.
func (c *Cluster) memberSlot(i int) int {
	var ids []localring.NodeID
	for _, sn := range c.nodes {
		if !slices.Contains(ids, sn.id) {
			ids = append(ids, sn.id)
		}
	}
	if sn := c.newest(ids[i]); sn != nil {
		return sn.idx
	}
	return c.Index(ids[i])
}

// convergedExcept is Converged, except that the node in slot victim (if
// not -1) may be in a ring of its own: the others must be operational in
// one regular configuration of all of them (with the victim or without).
func (c *Cluster) convergedExcept(victim int) bool {
	if victim < 0 || !c.Alive(victim) {
		return c.Converged()
	}
	var want []string
	for i, sn := range c.nodes {
		if sn.node != nil && i != victim {
			if sn.paused || c.newest(sn.id) != sn || sn.id == c.nodes[victim].id {
				return false // paused, or an old incarnation still runs
			}
			want = append(want, string(sn.id))
		}
	}
	if len(want) == 0 {
		return c.Converged() // the victim runs alone
	}
	slices.Sort(want)
	var id string
	for i, sn := range c.nodes {
		if sn.node == nil || i == victim {
			continue
		}
		conf := sn.node.Configuration()
		if conf == nil || sn.node.State() != "operational" {
			return false
		}
		got := slices.DeleteFunc(conf.MemberIDs(), func(m string) bool { return m == string(c.NodeID(victim)) })
		if !slices.Equal(got, want) {
			return false
		}
		if id == "" {
			id = conf.ID
		} else if conf.ID != id {
			return false
		}
	}
	return id != ""
}

// deliveredSince returns a condition that holds once every running process
// but the one in slot victim has delivered every message that those
// processes sent from position mark of the trace on, and, while the victim
// is still in their ring, every member of it has delivered every message
// sent in it (the victim's own, queued before mark, included: until the
// ring takes a mute victim out, its messages stay missing at the others,
// and the ring's order holds everything after them back). It reads only
// the trace events added since its last call.
func (c *Cluster) deliveredSince(mark, victim int) func() bool {
	sent := map[string]bool{}
	got := map[evs.Proc]int{}
	all := 0                                // the whole trace, for the two below
	sentIn := map[string]int{}              // messages sent per configuration
	inConf := map[evs.Proc]map[string]int{} // deliveries per process and configuration
	return func() bool {
		for ; all < len(c.trace); all++ {
			switch e := c.trace[all]; e.Ev {
			case evs.EvSend:
				sentIn[e.ConfID]++
			case evs.EvDeliver:
				p := evs.Proc{Node: e.Node, Inc: e.Inc}
				if inConf[p] == nil {
					inConf[p] = map[string]int{}
				}
				inConf[p][e.ConfID]++
			}
		}
		for ; mark < len(c.trace); mark++ {
			e := c.trace[mark]
			switch {
			case c.byVictim(e, victim):
			case e.Ev == evs.EvSend:
				sent[e.Msg] = true
			case e.Ev == evs.EvDeliver && sent[e.Msg]:
				got[evs.Proc{Node: e.Node, Inc: e.Inc}]++
			}
		}
		whole := c.victimInRing(victim)
		for i, sn := range c.nodes {
			if sn.node == nil {
				continue
			}
			p := evs.Proc{Node: string(sn.id), Inc: sn.inc}
			if i != victim && got[p] < len(sent) {
				return false
			}
			if whole {
				conf := sn.node.Configuration()
				if conf == nil || inConf[p][conf.ID] < sentIn[conf.ID] {
					return false
				}
			}
		}
		return true
	}
}

// steadyFor returns a condition that holds once no running process but the
// one in slot victim has installed a configuration for d. It reads only
// the trace events added since its last call.
func (c *Cluster) steadyFor(d time.Duration, victim int) func() bool {
	seen, last := len(c.trace), c.Now()
	return func() bool {
		for ; seen < len(c.trace); seen++ {
			e := c.trace[seen]
			if e.Ev == evs.EvInstall && !c.byVictim(e, victim) {
				last = c.Now()
			}
		}
		return c.Now().Sub(last) >= d
	}
}

// byVictim reports whether trace event e is of the process in slot victim
// (never when victim is -1).
func (c *Cluster) byVictim(e evs.Event, victim int) bool {
	return victim >= 0 && e.Node == string(c.nodes[victim].id) && e.Inc == c.nodes[victim].inc
}

// victimInRing reports whether the others' configuration (the first
// running slot's but the victim's) still has the victim in slot victim as
// a member, whatever state the victim is in.
func (c *Cluster) victimInRing(victim int) bool {
	if victim < 0 || !c.Alive(victim) {
		return false
	}
	v := c.nodes[victim]
	for i, sn := range c.nodes {
		if sn.node == nil || i == victim {
			continue
		}
		conf := sn.node.Configuration()
		return conf != nil && slices.Contains(conf.Members, localring.Member{ID: v.id, Inc: v.inc})
	}
	return false
}

// inHealthyRing reports whether the victim of a persistent fault is in the
// same ring as the other running nodes (a mute node that sends nothing may
// stay in it: the ring has nothing to miss).
func (c *Cluster) inHealthyRing(victim int) bool {
	v := c.Node(victim)
	if v == nil || v.Configuration() == nil {
		return false
	}
	for i := 0; i < c.Size(); i++ {
		if n := c.Node(i); i != victim && n != nil {
			return n.Configuration() != nil && n.Configuration().ID == v.Configuration().ID && v.State() == n.State()
		}
	}
	return false
}

func (c *Cluster) anyAlive() bool {
	for i := 0; i < c.Size(); i++ {
		if c.Alive(i) {
			return true
		}
	}
	return false
}

func (c *Cluster) describe() string {
	var b strings.Builder
	for _, sn := range c.nodes {
		switch {
		case sn.node == nil:
			fmt.Fprintf(&b, "%s crashed; ", sn.id)
		default:
			conf := "none"
			if cf := sn.node.Configuration(); cf != nil {
				conf = fmt.Sprintf("%s %v", cf.ID, cf.MemberIDs())
			}
			fmt.Fprintf(&b, "%s#%d %s in %s; ", sn.id, sn.inc, sn.node.State(), conf)
		}
	}
	return b.String()
}

// offerLoad submits the mix's load for one step of the given length.
func (c *Cluster) offerLoad(rng *rand.Rand, mix Mix, step time.Duration) {
	perStep := float64(mix.Load) * step.Seconds()
	for i := 0; i < c.Size(); i++ {
		if !c.Alive(i) || c.Paused(i) {
			continue
		}
		n := int(perStep)
		if rng.Float64() < perStep-float64(n) {
			n++
		}
		for ; n > 0; n-- {
			svc := localring.Agreed
			switch r := rng.IntN(10); {
			case mix.SafeMsgs && r < 3:
				svc = localring.Safe
			case r == 3:
				svc = localring.FIFO
			case r == 4:
				svc = localring.Reliable
			}
			size := 16 + rng.IntN(1200)
			if mix.BigMsgs && rng.IntN(20) == 0 {
				size = 2000 + rng.IntN(256<<10)
			}
			_ = c.Submit(i, svc, size) // back-pressure errors are part of the game
		}
	}
}

// injectFault applies one fault of the mix.
func (c *Cluster) injectFault(rng *rand.Rand, mix Mix) {
	n := c.Size()
	i := rng.IntN(n)
	var actions []func()
	if mix.Crash {
		actions = append(actions, func() {
			if c.Alive(i) {
				c.Crash(i)
			} else {
				c.Start(i)
			}
		})
		// Crashes inside the membership protocol (gather, commit,
		// recovery) are where rings are most fragile: aim for them.
		actions = append(actions, func() {
			for k := 0; k < n; k++ {
				j := (i + k) % n
				if c.Alive(j) && c.Node(j).State() != "operational" {
					c.logf("crash %s during %s", c.NodeID(j), c.Node(j).State())
					c.Crash(j)
					return
				}
			}
		})
	}
	if mix.Pause {
		actions = append(actions, func() {
			if c.Paused(i) {
				c.Resume(i)
			} else {
				c.Pause(i)
			}
		})
	}
	if mix.Partition {
		actions = append(actions, func() {
			if rng.IntN(3) == 0 {
				c.Heal()
				c.net.counts.Heals++
				c.logf("heal")
				return
			}
			perm := rng.Perm(n)
			cut := 1 + rng.IntN(max(1, n-1))
			c.Partition(perm[:cut], perm[cut:])
			c.net.counts.Partitions++
		})
	}
	if mix.Asymmetric {
		actions = append(actions, func() {
			j := rng.IntN(n)
			switch rng.IntN(3) {
			case 0: // one direction only
				c.Block(i, j)
				if i != j {
					c.net.counts.OneWay++
				}
				c.logf("block %d->%d", i, j)
			case 1: // non-transitive: i and j cannot talk, both talk to the rest
				c.Block(i, j)
				c.Block(j, i)
				if i != j {
					c.net.counts.Bridges++
				}
				c.logf("bridge: cut %d<->%d only", i, j)
			default: // clogging: cut a random set of a node's outgoing links at once, unblock random links
				for k := 0; k < n; k++ {
					if k != i && rng.IntN(2) == 0 {
						c.Block(i, k)
					}
				}
				for k := 0; k < n; k++ {
					if rng.IntN(2) == 0 {
						c.Unblock(k, rng.IntN(n))
					}
				}
				c.net.counts.Clogs++
				c.logf("clog around %d", i)
			}
		})
	}
	if len(actions) == 0 {
		return
	}
	actions[rng.IntN(len(actions))]()
}
