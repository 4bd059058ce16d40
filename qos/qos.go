// Package qos is Atoll's latency classes at run time: it turns the
// topology file's classes (name and budget) into the send classes of a
// site's local ring, so that at every token visit a node puts a tighter
// class's messages on the ring first, and bounds how many packets of a
// looser class one visit may carry.
//
// # Why
//
// A site's one local ring carries every EVS domain the site is in: its
// own (the site's groups) and each federation domain's traffic (the
// messages going up to the domain, and the messages the site's active
// gateway injects coming down from it, a burst of them once per
// federation token visit). Without classes a node sends its messages in
// submission order and up to the ring's window per visit, so a realtime
// message waits behind every global message queued before it at its own
// node, and the token, on its way to it, waits at every node that has a
// burst of global messages to send.
//
// # The table
//
// New ranks the classes by budget: the tightest is send class 0, the next
// 1, and so on (classes with equal budgets share one; beyond MaxClasses
// the loosest share the last). Table.SendClass gives a class's send class
// by name; Table.VisitPackets the per-visit bounds for
// localring.Config.ClassVisitPackets: send class 0 is bounded by the
// ring's window alone, every looser one by LooseVisitPackets packets per
// visit. With N nodes a message of the tightest class then waits at most
// for about N × LooseVisitPackets packets of looser ones on the token's
// way to its node, and for none at its own, whatever backlog the looser
// classes have. At 1400-byte packets and a rotation of a few hundred
// microseconds, 4 packets per visit still move several MB/s per node,
// far above what a federation domain's WAN links carry.
//
// # The ordering rule
//
// Priority changes only which of one node's queued messages goes on the
// ring first; the ring still totally orders what it carries. But it
// reorders one sender's messages of different send classes, so two
// messages may be given different send classes only where no ordering
// guarantee spans them. In Atoll that is exactly between EVS domains:
// within a domain every level from FIFO up (and Agreed and Safe, which
// imply causal order in Spread's model) orders a sender's messages across
// all the domain's groups, and across domains there is no order
// (DESIGN.md). So the agent gives every message of one domain one send
// class: the site's own domain (its groups, whatever their classes, the
// agent's raw Submits, gateway handover messages) class 0; each federation
// domain's messages on the local ring (Ups, Downs and the bridge's other
// messages, in the bridge's order) the send class of the class the
// planner formed the domain for. Within a send class, a node's messages
// keep their order; localring never lets two fragmented messages of one
// sender interleave.
//
// # Not here yet
//
// The class's budget is not yet checked against measured latency (the
// agent's atoll_delivery_latency_seconds histograms are labelled by
// class, but no SLO alarm fires). The token carries no ring-wide sign
// that a tighter message waits, so that the other nodes would hold their
// bulk back only then: the per-visit bound applies at every visit
// instead. In localring's model of the isolation benchmark's site a
// (TestClassLatencyUnderBursts) that alone brings the realtime p99 back
// to its value without bursts, so the field was not added. The gateway
// runner does not use the table (a federation ring carries one domain,
// one class). With an EVS trace (--trace) a node holds its new messages
// back until its group loop has written the site's trace lines of the
// events before them (agent traceSends); the federation domains' part of
// those events (a burst of a domain's messages coming down: bridge, View,
// group layer, their trace lines and clients) no longer counts, so the
// classes and that gate no longer meet (docs/BENCHMARKS.md, "Send
// classes"). The per-visit bound is a constant, not a topology setting.
package qos

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxClasses is the number of send classes of a local ring
// (localring.MaxSendClasses).
const MaxClasses = 8

// LooseVisitPackets is the most packets of any send class but the
// tightest that one token visit of a node carries (localring's
// Config.ClassVisitPackets).
const LooseVisitPackets = 4

// Class is a latency class of the topology file.
type Class struct {
	Name   string
	Budget time.Duration
}

// Table is the classes ranked into send classes.
type Table struct {
	send    map[string]int
	classes int // send classes in use
}

// New ranks classes by budget into send classes. Names must be distinct
// and budgets positive.
func New(classes []Class) (*Table, error) {
	sorted := slices.Clone(classes)
	slices.SortStableFunc(sorted, func(a, b Class) int { return cmp.Compare(a.Budget, b.Budget) })
	t := &Table{send: make(map[string]int, len(classes))}
	var errs []error
	rank := -1
	var last time.Duration
	for i, c := range sorted {
		if _, dup := t.send[c.Name]; dup {
			errs = append(errs, fmt.Errorf("qos: class %q is declared twice", c.Name))
			continue
		}
		if c.Budget <= 0 {
			errs = append(errs, fmt.Errorf("qos: class %q has budget %v; it must be positive", c.Name, c.Budget))
			continue
		}
		if i == 0 || c.Budget != last {
			rank = min(rank+1, MaxClasses-1)
		}
		last = c.Budget
		t.send[c.Name] = rank
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.classes = rank + 1
	return t, nil
}

// SendClass returns the send class of the class named name, and whether
// the table has it. The tightest class is 0.
func (t *Table) SendClass(name string) (int, bool) {
	c, ok := t.send[name]
	return c, ok
}

// VisitPackets returns the per-visit bounds of the table's send classes,
// for localring.Config.ClassVisitPackets: 0 (the window alone) for send
// class 0, LooseVisitPackets for every looser one.
func (t *Table) VisitPackets() []int {
	v := make([]int, max(t.classes, 1))
	for i := 1; i < len(v); i++ {
		v[i] = LooseVisitPackets
	}
	return v
}
