package evs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// generator writes random traces that satisfy EVS by construction, from a
// small model of a Totem domain: each ring has a log in send (= total)
// order; a member delivers the log as a prefix, a message once it has
// received everything before it (Safe: once every member has); a
// reconfiguration moves the members that come from one old ring into a new
// one together through a transitional configuration, in which they first
// catch up in the old ring to the furthest of them and then deliver what
// any of them received, skipping only messages of senders not among them
// (and, after such a gap, that sender's later messages and messages whose
// deps were skipped). Nodes crash and restart as new incarnations.
type generator struct {
	rng    *rand.Rand
	domain string
	events []Event
	seq    uint64 // ring sequence numbers
	order  uint64 // total-order positions, one counter for the domain
	nodes  []string
	cur    map[string]*genProc // node → its latest process
	rings  []*genRing
	sent   map[Proc]uint64
	failed map[Proc]bool
}

type genProc struct {
	id        Proc
	ring      *genRing
	delivered int          // length of the ring's log delivered
	contig    int          // length of the ring's log received without gaps
	received  map[int]bool // log positions received
	live      bool
}

type genMsg struct {
	id     string
	sender *genProc
	svc    string
	deps   []string
	order  uint64
}

type genRing struct {
	seq     uint64
	rep     string
	id      string
	members []*genProc
	log     []*genMsg
}

var genSvcs = []string{SvcUnreliable, SvcReliable, SvcFIFO, SvcCausal, SvcAgreed, SvcSafe}

func newGenerator(seed uint64, nodes int, domain string) *generator {
	g := &generator{
		rng:    rand.New(rand.NewPCG(seed, 0x5eed)),
		domain: domain,
		cur:    make(map[string]*genProc),
		sent:   make(map[Proc]uint64),
		failed: make(map[Proc]bool),
	}
	for i := range nodes {
		n := "n" + strconv.Itoa(i+1)
		g.nodes = append(g.nodes, n)
		g.start(n)
	}
	g.reconfigure(g.rings, [][]*genProc{g.liveProcs()})
	return g
}

func (g *generator) emit(p *genProc, e Event) {
	e.Node, e.Inc, e.Domain = p.id.Node, p.id.Inc, g.domain
	g.events = append(g.events, e)
}

func (g *generator) install(p *genProc, kind, id string, members []string) {
	g.emit(p, Event{Ev: EvInstall, Conf: &Conf{ID: id, Kind: kind, Members: members}, ConfID: id})
}

func (g *generator) deliver(p *genProc, conf string, m *genMsg) {
	g.emit(p, Event{Ev: EvDeliver, ConfID: conf, Msg: m.id, Svc: m.svc, Groups: []string{"g"}, Hash: "h" + m.id, Order: m.order})
}

func (g *generator) liveProcs() []*genProc {
	var ps []*genProc
	for _, n := range g.nodes {
		if p := g.cur[n]; p.live {
			ps = append(ps, p)
		}
	}
	return ps
}

func (g *generator) newRing(members []*genProc) *genRing {
	g.seq++
	rep := members[0].id.Node
	for _, p := range members {
		if natLess(p.id.Node, rep) {
			rep = p.id.Node
		}
	}
	return &genRing{seq: g.seq, rep: rep, id: fmt.Sprintf("r:%d:%s", g.seq, rep), members: members}
}

func nodesOf(ps []*genProc) []string {
	var ns []string
	for _, p := range ps {
		ns = append(ns, p.id.Node)
	}
	sort.Strings(ns)
	return ns
}

// start brings up a new incarnation of node n in a ring of its own.
func (g *generator) start(n string) {
	inc := uint64(1)
	if old := g.cur[n]; old != nil {
		inc = old.id.Inc + 1
	}
	p := &genProc{id: Proc{n, inc}, live: true}
	g.cur[n] = p
	r := g.newRing([]*genProc{p})
	g.install(p, KindTransitional, fmt.Sprintf("t:%d:%s/0:%s", r.seq, r.rep, n), []string{n})
	g.join(p, r)
	g.rings = append(g.rings, r)
}

func (g *generator) join(p *genProc, r *genRing) {
	p.ring, p.delivered, p.contig, p.received = r, 0, 0, make(map[int]bool)
	g.install(p, KindRegular, r.id, nodesOf(r.members))
}

func (g *generator) receive(p *genProc, k int) {
	p.received[k] = true
	for p.received[p.contig] {
		p.contig++
	}
}

func (g *generator) send(p *genProc) {
	r := p.ring
	g.sent[p.id]++
	m := &genMsg{id: fmt.Sprintf("%s/%d", p.id, g.sent[p.id]), sender: p, svc: genSvcs[g.rng.IntN(len(genSvcs))]}
	if m.svc == SvcAgreed || m.svc == SvcSafe {
		g.order++
		m.order = g.order
	}
	if p.delivered > 0 && g.rng.IntN(3) == 0 {
		for range 1 + g.rng.IntN(2) {
			m.deps = append(m.deps, r.log[g.rng.IntN(p.delivered)].id)
		}
	}
	r.log = append(r.log, m)
	g.emit(p, Event{Ev: EvSend, ConfID: r.id, Msg: m.id, Svc: m.svc, Groups: []string{"g"}, Hash: "h" + m.id, Deps: m.deps})
	g.receive(p, len(r.log)-1)
}

// tryDeliver delivers p's next message of its ring if it may.
func (g *generator) tryDeliver(p *genProc) {
	r, k := p.ring, p.delivered
	if k >= len(r.log) || p.contig <= k {
		return
	}
	m := r.log[k]
	if m.svc == SvcSafe {
		for _, q := range r.members {
			if q.contig <= k {
				return
			}
		}
	}
	g.deliver(p, r.id, m)
	p.delivered++
}

// reconfigure ends the rings olds and forms one new ring per group.
func (g *generator) reconfigure(olds []*genRing, groups [][]*genProc) {
	news := make([]*genRing, len(groups))
	for i, grp := range groups {
		news[i] = g.newRing(grp)
	}
	for _, old := range olds {
		for i, grp := range groups {
			var t []*genProc
			for _, p := range grp {
				if p.ring == old {
					t = append(t, p)
				}
			}
			if len(t) > 0 {
				g.transition(old, news[i], t)
			}
		}
	}
	for i, grp := range groups {
		for _, p := range grp {
			g.join(p, news[i])
		}
	}
	kept := g.rings[:0]
	for _, r := range g.rings {
		ended := false
		for _, o := range olds {
			ended = ended || o == r
		}
		if !ended {
			kept = append(kept, r)
		}
	}
	g.rings = append(kept, news...)
}

// transition moves t, members of old, towards next.
func (g *generator) transition(old, next *genRing, t []*genProc) {
	in := make(map[*genProc]bool)
	top := 0
	for _, p := range t {
		in[p] = true
		top = max(top, p.delivered)
	}
	for _, p := range t {
		for ; p.delivered < top; p.delivered++ {
			g.deliver(p, old.id, old.log[p.delivered])
		}
	}
	tid := fmt.Sprintf("t:%d:%s/%d:%s", next.seq, next.rep, old.seq, old.rep)
	for _, p := range t {
		g.install(p, KindTransitional, tid, nodesOf(t))
	}
	done := make(map[string]bool)
	for _, m := range old.log[:top] {
		done[m.id] = true
	}
	gapped := make(map[*genProc]bool)
	for k := top; k < len(old.log); k++ {
		m := old.log[k]
		avail := false
		for _, p := range t {
			avail = avail || p.received[k]
		}
		ok := avail
		if ok && !in[m.sender] {
			ok = !gapped[m.sender]
			for _, d := range m.deps {
				ok = ok && done[d]
			}
		}
		if !ok {
			if in[m.sender] {
				panic("generator: a member's own message would be skipped")
			}
			gapped[m.sender] = true
			continue
		}
		done[m.id] = true
		for _, p := range t {
			g.deliver(p, tid, m)
		}
	}
}

// step does one random thing.
func (g *generator) step() {
	live := g.liveProcs()
	switch x := g.rng.IntN(1000); {
	case x < 300:
		if len(live) > 0 {
			g.send(live[g.rng.IntN(len(live))])
		}
	case x < 600:
		if len(live) > 0 {
			p := live[g.rng.IntN(len(live))]
			if n := len(p.ring.log); p.contig < n {
				g.receive(p, p.contig+g.rng.IntN(n-p.contig))
			}
		}
	case x < 980:
		if len(live) > 0 {
			g.tryDeliver(live[g.rng.IntN(len(live))])
		}
	case x < 990: // partitions and merges
		olds := append([]*genRing(nil), g.rings...)
		g.rng.Shuffle(len(olds), func(i, j int) { olds[i], olds[j] = olds[j], olds[i] })
		olds = olds[:1+g.rng.IntN(len(olds))]
		var ps []*genProc
		for _, r := range olds {
			for _, p := range r.members {
				if p.live {
					ps = append(ps, p)
				}
			}
		}
		if len(ps) == 0 {
			return
		}
		g.rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		k := 1 + g.rng.IntN(min(3, len(ps)))
		groups := make([][]*genProc, k)
		for i, p := range ps {
			groups[i%k] = append(groups[i%k], p)
		}
		g.reconfigure(olds, groups)
	case x < 995: // a crash; the rest of its ring reconfigures
		if len(live) > 1 {
			p := live[g.rng.IntN(len(live))]
			p.live = false
			g.failed[p.id] = true
			var rest []*genProc
			for _, q := range p.ring.members {
				if q.live {
					rest = append(rest, q)
				}
			}
			if len(rest) > 0 {
				g.reconfigure([]*genRing{p.ring}, [][]*genProc{rest})
			} else {
				g.reconfigure([]*genRing{p.ring}, nil)
			}
		}
	default: // a restart
		for _, n := range g.nodes {
			if !g.cur[n].live {
				g.start(n)
				break
			}
		}
	}
}

// settle lets all traffic finish, merges everyone into one ring and has
// everyone deliver a few last messages there.
func (g *generator) settle() {
	finish := func() {
		for _, r := range g.rings {
			for _, p := range r.members {
				if p.live {
					for k := range r.log {
						g.receive(p, k)
					}
				}
			}
			for _, p := range r.members {
				for p.live && p.delivered < len(r.log) {
					g.tryDeliver(p)
				}
			}
		}
	}
	finish()
	g.reconfigure(g.rings, [][]*genProc{g.liveProcs()})
	live := g.liveProcs()
	for range 5 {
		g.send(live[g.rng.IntN(len(live))])
	}
	finish()
}

func (g *generator) live() []Proc {
	var ps []Proc
	for _, p := range g.liveProcs() {
		ps = append(ps, p.id)
	}
	return ps
}

// TestRandomValidRuns: traces valid by construction must check clean,
// stopped mid-flight or after settling.
func TestRandomValidRuns(t *testing.T) {
	seeds := uint64(300)
	if testing.Short() {
		seeds = 50
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		for _, quiescent := range []bool{false, true} {
			g := newGenerator(seed, 2+int(seed%4), "site/x")
			for range 400 {
				g.step()
			}
			if quiescent {
				g.settle()
			}
			if vs := Check(g.events, Options{Quiescent: quiescent, Failed: g.failed}); len(vs) > 0 {
				t.Fatalf("seed %d, quiescent %v, %d events: want no violations, got:\n%s", seed, quiescent, len(g.events), dump(vs))
			}
			if quiescent {
				if vs := CheckConverged(g.events, g.live()); len(vs) > 0 {
					t.Fatalf("seed %d: CheckConverged: want no violations, got:\n%s", seed, dump(vs))
				}
			}
		}
	}
}

// TestRandomMutations breaks valid traces in ways that are always visible
// and checks that Check sees each.
func TestRandomMutations(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		g := newGenerator(seed, 3+int(seed%3), "site/x")
		for range 300 {
			g.step()
		}
		g.settle()
		opts := Options{Quiescent: true, Failed: g.failed}
		rng := rand.New(rand.NewPCG(seed, 1))

		var delivers []int
		for i, e := range g.events {
			if e.Ev == EvDeliver {
				delivers = append(delivers, i)
			}
		}
		mutate := func(name string, want Property, f func(evs []Event) []Event) {
			t.Helper()
			evs := f(append([]Event(nil), g.events...))
			vs := Check(evs, opts)
			for _, v := range vs {
				if v.Property == want {
					return
				}
			}
			t.Errorf("seed %d, %s: no %q violation; got:\n%s", seed, name, want, dump(vs))
		}

		i := delivers[rng.IntN(len(delivers))]
		mutate("duplicate delivery", NoDuplication, func(evs []Event) []Event {
			return append(evs[:i+1], append([]Event{evs[i]}, evs[i+1:]...)...)
		})
		mutate("corrupt hash", NoCreation, func(evs []Event) []Event {
			evs[i].Hash += "!"
			return evs
		})

		// Swap two consecutive Agreed deliveries of one process in a
		// regular configuration that another process delivered too.
		count := make(map[string]int)
		for _, j := range delivers {
			count[g.events[j].Msg]++
		}
		var pairs [][2]int
		last := make(map[Proc]int)
		for _, j := range delivers {
			e := g.events[j]
			p := Proc{e.Node, e.Inc}
			if l, ok := last[p]; ok {
				f := g.events[l]
				if e.Order != 0 && f.Order != 0 && e.ConfID == f.ConfID && e.ConfID[0] == 'r' && count[e.Msg] > 1 && count[f.Msg] > 1 {
					pairs = append(pairs, [2]int{l, j})
				}
			}
			last[p] = j
		}
		if len(pairs) > 0 {
			pr := pairs[rng.IntN(len(pairs))]
			mutate("swap agreed deliveries", AgreedOrder, func(evs []Event) []Event {
				evs[pr[0]], evs[pr[1]] = evs[pr[1]], evs[pr[0]]
				return evs
			})
		}

		// Drop one delivery of the final configuration, where everyone ends.
		if live := g.live(); len(live) > 1 {
			final := g.events[len(g.events)-1].ConfID
			var in []int
			for _, j := range delivers {
				if g.events[j].ConfID == final && g.events[j].Svc != SvcUnreliable {
					in = append(in, j)
				}
			}
			k := in[rng.IntN(len(in))]
			mutate("drop a delivery", FailureAtomicity, func(evs []Event) []Event {
				return append(evs[:k], evs[k+1:]...)
			})
		}
	}
}

// BenchmarkCheck checks a trace of about a million events: five nodes,
// every service level, occasional partitions, merges, crashes and restarts.
func BenchmarkCheck(b *testing.B) {
	g := newGenerator(42, 5, "site/bench")
	for len(g.events) < 1_000_000 {
		g.step()
	}
	g.settle()
	b.Logf("%d events", len(g.events))
	b.ResetTimer()
	for b.Loop() {
		if vs := Check(g.events, Options{Quiescent: true, Failed: g.failed}); len(vs) > 0 {
			b.Fatalf("want no violations, got:\n%s", dump(vs))
		}
	}
}

// BenchmarkRead reads a trace of about 50,000 events (BenchmarkCheck's
// generator), one JSON line each: the fast line parser's speed.
func BenchmarkRead(b *testing.B) {
	g := newGenerator(42, 5, "site/bench")
	for len(g.events) < 50_000 {
		g.step()
	}
	g.settle()
	var trace bytes.Buffer
	for _, e := range g.events {
		line, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		trace.Write(append(line, '\n'))
	}
	b.SetBytes(int64(trace.Len()))
	b.ResetTimer()
	for b.Loop() {
		evs, err := Read(bytes.NewReader(trace.Bytes()), "bench")
		if err != nil || len(evs) != len(g.events) {
			b.Fatalf("read %d events of %d: %v", len(evs), len(g.events), err)
		}
	}
}

// TestRandomGarbage feeds Check traces of random events over a few ids, to
// shake out panics on inputs no ring would write.
func TestRandomGarbage(t *testing.T) {
	pick := func(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }
	for seed := uint64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		var evs []Event
		for range 60 + r.IntN(100) {
			e := Event{
				Ev:     pick(r, EvInstall, EvSend, EvDeliver, EvDeliver, EvView, "other"),
				Node:   pick(r, "a", "b", "c", ""),
				Inc:    uint64(r.IntN(3)),
				Domain: pick(r, "d", "e"),
				ConfID: pick(r, "r:1:a", "r:2:a", "t:2:a/1:a", "t:3:b/2:a", "x", ""),
				Msg:    pick(r, "a/1/1", "a/1/2", "b/1/1", "c/2/1", "zz", ""),
				Svc:    pick(r, genSvcs...),
				Hash:   pick(r, "h", "i"),
				Groups: []string{pick(r, "g", "h")},
				Order:  uint64(r.IntN(4)),
				Group:  pick(r, "g", "h", ""),
			}
			if r.IntN(3) == 0 {
				e.Deps = []string{pick(r, "a/1/1", "a/1/2", "b/1/1", "c/2/1")}
			}
			switch e.Ev {
			case EvInstall:
				if r.IntN(10) > 0 {
					e.Conf = &Conf{ID: e.ConfID, Kind: pick(r, KindRegular, KindTransitional, "?"), Members: strings.Fields(pick(r, "a b c", "a b", "c", "a", ""))}
				}
			case EvView:
				if r.IntN(10) > 0 {
					e.View = &View{ID: pick(r, "v1", "v2", "v3", ""), Members: strings.Fields(pick(r, "a:x b:x", "b:x a:x", "a:x", "c:x", "")),
						Left: strings.Fields(pick(r, "", "a:x", "b:x")), Joined: strings.Fields(pick(r, "", "a:x", "c:x")),
						Reason: pick(r, "", ReasonJoin, ReasonLeave, ReasonNetwork, "why"), Transitional: r.IntN(3) == 0}
				}
			}
			evs = append(evs, e)
		}
		for _, q := range []bool{false, true} {
			vs := Check(evs, Options{Quiescent: q, Failed: map[Proc]bool{{"b", 1}: true}})
			if !reflect.DeepEqual(vs, Check(evs, Options{Quiescent: q, Failed: map[Proc]bool{{"b", 1}: true}})) {
				t.Fatalf("seed %d: two checks differ", seed)
			}
		}
		CheckConverged(evs, []Proc{{"a", 1}, {"b", 2}})
	}
}
