package sites_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// stallYAML: site a's only gateway is a-1; with it gone, group g's
// messages from a-2 are never ordered (nothing takes a's Ups to the
// federation ring), while a-2's local ring goes on.
const stallYAML = `version: 1
cluster: stall
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
  - {between: [a, b], rtt: 10ms}
groups:
  - {name: g, class: global, sites: ["*"]}
`

// TestDomainBacklogSparesLocalGroups: a federation domain whose messages
// are held back (here: its site has no gateway left) fills its group
// layer's send queue at a node; another client of that node must still
// join a site-local group and have its messages delivered. With one
// admission bound for every group layer of the node, the domain's
// backlog held every request of every client of the node, for as long as
// the backlog lasted.
func TestDomainBacklogSparesLocalGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three agents and a federation ring")
	}
	w := sites.NewForTest(t, sites.Config{Topology: []byte(stallYAML)})
	w.StartForTest(t, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.JoinForTest(ctx, t, "g", w.Nodes()...)
	if err := w.Kill("a-1"); err != nil {
		t.Fatal(err)
	}

	// a-2's client fills g's send queue: nothing it sends is ordered now.
	a2 := w.Node("a-2")
	flood, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for flood.Err() == nil {
			if err := a2.Client().Multicast(flood, client.Agreed, 1, []string{"g"}, make([]byte, 512)); err != nil {
				time.Sleep(time.Millisecond) // back-pressure: the queue is full
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := a2.Agent().Status()
		if len(st.Domains) == 1 && st.Domains[0].Queued >= st.ClientLimits.SendQueueMsgs {
			t.Logf("g's send queue at a-2 holds %d messages (bound %d)", st.Domains[0].Queued, st.ClientLimits.SendQueueMsgs)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("g's send queue at a-2 did not fill: %+v", st.Domains)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Another client of a-2, on a group local to site a.
	c, err := client.DialAgent(ctx, a2.Agent(), client.WithName("local"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	jctx, jcancel := context.WithTimeout(ctx, 20*time.Second)
	defer jcancel()
	if err := c.Join(jctx, "loc"); err != nil {
		t.Fatalf("joining a site-local group while g's queue is full: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	for i := range 20 {
		p := fmt.Sprintf("local %d", i)
		if err := c.MulticastWait(jctx, client.Agreed, 1, []string{"loc"}, []byte(p)); err != nil {
			t.Fatalf("multicast %d to the site-local group while g's queue is full: %v", i, err)
		}
	}
	got := 0
	for got < 20 {
		select {
		case e := <-c.Events():
			if e.Kind == client.EventMessage {
				got++
			}
		case <-jctx.Done():
			t.Fatalf("%d of 20 site-local messages delivered while g's queue is full (after %v)", got, time.Since(start).Round(time.Millisecond))
		}
	}
	t.Logf("site-local group: joined and 20 messages delivered in %v while g's send queue at a-2 was full", time.Since(start).Round(time.Millisecond))
}
