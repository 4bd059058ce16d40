package groups_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// The driver loop of one agent: ring events go to the group layer in
// order, the group layer's ring messages go to the ring in order, and its
// events go to the local clients. This node is alone on its ring: the only
// packets that matter are its tokens, which it sends to itself; a real
// driver sends rd.Packets on the network and feeds what it receives to
// ring.Step.
func Example() {
	cfg := localring.DefaultLAN("fra-1")
	cfg.Rand = rand.NewPCG(1, 2)
	ring, err := localring.New(cfg)
	if err != nil {
		panic(err)
	}
	g, err := groups.New(groups.Config{Node: ring.ID()})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var queue []groups.Submit // ring messages the ring has not taken yet
	pass := func() {
		for ring.HasReady() || g.HasReady() {
			rd0 := ring.Ready()
			for _, p := range rd0.Packets {
				if p.To == ring.ID().ID {
					_ = ring.Step(now, p.Data)
				}
			}
			for _, e := range rd0.Events {
				g.Step(e)
			}
			rd := g.Ready()
			queue = append(queue, rd.Submits...)
			for len(queue) > 0 {
				if _, err := ring.Submit(now, queue[0].Svc, queue[0].Payload); err != nil {
					break // back-pressure: keep the rest, in order
				}
				queue = queue[1:]
			}
			for _, e := range rd.Events {
				switch e.Kind {
				case groups.EventView:
					fmt.Printf("view of %s for %v: %v (%s)\n", e.View.Group, e.To, e.View.Members, e.View.Reason)
				case groups.EventDeliver:
					fmt.Printf("%s from %s to %v: %s\n", e.Msg.Groups, e.Msg.Sender, e.To, e.Msg.Payload)
				}
			}
		}
	}
	run := func(d time.Duration) {
		for end := now.Add(d); ; {
			pass()
			next := ring.NextDeadline()
			if next.IsZero() || next.After(end) {
				now = end
				return
			}
			now = next
			ring.Tick(now)
		}
	}

	ring.Start(now)
	run(time.Second) // the ring forms (alone)
	if err := g.Join("alice", "chat"); err != nil {
		panic(err)
	}
	if err := g.Join("bob", "chat"); err != nil {
		panic(err)
	}
	if _, err := g.Multicast("alice", localring.Agreed, 1, []string{"chat"}, []byte("hello")); err != nil {
		panic(err)
	}
	run(time.Second)
	// Output:
	// view of chat for [alice]: [fra-1:alice] (join)
	// view of chat for [alice bob]: [fra-1:alice fra-1:bob] (join)
	// [chat] from fra-1:alice to [alice bob]: hello
}
