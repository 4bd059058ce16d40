package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/sim"
	"github.com/atoll-gcs/atoll/topology"
)

// TestReformAskAfterSafeEverywhere asks a member of a three-site ring
// (two sites 5 ms apart, the third 100 ms from both, one way) to form the
// ring again at each Safe message it delivers, as a gateway whose site
// applied its announcement does (gateway/domconf Ready.Reform), and checks
// that when the ask falls due (ReformAsk.Due) every other member has
// delivered that message: a ring formed again before would keep it from
// them until its membership round ends. At the ask itself some member
// has not delivered it yet at least once, else the test proves nothing
// (the ring formed again at once, as before ReformAsk, stopped hiersim's
// fra before it delivered the Safe Ack its domain's entry waited for).
// Then an ask whose member leaves its ring first is dropped.
func TestReformAskAfterSafeEverywhere(t *testing.T) {
	c := sim.NewCluster(7, 3)
	c.Config = localring.DefaultWAN("").WithTimings(topology.DeriveTimeouts(205*time.Millisecond, 200*time.Millisecond).Ring())
	c.SetDelays([][]time.Duration{
		{100 * time.Microsecond, 5 * time.Millisecond, 100 * time.Millisecond},
		{5 * time.Millisecond, 100 * time.Microsecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Microsecond},
	})
	delivered := map[localring.NodeID]map[localring.MessageID]bool{}
	var fresh []localring.MessageID // Safe messages node asker delivered in this step
	const asker = 2                 // n3, the far member
	c.OnEvent = func(node localring.NodeID, _ uint64, e localring.Event) {
		if e.Kind != localring.EventDeliver {
			return
		}
		if delivered[node] == nil {
			delivered[node] = map[localring.MessageID]bool{}
		}
		delivered[node][e.Msg.ID] = true
		if node == c.NodeID(asker) && e.Msg.Svc == localring.Safe {
			fresh = append(fresh, e.Msg.ID)
		}
	}
	c.StartAll()
	c.RunFor(10 * time.Second)
	if !c.Converged() {
		t.Fatal("the ring did not form in 10 s")
	}
	missing := func(id localring.MessageID) []localring.NodeID {
		var out []localring.NodeID
		for i := range c.Size() {
			if n := c.NodeID(i); !delivered[n][id] {
				out = append(out, n)
			}
		}
		return out
	}
	type ask struct {
		a  *ReformAsk
		id localring.MessageID
	}
	var (
		asks           []ask
		checked, raced int
		ring           = c.Node(asker).Configuration().Ring
		end            = c.Elapsed() + 5*time.Second
		sent           int
	)
	for c.Elapsed() < end {
		if c.Elapsed()%(7*time.Millisecond) == 0 {
			_ = c.SubmitPayload(sent%3, localring.Safe, []byte(fmt.Sprint("m", sent)))
			sent++
		}
		fresh = fresh[:0]
		c.RunFor(time.Millisecond)
		for _, id := range fresh {
			a := NewReformAsk(c.Node(asker))
			if a == nil {
				t.Fatal("no ask for a member in a ring")
			}
			if len(missing(id)) > 0 {
				raced++
			}
			asks = append(asks, ask{a, id})
		}
		kept := asks[:0]
		for _, k := range asks {
			due, pending := k.a.Due(c.Node(asker))
			switch {
			case due:
				checked++
				if m := missing(k.id); len(m) > 0 {
					t.Fatalf("at +%v the ask made when %s delivered Safe %v fell due, but %v had not delivered it", c.Elapsed(), c.NodeID(asker), k.id, m)
				}
			case !pending:
				t.Fatalf("at +%v the ask made when %s delivered Safe %v was dropped, its member still in ring %v (%s)", c.Elapsed(), c.NodeID(asker), k.id, ring, c.Node(asker).State())
			default:
				kept = append(kept, k)
			}
		}
		asks = kept
	}
	if checked < 20 || raced == 0 {
		t.Fatalf("%d asks fell due, %d of them made while a member had not delivered the message: the test needs at least 20 and 1", checked, raced)
	}
	t.Logf("%d asks fell due, every member had delivered its message; %d of them were made while one had not", checked, raced)

	// An ask whose member starts a membership round before its next
	// token visit is dropped, in the round and in the ring it forms: that
	// ring's configuration covers it.
	a := NewReformAsk(c.Node(asker))
	c.Reform(asker)
	if due, pending := a.Due(c.Node(asker)); due || pending {
		t.Fatalf("an ask whose member started a membership round: due %v, pending %v; want neither", due, pending)
	}
	c.RunFor(10 * time.Second)
	if now := c.Node(asker).Configuration(); !c.Converged() || now.Ring == ring {
		t.Fatalf("the ring did not form again in 10 s (converged %v, ring %v, was %v)", c.Converged(), now.Ring, ring)
	}
	if due, pending := a.Due(c.Node(asker)); due || pending {
		t.Fatalf("an ask made in the ring before: due %v, pending %v; want neither", due, pending)
	}
}
