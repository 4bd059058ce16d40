package groups

import (
	"fmt"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestViewIDsAcrossSeqBoundaries runs group requests at ring positions
// just below and above every boundary of the packet sequence number (2^30,
// 2^32, 2^40, 2^53, 2^63), in rings whose sequence numbers cross 2^24,
// 2^32, 2^53 and 2^63, and at two positions exactly 2^30 packets apart in
// one ring (where the old 30-bit packing gave both views the same id).
// View ids must never repeat, members must be ordered by join time (the
// stamps compare typed orders), and the EVS checker must pass.
func TestViewIDsAcrossSeqBoundaries(t *testing.T) {
	for _, c := range []struct{ ring, seq uint64 }{
		{1<<24 - 8, 1<<30 - 3},
		{1<<32 - 8, 1<<32 - 3},
		{1<<53 - 8, 1<<40 - 3},
		{1<<63 - 8, 1<<53 - 3},
		{0, 1<<63 - 3},
	} {
		t.Run(fmt.Sprintf("ring=%#x,seq=%#x", c.ring, c.seq), func(t *testing.T) {
			r := newTestRing(t, "a", "b")
			r.ringSeq = c.ring
			ids := map[string]string{} // view id → members
			collect := func() {
				for _, tn := range r.sortedNodes() {
					seen := map[string]bool{}
					for _, e := range tn.events {
						if e.Kind != EventView {
							continue
						}
						v := e.View
						key := v.Group + " " + v.ID
						if seen[key] {
							t.Fatalf("%s delivered view %s of %s twice", tn.id, v.ID, v.Group)
						}
						seen[key] = true
						m := strings.Join(v.Members, ",") + " " + v.Reason.String() + " " + fmt.Sprint(v.Transitional)
						if old, ok := ids[key]; ok && old != m {
							t.Fatalf("view id %s of %s names two views: [%s] and [%s]", v.ID, v.Group, old, m)
						}
						ids[key] = m
					}
				}
			}
			at := func(seq uint64) {
				for _, tr := range r.rings() {
					tr.seq = seq
				}
			}
			r.form([]string{"a", "b"})
			at(c.seq)
			r.run()
			// Requests one packet apart across the boundary.
			r.join("a", "x", "g")
			r.run()
			var first uint64 // the packet of the first join
			if _, err := fmt.Sscanf(lastView(t, r.node("a"), "g"), fmt.Sprintf("r:%d:a@%%d.0", c.ring+4), &first); err != nil || first <= c.seq {
				t.Fatalf("the first join's view %s does not name its packet, which is above %d (%v)", lastView(t, r.node("a"), "g"), c.seq, err)
			}
			r.join("b", "y", "g")
			r.run()
			r.leave("a", "x", "g")
			r.run()
			r.join("a", "x", "g")
			r.run()
			r.mcast("b", "y", localring.Agreed, "m1", "g")
			r.run()
			// Exactly 2^30 packets after the first join, in the same ring.
			at(first - 1 + 1<<30)
			r.leave("b", "y", "g")
			r.run()
			collect()
			if got, want := lastView(t, r.node("a"), "g"), fmt.Sprintf("r:%d:a@%d.0 [a:x] -b:y leave", c.ring+4, first+1<<30); got != want {
				t.Fatalf("view after 2^30 packets: %s, want %s", got, want)
			}
			// New rings across the ring sequence number boundary.
			for i := 0; i < 3; i++ {
				r.form([]string{"a"}, []string{"b"})
				at(c.seq)
				r.run()
				r.join("b", "z", "g")
				r.run()
				r.form([]string{"a", "b"})
				at(c.seq + uint64(i))
				r.run()
				// a:x joined rings before b:z: members in join order.
				if got := lastView(t, r.node("a"), "g"); !strings.Contains(got, "[a:x b:z]") {
					t.Fatalf("view after the merge in ring %d: %s, want members [a:x b:z]", r.ringSeq, got)
				}
				r.leave("b", "z", "g")
				r.run()
			}
			if r.ringSeq <= c.ring+16 {
				t.Fatalf("ring seq %d did not pass %d", r.ringSeq, c.ring+16)
			}
			collect()
			r.check(true)
			if len(ids) < 20 {
				t.Fatalf("only %d distinct views", len(ids))
			}
		})
	}
}
