package agent

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// TestSlowGroupLayerKeepsRing: n1's group layer takes 2 s (ten token
// timeouts of the LAN preset) over the configuration change when n3
// leaves, as the state exchange and views of about 100,000 groups do on a
// loaded machine; meanwhile the ring of n1 and n2 keeps its token: it
// re-forms once, for n3's leave, and loses no token at either node. When
// the group layer ran on the driver's loop, n1 passed no token for that
// time and the ring re-formed (BenchmarkGroupsConfChange in
// internal/agenttest: 415 rings in 209 s at 30,000 groups). The traces
// still satisfy EVS: the group layer saw every event in order.
func TestSlowGroupLayerKeepsRing(t *testing.T) {
	const slow = 2 * time.Second
	c := newCluster(t, 3)
	var armed atomic.Bool
	slowDone := make(chan struct{})
	c.startPrepared("n1", nil, func(a *Agent) {
		a.gl.stepped = func(e *localring.Event) {
			if e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular && armed.CompareAndSwap(true, false) {
				time.Sleep(slow)
				close(slowDone)
			}
		}
	})
	c.start("n2", nil)
	c.start("n3", nil)
	c.waitRing([]string{"n1", "n2", "n3"}, 10*time.Second)
	both := []string{"n1", "n2"}
	before := map[string]Counters{}
	for _, id := range both {
		before[id] = c.agents[id].a.Status().Counters
	}
	armed.Store(true)
	c.stop("n3")
	select {
	case <-slowDone:
	case <-time.After(10 * time.Second):
		t.Fatal("n1's group layer never saw the ring without n3")
	}
	time.Sleep(3 * c.agents["n1"].a.ringSettings.TokenTimeout) // a stall at the end would show by now
	c.waitRing(both, 5*time.Second)
	for _, id := range both {
		st := c.agents[id].a.Status()
		b, n := before[id], st.Counters
		if n.TokenLosses != b.TokenLosses || n.RingsInstalled != b.RingsInstalled+1 {
			t.Errorf("%s: %d token losses and %d rings installed while n1's group layer worked for %v; want none and 1 (n3's leave)",
				id, n.TokenLosses-b.TokenLosses, n.RingsInstalled-b.RingsInstalled, slow)
		}
	}
	c.stopAll()
	c.check(false)
}
