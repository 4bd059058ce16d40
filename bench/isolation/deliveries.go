package isolation

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
)

// writeDeliveries writes every delivery of every member as CSV, one line
// per (message, receiver): group, phase, round, sender, seq, receiver,
// sent and delivered (ns on the run's clock, the wall clock since the
// run's start), sorted by group, send time and receiver. The report's
// percentiles are over the lines whose send time falls in a phase's
// measured part; the file holds the warm-up's too, for a look at any
// distribution the report does not give (Config.Deliveries).
func (b *runner) writeDeliveries(w io.Writer) error {
	type line struct {
		group, receiver string
		k               key
		d               delivery
	}
	var lines []line
	for _, g := range Groups {
		for _, m := range b.members[g] {
			m.mu.Lock()
			for k, d := range m.got {
				lines = append(lines, line{g, m.node, k, *d})
			}
			m.mu.Unlock()
		}
	}
	slices.SortFunc(lines, func(x, y line) int {
		return cmp.Or(cmp.Compare(x.k.group, y.k.group), cmp.Compare(x.d.sent, y.d.sent), cmp.Compare(x.k.sender, y.k.sender), cmp.Compare(x.receiver, y.receiver))
	})
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "group,phase,round,sender,seq,receiver,sent_ns,delivered_ns")
	nodes := allNodes()
	for _, l := range lines {
		sender := "?"
		if int(l.k.sender) < len(nodes) {
			sender = nodes[l.k.sender]
		}
		fmt.Fprintf(bw, "%s,%s,%d,%s,%d,%s,%d,%d\n", l.group, phaseKey(int(l.k.phase)%nPhases), int(l.k.phase)/nPhases, sender, l.k.seq, l.receiver, l.d.sent, l.d.at)
	}
	return bw.Flush()
}

// phaseKey names phase ph in one word, for the deliveries file.
func phaseKey(ph int) string {
	return [...]string{"detached", "attached", "saturating", "failover"}[ph]
}
