package evs

import (
	"fmt"
	"sort"
	"strings"
)

// checker holds one run of Check.
type checker struct {
	opts   Options
	events []Event
	maxInc map[string]uint64 // node → highest incarnation anywhere in the traces
	out    []Violation
}

func newChecker(events []Event, opts Options) *checker {
	c := &checker{opts: opts, events: events, maxInc: make(map[string]uint64)}
	for i := range events {
		if e := &events[i]; e.Inc > c.maxInc[e.Node] {
			c.maxInc[e.Node] = e.Inc
		}
	}
	return c
}

// failed reports whether p is known to have crashed: listed in
// Options.Failed, or followed by a later incarnation of its node.
func (c *checker) failed(p Proc) bool { return c.opts.Failed[p] || p.Inc < c.maxInc[p.Node] }

// splitDomains groups the events by domain and, within a domain, by
// process, keeping each process's events in trace order. It also checks
// the part of 1.4 that needs the input order: once a node's later
// incarnation has written an event, the earlier one writes nothing more.
// Not in a federation domain (fed/...): there a "node" is a site, and the
// gateway that spoke for it may run on (paused, cut off) after the next
// one took over, until it is fenced off; that the two are never members
// of one configuration is 2.2's "one incarnation per node".
func (c *checker) splitDomains() []*domain {
	type acc struct {
		procs    map[Proc][]int32
		latest   map[string]uint64
		reported map[Proc]bool
	}
	byName := make(map[string]*acc)
	for i := range c.events {
		e := &c.events[i]
		a := byName[e.Domain]
		if a == nil {
			a = &acc{procs: make(map[Proc][]int32), latest: make(map[string]uint64), reported: make(map[Proc]bool)}
			byName[e.Domain] = a
		}
		p := Proc{e.Node, e.Inc}
		if e.Node == "" {
			c.out = append(c.out, Violation{Property: LocalSanity, Domain: e.Domain, Msg: e.Msg,
				Detail: fmt.Sprintf("event #%d (%s) names no node", i+1, e.Ev)})
			continue
		}
		if hi, ok := a.latest[e.Node]; ok && e.Inc < hi && !strings.HasPrefix(e.Domain, "fed/") {
			if !a.reported[p] {
				a.reported[p] = true
				later := Proc{e.Node, hi}
				c.out = append(c.out, Violation{Property: LocalSanity, Domain: e.Domain, Procs: []Proc{p, later},
					Detail: fmt.Sprintf("%s wrote a %s event after %s had started: nothing may follow a process's last event", p, e.Ev, later)})
			}
		} else {
			a.latest[e.Node] = e.Inc
		}
		a.procs[p] = append(a.procs[p], int32(i))
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	ds := make([]*domain, 0, len(names))
	for _, name := range names {
		ds = append(ds, newDomain(c, name, byName[name].procs))
	}
	return ds
}

// domain holds the events of one EVS domain, indexed for checking.
// Processes, configurations and messages are numbered (int32) in the order
// they are first met, walking the processes in sorted order, so that every
// result is deterministic.
type domain struct {
	c     *checker
	name  string
	procs []*proc

	confs  []*conf
	confIx map[string]int32

	msgs  []*msg
	msgIx map[string]int32
	slab  []msg // msgs are allocated from here, a chunk at a time

	sends map[sendKey]*sendSeq

	groups     map[string]*group
	groupNames []string             // in order of first appearance
	epochs     map[epochKey]epochAt // G.2: the view each message was delivered in
}

// proc is one process of a domain.
type proc struct {
	id     Proc
	ix     int32
	failed bool
	events []int32 // indices into checker.events, in trace order

	installs  []int32         // configurations in install order
	installAt map[int32]int32 // configuration → its first position in installs
	lastReg   int32           // position of the last regular install, -1 if none

	delivered map[int32]int32            // message → configuration delivered in
	inConf    map[int32][]int32          // install position → messages above Unreliable delivered there, in order
	progress  map[sendKey]*progress      // FIFO and causal progress, by send configuration and sender
	agreed    map[int32][]agreedDelivery // send configuration → Agreed/Safe deliveries, in order
}

// conf is one configuration of a domain.
type conf struct {
	id         string
	kind       string   // "" when no install of it was seen
	members    []string // sorted
	memberSet  map[string]bool
	definer    int32 // the process whose install defined kind and members, -1 if none
	installers []installer
	ring       ringID
}

type installer struct{ proc, pos int32 }

// msg is one message of a domain.
type msg struct {
	id     string
	sender int32 // -1 until a send is seen
	conf   int32 // send configuration, -1 if unknown
	lv     level
	svc    string
	hash   string
	groups []string
	deps   []string

	seq        int32 // position among the sender's sends in conf
	fifoRank   int32 // position among the sender's FIFO-or-above sends in conf, -1 below FIFO
	causalRank int32 // position among the sender's Causal-or-above sends in conf, -1 below Causal
	causalUpto int32 // Causal-or-above sends of the sender in conf up to and including this one
	vc         []vcEntry

	order      uint64 // total-order position as first delivered, 0 if none
	orderBy    int32  // the process that delivered it with that order
	deliveries []delivery
}

type delivery struct{ proc, conf int32 }

// sendKey names the sends of one sender in one configuration.
type sendKey struct{ conf, sender int32 }

// sendSeq is one sender's sends in one configuration, in send order.
type sendSeq struct {
	all    []int32
	fifo   []int32 // FIFO level or above
	causal []int32 // Causal level or above
}

func newDomain(c *checker, name string, byProc map[Proc][]int32) *domain {
	ids := make([]Proc, 0, len(byProc))
	for p := range byProc {
		ids = append(ids, p)
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Node != ids[j].Node {
			return natLess(ids[i].Node, ids[j].Node)
		}
		return ids[i].Inc < ids[j].Inc
	})
	sends := 0
	for _, evs := range byProc {
		for _, ei := range evs {
			if c.events[ei].Ev == EvSend {
				sends++
			}
		}
	}
	d := &domain{
		c: c, name: name,
		confIx: make(map[string]int32),
		msgs:   make([]*msg, 0, sends),
		msgIx:  make(map[string]int32, sends),
		sends:  make(map[sendKey]*sendSeq),
		groups: make(map[string]*group),
		epochs: make(map[epochKey]epochAt),
	}
	for i, id := range ids {
		delivers := 0
		for _, ei := range byProc[id] {
			if c.events[ei].Ev == EvDeliver {
				delivers++
			}
		}
		d.procs = append(d.procs, &proc{
			id: id, ix: int32(i), failed: c.failed(id), events: byProc[id],
			installAt: make(map[int32]int32),
			lastReg:   -1,
			delivered: make(map[int32]int32, delivers),
			inConf:    make(map[int32][]int32),
			progress:  make(map[sendKey]*progress),
			agreed:    make(map[int32][]agreedDelivery),
		})
	}
	return d
}

func (d *domain) report(prop Property, conf, msg string, procs []Proc, format string, args ...any) {
	d.c.out = append(d.c.out, Violation{
		Property: prop, Domain: d.name, Procs: procs, Conf: conf, Msg: msg,
		Detail: fmt.Sprintf(format, args...),
	})
}

// confOf returns the index of configuration id, adding an undefined entry
// for an id not seen before.
func (d *domain) confOf(id string) int32 {
	if i, ok := d.confIx[id]; ok {
		return i
	}
	i := int32(len(d.confs))
	d.confs = append(d.confs, &conf{id: id, definer: -1, ring: parseConfID(id)})
	d.confIx[id] = i
	return i
}

// msgOf returns the index of message id, adding an entry without a send
// for an id not seen before.
func (d *domain) msgOf(id string) int32 {
	if i, ok := d.msgIx[id]; ok {
		return i
	}
	i := int32(len(d.msgs))
	if len(d.slab) == cap(d.slab) {
		d.slab = make([]msg, 0, 1024)
	}
	d.slab = append(d.slab, msg{id: id, sender: -1, conf: -1, lv: lvUnknown, fifoRank: -1, causalRank: -1, orderBy: -1})
	d.msgs = append(d.msgs, &d.slab[len(d.slab)-1])
	d.msgIx[id] = i
	return i
}

func (d *domain) sendSeq(k sendKey) *sendSeq {
	s := d.sends[k]
	if s == nil {
		s = new(sendSeq)
		d.sends[k] = s
	}
	return s
}

// confName returns a configuration's id for messages.
func (d *domain) confName(i int32) string {
	if i < 0 {
		return "(none)"
	}
	return d.confs[i].id
}

func (d *domain) kindOf(i int32) string {
	if i < 0 {
		return ""
	}
	return d.confs[i].kind
}

// due reports whether p's obligations for the configuration it installed at
// position pos are due: p has moved past it (installed a later regular
// configuration, or for a transitional one the next configuration), or the
// run is quiescent and p did not fail.
func (d *domain) due(p *proc, pos int32) bool {
	if d.kindOf(p.installs[pos]) == KindTransitional {
		if int(pos)+1 < len(p.installs) {
			return true
		}
	} else if p.lastReg > pos {
		return true
	}
	return d.c.opts.Quiescent && !p.failed
}

// check runs every check of one domain.
func (d *domain) check() {
	d.scanInstallsAndSends()  // 2.1, 2.2, 2.3; sends: 1.1, 1.2, 1.4
	d.computeCausal()         // the causal past of each message
	d.scanDeliveries()        // 1.1–1.4, 5, 8, order fields, group views
	d.checkTransitional()     // 2.4
	d.checkSelfDelivery()     // 3
	d.checkFailureAtomicity() // 4
	d.checkAgreed()           // 6
	d.checkSafe()             // 7
	d.checkViewOrder()        // G.2
}

func (d *domain) scanInstallsAndSends() {
	for _, p := range d.procs {
		for _, ei := range p.events {
			e := &d.c.events[ei]
			switch e.Ev {
			case EvInstall:
				d.install(p, e)
			case EvSend:
				d.send(p, e)
			}
		}
	}
}

func (d *domain) scanDeliveries() {
	for _, p := range d.procs {
		pos := int32(-1)
		var ord orderState
		views := make(map[string]*procView)
		for _, ei := range p.events {
			e := &d.c.events[ei]
			switch e.Ev {
			case EvInstall:
				if e.Conf != nil && e.Conf.ID != "" {
					pos++
				}
			case EvDeliver:
				d.deliver(p, pos, e, &ord, views)
			case EvView:
				d.view(p, pos, e, views)
			}
		}
	}
}

func sortedSet(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// minus returns the elements of a that are not in b, in a's order.
func minus(a []string, b map[string]bool) []string {
	var out []string
	for _, s := range a {
		if !b[s] {
			out = append(out, s)
		}
	}
	return out
}

func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}
