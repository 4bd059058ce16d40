package agent

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/qos"
	"github.com/atoll-gcs/atoll/topology"
)

// TestPacers: a looser send class whose federation domains declare their
// slowest link's bandwidth is paced at PaceFactor times it, with a burst
// of one visit's worth; a class with a domain that declares none, and the
// site's own class, are not.
func TestPacers(t *testing.T) {
	f, err := topology.Parse("pace.yaml", []byte(`version: 1
cluster: pace
classes:
  - {name: realtime, budget: 2ms}
  - {name: regional, budget: 40ms}
  - {name: global, budget: 1s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405"], quic: "127.0.0.1:7001", nodes: [{id: a-1}], gateways: [a-1]}
  - {name: b, unicast: ["10.2.0.1:5405"], quic: "127.0.0.1:7002", nodes: [{id: b-1}], gateways: [b-1]}
  - {name: c, unicast: ["10.3.0.1:5405"], quic: "127.0.0.1:7003", nodes: [{id: c-1}], gateways: [c-1]}
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: 200ms, bandwidth: 1Mbit/s}
  - {between: [b, c], rtt: 200ms, bandwidth: 2Mbit/s}
groups:
  - {name: a-local, class: realtime, sites: [a]}
  - {name: ab, class: regional, sites: [a, b]}
  - {name: abc, class: global, sites: [a, b, c]}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	cfg := Config{Site: "a", Federation: &Federation{File: f, Plan: plan}}
	a := &Agent{cfg: cfg}
	if a.classes, err = cfg.sendClasses(); err != nil || a.classes == nil {
		t.Fatalf("sendClasses: %v, %v", a.classes, err)
	}
	send := map[string]int{}
	for i := range plan.Domains {
		d := &plan.Domains[i]
		if d.Kind != topology.FederationDomain {
			continue
		}
		sc, _ := a.classes.SendClass(d.Class)
		send[d.Class] = sc
		a.doms = append(a.doms, &domainLayer{d: d, send: sc})
	}
	if len(send) != 2 {
		t.Fatalf("the plan's federation domains are of classes %v; want regional and global", send)
	}
	ps := a.newPacers(1400)
	for class, p := range ps {
		switch {
		case class == send["global"]:
			// a-c, the slowest link of a+b+c: 1 Mbit/s.
			if p == nil || p.rate != PaceFactor*1e6/8 || p.depth != qos.LooseVisitPackets*1400 || p.delay != 25*time.Millisecond {
				t.Errorf("send class %d (global): pacer %+v; want %d B/s, a burst of %d B, at most 25 ms added (1 s / %d)", class, p, PaceFactor*1_000_000/8, qos.LooseVisitPackets*1400, PaceBudgetShare)
			}
		case p != nil:
			t.Errorf("send class %d: paced (%+v); want only global's (%d): regional declares no bandwidth, class 0 is the site's", class, p, send["global"])
		}
	}
}

// TestPaceLooseClass: a burst of a paced class's messages goes to the
// ring a visit's worth at once and the rest at the class's rate, in
// order, while the site's own class goes at once, also queued after the
// burst; the driver is asked for a pass when the class may send again.
// What the rate would not send within the class's delay goes at once.
func TestPaceLooseClass(t *testing.T) {
	const size, rate = 1000, 100_000 // 100 messages/s
	for _, tc := range []struct {
		delay           time.Duration
		atOnce          int // of the 40 class-2 messages, at the first pass
		in50ms, in100ms int // by 50 and 100 ms, at the passes asked for
	}{
		// 4 of the burst, then 100 a second.
		{delay: time.Second, atOnce: 4, in50ms: 9, in100ms: 14},
		// 4 of the burst, then the other 36 spread over the 100 ms that
		// none of them may wait beyond (360 a second), not at once.
		{delay: 100 * time.Millisecond, atOnce: 4, in50ms: 22, in100ms: 40},
	} {
		t.Run(tc.delay.String(), func(t *testing.T) {
			node, err := localring.New(localring.DefaultLAN("a-1"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1000, 0)
			node.Start(now)
			a := &Agent{node: node, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			a.pace = make([]*pacer, 3)
			a.pace[2] = &pacer{rate: rate, cur: rate, depth: 4 * size, delay: tc.delay}
			for range 40 {
				a.gr.out = append(a.gr.out, groups.Submit{Svc: localring.Agreed, Payload: make([]byte, size), Class: 2})
			}
			a.gr.out = append(a.gr.out, groups.Submit{Svc: localring.Agreed, Payload: []byte("rt"), Class: 0})
			a.submitGroups(now)
			if got := node.PendingClass(0); got != 1 {
				t.Errorf("class 0: %d messages at the ring, want 1 (it does not wait for the paced class)", got)
			}
			if got := node.PendingClass(2); got < tc.atOnce-1 || got > tc.atOnce+1 {
				t.Errorf("class 2: %d messages at the ring at once, want %d", got, tc.atOnce)
			}
			if want := now.Add(10 * time.Millisecond); a.paceNext.Before(now) || a.paceNext.After(want) {
				t.Errorf("next pass asked for %v after the start, want within %v", a.paceNext.Sub(now), want.Sub(now))
			}
			// Passes when asked, for 50 and 100 ms.
			for _, by := range []struct {
				d    time.Duration
				want int
			}{{50 * time.Millisecond, tc.in50ms}, {100 * time.Millisecond, tc.in100ms}} {
				for end := now.Add(by.d); !a.paceNext.IsZero() && !a.paceNext.After(end); {
					a.submitGroups(a.paceNext)
				}
				if got := node.PendingClass(2); got < by.want-1 || got > by.want+1 {
					t.Errorf("class 2 after %v: %d at the ring, want %d", by.d, got, by.want)
				}
			}
			if got := len(a.gr.out); got != 40-node.PendingClass(2) {
				t.Errorf("%d messages left for later passes, want %d", got, 40-node.PendingClass(2))
			}
			// The rest goes at the passes asked for.
			for i := 0; len(a.gr.out) > 0 && i < 100; i++ {
				a.submitGroups(a.paceNext)
			}
			if len(a.gr.out) != 0 || node.PendingClass(2) != 40 {
				t.Errorf("in the end %d left, %d at the ring; want 0 and 40", len(a.gr.out), node.PendingClass(2))
			}
			if !a.paceNext.IsZero() {
				t.Errorf("nothing waits, but a pass is asked for at %v", a.paceNext)
			}
		})
	}
}

// TestPaceDeadline: when the driver's passes come late (a busy host), a
// message that waited its class's delay goes at once with everything
// before it; a burst that arrives later has deadlines of its own.
func TestPaceDeadline(t *testing.T) {
	node, err := localring.New(localring.DefaultLAN("a-1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	node.Start(now)
	const size = 1000
	a := &Agent{node: node, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.pace = make([]*pacer, 3)
	a.pace[2] = &pacer{rate: 100_000, cur: 100_000, depth: 4 * size, delay: 100 * time.Millisecond}
	burst := func() {
		for range 20 {
			a.gr.out = append(a.gr.out, groups.Submit{Svc: localring.Agreed, Payload: make([]byte, size), Class: 2})
		}
	}
	burst()
	a.submitGroups(now)
	if got := node.PendingClass(2); got != 4 {
		t.Fatalf("%d at the ring at once, want 4", got)
	}
	// The next pass 60 ms later, where one was asked for within 10 ms;
	// a second burst arrived meanwhile.
	burst()
	a.submitGroups(now.Add(60 * time.Millisecond))
	if got := node.PendingClass(2); got > 4+12 {
		t.Errorf("after 60 ms: %d at the ring, want at most 16 (what the first burst's deadline asks)", got)
	}
	a.submitGroups(now.Add(110 * time.Millisecond))
	if got := node.PendingClass(2); got < 20 || got >= 40 {
		t.Errorf("past the first burst's deadline: %d at the ring, want all of the first burst and not the whole second", got)
	}
	a.submitGroups(now.Add(170 * time.Millisecond))
	if got := node.PendingClass(2); got != 40 {
		t.Errorf("past the second burst's deadline: %d at the ring, want 40", got)
	}
}
