package snmp

import (
	"math"
	"slices"

	"github.com/posteo/go-agentx/pdu"
	"github.com/posteo/go-agentx/value"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/gateway"
)

// Root is the OID of ATOLL-MIB's atollMIB: enterprises.32473, the
// enterprise number RFC 5612 reserves for documentation, because Atoll has
// no registered one yet (deploy/snmp/ATOLL-MIB.txt says so too).
var Root = value.OID{1, 3, 6, 1, 4, 1, 32473}

// The subtrees of atollObjects (Root.1).
var (
	objects    = sub(Root, 1)
	nodeArc    = sub(objects, 1)
	ringArc    = sub(objects, 2)
	groupArc   = sub(objects, 3)
	groupTable = sub(groupArc, 2, 1) // atollGroupEntry
	fedTable   = sub(objects, 4, 1, 1)
	groupEnd   = sub(objects, 4) // the first OID after the group layer
)

// Index limits of the tables: an OID has at most 128 sub-identifiers, and
// a string index takes its length and one per byte.
const (
	maxGroupIndex  = 115
	maxDomainIndex = 100
)

// sub returns oid extended by arcs, in a new slice.
func sub(oid value.OID, arcs ...uint32) value.OID {
	return append(slices.Clip(oid), arcs...)
}

// varbind is one object instance and its value, as pdu.Variable takes it.
type varbind struct {
	oid value.OID
	typ pdu.VariableType
	val any
}

func displayString(s string) (pdu.VariableType, any) { return pdu.VariableTypeOctetString, s }
func counter64(v uint64) (pdu.VariableType, any)     { return pdu.VariableTypeCounter64, v }

func gauge32[T int | uint64](v T) (pdu.VariableType, any) {
	return pdu.VariableTypeGauge32, uint32(min(uint64(max(v, 0)), math.MaxUint32))
}

// scalar is one scalar object of ATOLL-MIB, read from the agent's status.
type scalar struct {
	oid value.OID // without the instance's .0
	get func(*agent.Status) (pdu.VariableType, any)
}

// counter is a Counter64 scalar read from the status counters.
func counter(oid value.OID, f func(*agent.Counters) uint64) scalar {
	return scalar{oid, func(st *agent.Status) (pdu.VariableType, any) { return counter64(f(&st.Counters)) }}
}

// scalars are ATOLL-MIB's scalar objects, in the MIB's order.
var scalars = []scalar{
	{sub(nodeArc, 1), func(st *agent.Status) (pdu.VariableType, any) { return displayString(st.Node) }},
	{sub(nodeArc, 2), func(st *agent.Status) (pdu.VariableType, any) { return displayString(st.Site) }},
	{sub(nodeArc, 3), func(st *agent.Status) (pdu.VariableType, any) { return displayString(st.Cluster) }},
	{sub(nodeArc, 4), func(st *agent.Status) (pdu.VariableType, any) { return displayString(st.Config.Version) }},
	{sub(nodeArc, 5), func(st *agent.Status) (pdu.VariableType, any) { return displayString(st.State) }},
	{sub(nodeArc, 6), func(st *agent.Status) (pdu.VariableType, any) {
		return pdu.VariableTypeInteger, int32(st.Health) + 1 // healthy(1), degraded(2), down(3)
	}},
	{sub(ringArc, 1), func(st *agent.Status) (pdu.VariableType, any) { return displayString(st.Ring) }},
	{sub(ringArc, 2), func(st *agent.Status) (pdu.VariableType, any) {
		return gauge32(countMembers(st, func(m *agent.MemberStatus) bool { return m.InRing }))
	}},
	{sub(ringArc, 3), func(st *agent.Status) (pdu.VariableType, any) {
		return gauge32(countMembers(st, func(m *agent.MemberStatus) bool { return m.Configured }))
	}},
	{sub(ringArc, 4), func(st *agent.Status) (pdu.VariableType, any) { return gauge32(len(st.Missing)) }},
	{sub(ringArc, 5), func(st *agent.Status) (pdu.VariableType, any) { return counter64(st.TokenRotation.Count) }},
	counter(sub(ringArc, 6), func(c *agent.Counters) uint64 { return c.Retransmits }),
	counter(sub(ringArc, 7), func(c *agent.Counters) uint64 { return c.RetransmitRequests }),
	counter(sub(ringArc, 8), func(c *agent.Counters) uint64 { return c.TokenRetransmits }),
	counter(sub(ringArc, 9), func(c *agent.Counters) uint64 { return c.TokenLosses }),
	counter(sub(ringArc, 10), func(c *agent.Counters) uint64 { return c.Gathers }),
	counter(sub(ringArc, 11), func(c *agent.Counters) uint64 { return c.RingsInstalled }),
	counter(sub(ringArc, 12), func(c *agent.Counters) uint64 { return c.RingEvictions }),
	counter(sub(ringArc, 13), func(c *agent.Counters) uint64 { return c.PacketsIn }),
	counter(sub(ringArc, 14), func(c *agent.Counters) uint64 { return c.PacketsOut }),
	counter(sub(ringArc, 15), (*agent.Counters).Rejected),
	counter(sub(ringArc, 16), func(c *agent.Counters) uint64 { return c.Malformed }),
	counter(sub(ringArc, 17), func(c *agent.Counters) uint64 { return c.MessagesSent }),
	counter(sub(ringArc, 18), func(c *agent.Counters) uint64 { return c.MessagesDelivered }),
	{sub(ringArc, 19), func(st *agent.Status) (pdu.VariableType, any) {
		return gauge32(st.Counters.Pending + st.Counters.Queued)
	}},
	counter(sub(ringArc, 20), func(c *agent.Counters) uint64 { return c.RingReadmissions }),
}

// groupCount is atollGroupCount, which the group table's query answers.
var groupCount = sub(groupArc, 1)

// column is one column of a table whose rows are Rs.
type column[R any] struct {
	sub uint32
	get func(*R) (pdu.VariableType, any)
}

var groupColumns = []column[agent.GroupInfo]{
	{2, func(g *agent.GroupInfo) (pdu.VariableType, any) { return gauge32(len(g.Members)) }},
	{3, func(g *agent.GroupInfo) (pdu.VariableType, any) { return gauge32(g.LocalMembers) }},
	{4, func(g *agent.GroupInfo) (pdu.VariableType, any) { return counter64(g.Delivered) }},
	{5, func(g *agent.GroupInfo) (pdu.VariableType, any) { return displayString(g.ViewID) }},
}

var fedColumns = []column[gateway.Stats]{
	{2, func(f *gateway.Stats) (pdu.VariableType, any) { return displayString(f.State) }},
	{3, func(f *gateway.Stats) (pdu.VariableType, any) { return displayString(f.Ring) }},
	{4, func(f *gateway.Stats) (pdu.VariableType, any) { return gauge32(len(f.Members)) }},
	{5, func(f *gateway.Stats) (pdu.VariableType, any) { return gauge32(len(f.Missing)) }},
	{6, func(f *gateway.Stats) (pdu.VariableType, any) { return counter64(f.Installs) }},
	{7, func(f *gateway.Stats) (pdu.VariableType, any) { return counter64(f.SitesLost) }},
	{8, func(f *gateway.Stats) (pdu.VariableType, any) { return counter64(f.SitesJoined) }},
	{9, func(f *gateway.Stats) (pdu.VariableType, any) { return counter64(f.Submitted) }},
	{10, func(f *gateway.Stats) (pdu.VariableType, any) { return counter64(f.Delivered) }},
	{11, func(f *gateway.Stats) (pdu.VariableType, any) { return counter64(f.Backpressure) }},
}

// stringIndex is the index of a table row named s (length, then one
// sub-identifier per byte); false when s is empty or longer than max.
func stringIndex(s string, max int) (value.OID, bool) {
	if len(s) == 0 || len(s) > max {
		return nil, false
	}
	oid := make(value.OID, 0, len(s)+1)
	oid = append(oid, uint32(len(s)))
	for i := 0; i < len(s); i++ {
		oid = append(oid, uint32(s[i]))
	}
	return oid, true
}

// appendTable appends the instances of a table's columns: entry.col.index
// for every row that has an index.
func appendTable[R any](out []varbind, entry value.OID, rows []R, index func(*R) (value.OID, bool), cols []column[R]) []varbind {
	for i := range rows {
		idx, ok := index(&rows[i])
		if !ok {
			continue
		}
		for _, c := range cols {
			t, v := c.get(&rows[i])
			out = append(out, varbind{append(sub(entry, c.sub), idx...), t, v})
		}
	}
	return out
}

// instances returns every instance ATOLL-MIB has for st and groups,
// sorted by OID. Without groups (nil), the group layer is left out.
func instances(st *agent.Status, groups []agent.GroupInfo) []varbind {
	out := make([]varbind, 0, len(scalars)+1+len(groups)*len(groupColumns)+len(st.Federation)*len(fedColumns))
	for _, s := range scalars {
		t, v := s.get(st)
		out = append(out, varbind{sub(s.oid, 0), t, v})
	}
	if groups != nil {
		t, v := gauge32(len(groups))
		out = append(out, varbind{sub(groupCount, 0), t, v})
		out = appendTable(out, groupTable, groups, func(g *agent.GroupInfo) (value.OID, bool) {
			return stringIndex(g.Name, maxGroupIndex)
		}, groupColumns)
	}
	out = appendTable(out, fedTable, st.Federation, func(f *gateway.Stats) (value.OID, bool) {
		return stringIndex(f.Domain, maxDomainIndex)
	}, fedColumns)
	slices.SortFunc(out, func(a, b varbind) int { return slices.Compare(a.oid, b.oid) })
	return out
}

// countMembers counts the members of st for which f holds.
func countMembers(st *agent.Status, f func(*agent.MemberStatus) bool) int {
	n := 0
	for i := range st.Members {
		if f(&st.Members[i]) {
			n++
		}
	}
	return n
}

// isObject reports whether oid is an instance of one of ATOLL-MIB's
// objects that has no such instance now (noSuchInstance rather than
// noSuchObject).
func isObject(oid value.OID) bool {
	for _, s := range scalars {
		if hasPrefix(oid, s.oid) {
			return true
		}
	}
	if hasPrefix(oid, groupCount) {
		return true
	}
	for _, c := range groupColumns {
		if hasPrefix(oid, sub(groupTable, c.sub)) {
			return true
		}
	}
	for _, c := range fedColumns {
		if hasPrefix(oid, sub(fedTable, c.sub)) {
			return true
		}
	}
	return false
}

func hasPrefix(oid, prefix value.OID) bool {
	return len(oid) >= len(prefix) && slices.Equal(oid[:len(prefix)], prefix)
}
