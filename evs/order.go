package evs

import (
	"sort"
	"strings"
)

// Total order: 6, for Agreed and Safe messages together.
//
// For each configuration c, the Agreed and Safe messages sent in c form a
// graph whose edges are the consecutive pairs of each process's deliveries
// of them (in c or in the transitional configuration after c). All
// processes deliver in one order exactly when this union graph is acyclic;
// a cycle is reported with the processes and messages that form it. Then
// each process's deliveries must be downward closed in that order (no
// holes), except that in a transitional configuration it may skip messages
// of senders that are not members of it. Where every message carries an
// order field, the holes are found against the order those fields define,
// which also catches holes no other process's deliveries reveal.

// agreedDelivery is one delivery of an Agreed or Safe message, with the
// configuration it was delivered in.
type agreedDelivery struct{ msg, conf int32 }

// orderState follows the order fields along one process's deliveries.
type orderState struct {
	last     uint64
	lastMsg  int32
	lastConf int32 // the sending configuration of lastMsg
}

// checkOrderField checks that one message has the same order at every
// process and that the order increases along each process's deliveries:
// of the messages sent in one configuration in a ring domain (site/...),
// whose order numbers are positions within the ring and start again with
// every ring; along all of them in a federation domain (fed/...) when
// Options.DomainOrder says its order survives reconfigurations (see
// "Order fields" in the package documentation).
func (d *domain) checkOrderField(p *proc, mi int32, m *msg, order uint64, st *orderState) {
	if st.last != 0 && m.conf != st.lastConf && !d.orderSpansConfs() {
		st.last = 0
	}
	if m.order == 0 {
		m.order, m.orderBy = order, p.ix
	} else if m.order != order {
		first := d.procs[m.orderBy].id
		d.report(OrderField, d.confName(m.conf), m.id, []Proc{p.id, first}, "%s delivered %s with order %d, but %s delivered it with order %d",
			p.id, m.id, order, first, m.order)
	}
	if st.last != 0 && order <= st.last {
		d.report(OrderField, d.confName(m.conf), m.id, []Proc{p.id}, "%s delivered %s (order %d) after %s (order %d): the order must increase along a process's deliveries",
			p.id, m.id, order, d.msgs[st.lastMsg].id, st.last)
	}
	st.last, st.lastMsg, st.lastConf = order, mi, m.conf
}

// orderSpansConfs reports whether the domain's order fields grow across
// configurations: in a federation domain (name "fed/...") whose order
// fields are domain-wide (Options.DomainOrder).
func (d *domain) orderSpansConfs() bool {
	return d.c.opts.DomainOrder && strings.HasPrefix(d.name, "fed/")
}

func (d *domain) checkAgreed() {
	type seqs struct {
		owners []*proc
		seqs   [][]agreedDelivery
	}
	byConf := make(map[int32]*seqs)
	for _, p := range d.procs {
		for c, s := range p.agreed {
			b := byConf[c]
			if b == nil {
				b = new(seqs)
				byConf[c] = b
			}
			b.owners = append(b.owners, p)
			b.seqs = append(b.seqs, s)
		}
	}
	for ci := range d.confs {
		if b := byConf[int32(ci)]; b != nil {
			d.checkTotalOrder(int32(ci), b.owners, b.seqs)
		}
	}
}

// checkTotalOrder checks the Agreed and Safe deliveries of the messages
// sent in configuration c: seqs[i] is owners[i]'s, in delivery order.
func (d *domain) checkTotalOrder(c int32, owners []*proc, seqs [][]agreedDelivery) {
	local := make(map[int32]int32) // message → node of the graph
	var nodes []int32              // node → message
	for _, seq := range seqs {
		for _, r := range seq {
			if _, ok := local[r.msg]; !ok {
				local[r.msg] = int32(len(nodes))
				nodes = append(nodes, r.msg)
			}
		}
	}
	g := newGraph(len(nodes))
	for _, seq := range seqs {
		for i := 1; i < len(seq); i++ {
			g.add(local[seq[i-1].msg], local[seq[i].msg])
		}
	}
	cname := d.confs[c].id
	if cyc := g.cycle(); cyc != nil {
		positions := make([]map[int32]int, len(seqs))
		for i, seq := range seqs {
			positions[i] = make(map[int32]int, len(seq))
			for j, r := range seq {
				positions[i][local[r.msg]] = j
			}
		}
		segs := witness(cyc, positions)
		var procs []Proc
		for _, s := range segs {
			procs = appendProc(procs, owners[s.owner].id)
		}
		text := describeCycle(segs, "delivered", func(o int) string { return owners[o].id.String() },
			func(n int32) string { return d.msgs[nodes[n]].id })
		d.report(AgreedOrder, cname, d.msgs[nodes[cyc[0]]].id, procs, "%s", text)
		return
	}

	// Holes, against the order fields where every message has one.
	useOrder := true
	byOrder := make(map[uint64]int32, len(nodes))
	for n, mi := range nodes {
		o := d.msgs[mi].order
		if o == 0 {
			useOrder = false
			continue
		}
		if other, dup := byOrder[o]; dup {
			a, b := d.msgs[nodes[other]], d.msgs[mi]
			d.report(OrderField, cname, b.id, []Proc{d.procs[b.orderBy].id, d.procs[a.orderBy].id}, "%s and %s, both sent in %s, have the same order %d (as delivered by %s and %s)",
				a.id, b.id, cname, o, d.procs[a.orderBy].id, d.procs[b.orderBy].id)
			useOrder = false
			continue
		}
		byOrder[o] = int32(n)
	}
	if useOrder {
		sorted := make([]int32, len(nodes))
		for i := range sorted {
			sorted[i] = int32(i)
		}
		sort.Slice(sorted, func(i, j int) bool { return d.msgs[nodes[sorted[i]]].order < d.msgs[nodes[sorted[j]]].order })
		rank := make([]int32, len(nodes))
		for r, n := range sorted {
			rank[n] = int32(r)
		}
		for i, seq := range seqs {
			d.holesByOrder(c, owners[i], seq, local, nodes, sorted, rank)
		}
		return
	}
	for i, seq := range seqs {
		d.holesByGraph(c, owners[i], seq, g, local, nodes)
	}
}

// holeAllowed reports whether a process delivering in configuration dc may
// skip message mi: only in a transitional configuration, and only messages
// of senders that are not members of it.
func (d *domain) holeAllowed(dc, mi int32) bool {
	if d.kindOf(dc) != KindTransitional {
		return false
	}
	m := d.msgs[mi]
	return m.sender >= 0 && !d.confs[dc].memberSet[d.procs[m.sender].id.Node]
}

func (d *domain) reportHole(c int32, p *proc, r agreedDelivery, missing int32) {
	y, z := d.msgs[r.msg], d.msgs[missing]
	zs := d.procs[z.sender].id
	dname := d.confName(r.conf)
	if d.kindOf(r.conf) == KindTransitional {
		d.report(AgreedOrder, dname, y.id, []Proc{p.id, zs}, "%s delivered %s in %s without %s, which precedes it in the agreed order of %s: a transitional configuration may skip only messages of senders not in it, and %s is",
			p.id, y.id, dname, z.id, d.confs[c].id, zs.Node)
		return
	}
	d.report(AgreedOrder, dname, y.id, []Proc{p.id, zs}, "%s delivered %s in %s without %s, which precedes it in the agreed order: a hole in a regular configuration",
		p.id, y.id, dname, z.id)
}

// holesByOrder walks p's deliveries against the messages sorted by order
// field and reports the first message skipped where skipping is not
// allowed. A message p delivers later, out of order, is the order-field
// check's to report.
func (d *domain) holesByOrder(c int32, p *proc, seq []agreedDelivery, local map[int32]int32, nodes, sorted, rank []int32) {
	delivered := make([]bool, len(nodes))
	for _, r := range seq {
		delivered[local[r.msg]] = true
	}
	k := int32(0)
	for _, r := range seq {
		at := rank[local[r.msg]]
		if at < k {
			return
		}
		for ; k < at; k++ {
			if delivered[sorted[k]] {
				return
			}
			if z := nodes[sorted[k]]; !d.holeAllowed(r.conf, z) {
				d.reportHole(c, p, r, z)
				return
			}
		}
		k = at + 1
	}
}

// holesByGraph reports the first delivery of p that has a predecessor in
// the union graph p did not deliver, where skipping it is not allowed.
// Skipped messages' own predecessors must be allowed holes too.
func (d *domain) holesByGraph(c int32, p *proc, seq []agreedDelivery, g *graph, local map[int32]int32, nodes []int32) {
	delivered := make([]bool, len(nodes))
	for _, r := range seq {
		delivered[local[r.msg]] = true
	}
	var skipped map[int32]bool // nodes known to be allowed holes, for skippedIn
	skippedIn := int32(-2)
	var stack []int32
	for _, r := range seq {
		if r.conf != skippedIn {
			skipped, skippedIn = make(map[int32]bool), r.conf
		}
		for _, z := range g.in[local[r.msg]] {
			if delivered[z] || skipped[z] {
				continue
			}
			stack = append(stack[:0], z)
			for len(stack) > 0 {
				v := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if skipped[v] {
					continue
				}
				if !d.holeAllowed(r.conf, nodes[v]) {
					d.reportHole(c, p, r, nodes[v])
					return
				}
				skipped[v] = true
				for _, u := range g.in[v] {
					if !delivered[u] && !skipped[u] {
						stack = append(stack, u)
					}
				}
			}
		}
	}
}

// graph is a directed graph over nodes 0..n-1 without duplicate edges.
type graph struct {
	out, in [][]int32
	edges   map[uint64]struct{}
}

func newGraph(n int) *graph {
	return &graph{out: make([][]int32, n), in: make([][]int32, n), edges: make(map[uint64]struct{}, n)}
}

func (g *graph) add(a, b int32) {
	if a == b {
		return
	}
	k := uint64(uint32(a))<<32 | uint64(uint32(b))
	if _, ok := g.edges[k]; ok {
		return
	}
	g.edges[k] = struct{}{}
	g.out[a] = append(g.out[a], b)
	g.in[b] = append(g.in[b], a)
}

// cycle returns a shortest cycle through some node that lies on a cycle,
// as the nodes v0, v1, ..., vk with edges v0→v1→...→vk→v0; nil if the
// graph is acyclic.
func (g *graph) cycle() []int32 {
	n := len(g.out)
	indeg := make([]int32, n)
	for _, outs := range g.out {
		for _, w := range outs {
			indeg[w]++
		}
	}
	queue := make([]int32, 0, n)
	for v := range n {
		if indeg[v] == 0 {
			queue = append(queue, int32(v))
		}
	}
	removed := 0
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		removed++
		for _, w := range g.out[v] {
			if indeg[w]--; indeg[w] == 0 {
				queue = append(queue, w)
			}
		}
	}
	if removed == n {
		return nil
	}
	// Every node left has a predecessor left: walking back from one must
	// come round to a node on a cycle.
	left := func(v int32) bool { return indeg[v] > 0 }
	v := int32(-1)
	for u := range n {
		if left(int32(u)) {
			v = int32(u)
			break
		}
	}
	seen := make(map[int32]bool)
	for !seen[v] {
		seen[v] = true
		for _, u := range g.in[v] {
			if left(u) {
				v = u
				break
			}
		}
	}
	// The shortest cycle through v, by breadth-first search.
	parent := map[int32]int32{v: -1}
	queue = append(queue[:0], v)
	for head := 0; head < len(queue); head++ {
		u := queue[head]
		for _, w := range g.out[u] {
			if !left(w) {
				continue
			}
			if w == v {
				var path []int32
				for x := u; x != -1; x = parent[x] {
					path = append(path, x)
				}
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, ok := parent[w]; !ok {
				parent[w] = u
				queue = append(queue, w)
			}
		}
	}
	panic("evs: graph.cycle: a node on a cycle has no path back to itself")
}

// segment is a run of a cycle that one owner (a process) delivered in
// that order: from before to.
type segment struct {
	owner    int
	from, to int32
}

// witness splits a cycle into as few runs as it finds, each delivered in
// that order by one owner; positions[o] maps a node to its position in
// owner o's sequence.
func witness(cyc []int32, positions []map[int32]int) []segment {
	L := len(cyc)
	starts := L
	if starts > 16 {
		starts = 1
	}
	var best []segment
	for s := 0; s < starts; s++ {
		var segs []segment
		for i := 0; i < L; {
			a := cyc[(s+i)%L]
			bestOwner, bestLen := -1, 0
			for o, pos := range positions {
				pa, ok := pos[a]
				if !ok {
					continue
				}
				j := 0
				for i+j < L {
					pb, ok := pos[cyc[(s+i+j+1)%L]]
					if !ok || pb <= pa {
						break
					}
					pa = pb
					j++
				}
				if j > bestLen {
					bestOwner, bestLen = o, j
				}
			}
			if bestLen == 0 {
				panic("evs: witness: a cycle edge that no sequence contains")
			}
			segs = append(segs, segment{bestOwner, a, cyc[(s+i+bestLen)%L]})
			i += bestLen
		}
		if best == nil || len(segs) < len(best) {
			best = segs
		}
	}
	return best
}

// describeCycle words a cycle of segments: "a/1 delivered x before y but
// b/1 delivered y before x", or with more segments "a/1 delivered x before
// y, b/1 delivered y before z, and c/1 delivered z before x".
func describeCycle(segs []segment, verb string, owner func(int) string, node func(int32) string) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = owner(s.owner) + " " + verb + " " + node(s.from) + " before " + node(s.to)
	}
	switch len(parts) {
	case 1:
		return parts[0] + " and after it"
	case 2:
		return parts[0] + " but " + parts[1]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + ", and " + parts[len(parts)-1]
}

func appendProc(ps []Proc, p Proc) []Proc {
	for _, q := range ps {
		if q == p {
			return ps
		}
	}
	return append(ps, p)
}
