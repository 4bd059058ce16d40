package sites_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// backlogYAML: site a's two nodes send to a group of a and b over a link
// of 512 kbit/s, which the world's WAN emulator enforces.
const backlogYAML = `version: 1
cluster: backlog
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405"]
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1]
  - name: b
    unicast: ["10.2.0.1:5405"]
    nodes: [{id: b-1}]
    gateways: [b-1]
links:
  - {between: [a, b], rtt: 40ms, bandwidth: 512kbit/s}
groups:
  - {name: g, class: global, sites: ["*"]}
`

// TestDomainBacklogBound: senders that offer a federation domain more than
// its slowest link carries are pushed back once their site's messages
// waiting to be ordered reach the domain's backlog bound (agent
// Config.DomainBacklog at the link's 512 kbit/s: 64,000 bytes, raised to
// MinDomainBacklogBytes), not at each node's send queue (100 messages,
// about 210 KB of these): every node of the site counts the others' Ups
// not yet ordered with its own, so that two nodes sending hold no more
// than one bound (and what the local ring has not delivered yet) between
// them. Nothing is lost: every message a sender's MulticastWait returned
// for reaches every node (sites.World.Count: unless its sender got it in a
// transitional view of itself alone, which a federation token lost under
// -race gives, and EVS allows: sites.DeliveredApart).
func TestDomainBacklogBound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three agents and a federation ring over a capped link")
	}
	const size = 2 << 10
	var mu sync.Mutex
	var lat []time.Duration
	w := sites.NewForTest(t, sites.Config{Topology: []byte(backlogYAML), OnDeliver: func(d sites.Delivery) {
		if d.Node == "b-1" && d.Phase == "flood" {
			mu.Lock()
			lat = append(lat, d.Latency)
			mu.Unlock()
		}
	}})
	w.StartForTest(t, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.JoinForTest(ctx, t, "g", w.Nodes()...)
	st := w.Node("a-1").Agent().Status()
	if len(st.Domains) != 1 || st.Domains[0].BacklogBound != agent.MinDomainBacklogBytes {
		t.Fatalf("domains %+v: want one, with a backlog bound of %d bytes", st.Domains, agent.MinDomainBacklogBytes)
	}
	bound := st.Domains[0].BacklogBound

	// Both nodes of a send as fast as the agent takes their messages
	// (about three times what the link carries) for 8 s, then flush.
	g := w.Load(sites.Load{Phase: "flood", Senders: []string{"a-1", "a-2"}, Groups: []string{"g"}, Every: time.Nanosecond, Size: size, For: 8 * time.Second})
	flooded := make(chan error, 1)
	go func() { flooded <- g.Wait() }()
	// Each node's count of the site's backlog never passes the bound by
	// more than a message and the other node's messages not yet delivered
	// on the local ring: at most its share, bound / (2 × 2 nodes), and a
	// message.
	most := map[string]int{}
	var err error
	for done := false; !done; {
		for _, id := range []string{"a-1", "a-2"} {
			if ds := w.Node(id).Agent().Status().Domains; len(ds) == 1 {
				most[id] = max(most[id], ds[0].Backlog)
			}
		}
		select {
		case err = <-flooded:
			done = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	slack := bound/4 + 2*(size+256)
	for id, b := range most {
		t.Logf("%s: the site's backlog as it counts it reached %d bytes (bound %d)", id, b, bound)
		if b > bound+slack {
			t.Errorf("%s: the site's backlog reached %d bytes, over the bound %d by more than %d", id, b, bound, slack)
		}
	}
	if c := w.Count("flood", w.Nodes(), 30*time.Second); c.Sent != g.Sent() || c.Sent == 0 || !c.OK() {
		t.Fatalf("%v; the load had %d sent", c, g.Sent())
	} else {
		t.Log(c)
	}
	mu.Lock()
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("%d messages of %d bytes from a to b over 512 kbit/s: from MulticastWait to b-1, p50 %v, max %v", len(lat), size, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}
	mu.Unlock()
}
