package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// sitesYAML is the demo's topology: three sites of two nodes; a has two
// gateways (a-1 active, a-2 standby). Group global spans every site;
// group a-local is not in the file, so it stays in site a.
const sitesYAML = `version: 1
cluster: demo
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405"]
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["10.2.0.1:5405", "10.2.0.2:5405"]
    nodes: [{id: b-1}, {id: b-2}]
    gateways: [b-1]
  - name: c
    unicast: ["10.3.0.1:5405", "10.3.0.2:5405"]
    nodes: [{id: c-1}, {id: c-2}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: %s}
  - {between: [b, c], rtt: %s}
groups:
  - {name: global, class: global, sites: ["*"]}
`

const (
	localGroup  = "a-local"
	globalGroup = "global"
)

// sitesDemo is the state of `atoll demo --sites`.
type sitesDemo struct {
	out   io.Writer
	w     *sites.World
	start time.Time
	bad   []string
}

func (d *sitesDemo) printf(format string, a ...any) {
	fmt.Fprintf(d.out, "%6.1fs  ", time.Since(d.start).Seconds())
	fmt.Fprintf(d.out, format, a...)
	fmt.Fprintln(d.out)
}

// runSitesDemo runs the demo of groups across sites; farRTT is the
// round-trip time between site c and the others.
func runSitesDemo(out io.Writer, farRTT time.Duration) (err error) {
	far := farRTT.String()
	w, err := sites.New(sites.Config{Name: "demo.yaml", Topology: fmt.Appendf(nil, sitesYAML, far, far)})
	if err != nil {
		return err
	}
	d := &sitesDemo{out: out, w: w, start: time.Now()}
	defer w.Close()
	defer func() {
		if err != nil {
			w.StopAll()
			fmt.Fprintf(out, "\nagent logs:\n%s", w.Logs())
		}
	}()
	fmt.Fprintf(out, "Atoll demo: three sites of two agents in this process. Each site's ring runs on a simulated LAN;\n")
	fmt.Fprintf(out, "the gateways federate over QUIC on loopback through the WAN emulator: a–b 10ms RTT, c %v from both.\n", farRTT)
	if err := w.StartAll(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n== The sites' rings form and their gateways federate\n")
	if err := w.WaitDomains(30 * time.Second); err != nil {
		return err
	}
	d.printf("one configuration of the cross-site domain with all 6 agents; a-1 is site a's active gateway")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	ids := w.Nodes()
	if err := w.Join(ctx, globalGroup, ids...); err != nil {
		return err
	}
	if err := w.Join(ctx, localGroup, "a-1", "a-2"); err != nil {
		return err
	}
	if err := w.WaitView(globalGroup, ids, 30*time.Second); err != nil {
		return err
	}
	d.printf("every client is in %s (6 members, 3 sites) and a-1, a-2 in %s (site a only)", globalGroup, localGroup)

	tick := d.ticker()
	defer tick()
	fmt.Fprintf(out, "\n== Light load: every client multicasts to %s, a-2 to %s too (latency = send to delivery)\n", globalGroup, localGroup)
	if err := w.Run(
		sites.Load{Phase: "steady", Senders: ids, Groups: []string{globalGroup}, For: 3 * time.Second},
		sites.Load{Phase: "steady", Senders: []string{"a-2"}, Groups: []string{localGroup}, For: 3 * time.Second}); err != nil {
		return err
	}
	d.count("steady", ids)

	fmt.Fprintf(out, "\n== a-1, site a's active gateway, stops; a-2 takes over (b and c send to %s, a-2 to %s)\n", globalGroup, localGroup)
	d.printf("stopping a-1 (its client disconnects)")
	if err := w.Stop("a-1"); err != nil {
		return err
	}
	bc := []string{"b-1", "b-2", "c-1", "c-2"}
	live := []string{"a-2", "b-1", "b-2", "c-1", "c-2"}
	if err := w.Run(
		sites.Load{Phase: "failover", Senders: bc, Groups: []string{globalGroup}, For: 2 * time.Second},
		sites.Load{Phase: "failover-local", Senders: []string{"a-2"}, Groups: []string{localGroup}, For: 2 * time.Second}); err != nil {
		return err
	}
	if err := w.WaitView(globalGroup, live, 30*time.Second); err != nil {
		return err
	}
	d.printf("a-2 is site a's active gateway; %s has the 5 members left", globalGroup)
	d.count("failover", bc)
	d.count("failover-local", []string{"a-2"})

	fmt.Fprintf(out, "\n== The 5 members left multicast again\n")
	if err := w.Run(
		sites.Load{Phase: "merged", Senders: live, Groups: []string{globalGroup}, For: 3 * time.Second},
		sites.Load{Phase: "merged", Senders: []string{"a-2"}, Groups: []string{localGroup}, For: 3 * time.Second}); err != nil {
		return err
	}
	d.count("merged", live)
	tick()

	fmt.Fprintf(out, "\n== The EVS checker reads every agent's trace\n")
	res, err := w.Check()
	if err != nil {
		return err
	}
	if len(res.Violations) > 0 {
		_ = evs.Report(out, res.Violations)
		d.bad = append(d.bad, fmt.Sprintf("%d EVS violations", len(res.Violations)))
	} else {
		fmt.Fprintf(out, "%d trace events from 6 agents (site rings and the cross-site domain, with its domain-wide order): no violation of extended virtual synchrony.\n", res.Events)
	}
	fmt.Fprint(out, sitesLegend)
	if len(d.bad) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("demo: %s", strings.Join(d.bad, "; "))}
	}
	return nil
}

const sitesLegend = `
What you saw:
  a-local   a group inside site a: ordered by a's ring alone, its latency stays at LAN scale
            whatever the WAN does, even while a's gateway is replaced.
  global    a group across the three sites: ordered by the federation ring of the gateways,
            its latency follows the slowest path (to c).
  lost/dup  messages of members that stayed connected, missing or delivered twice at members
            that stayed connected: both must be 0.
  failover  a-1 stopped: the global domain re-formed without a, then with a through a-2; the
            global messages sent meanwhile waited (the long latencies after it), none was lost.
`

// count prints the lost and duplicated counts of phase among ids and
// notes what is wrong.
func (d *sitesDemo) count(phase string, ids []string) {
	c := d.w.Count(phase, ids, 20*time.Second)
	d.printf("%-14s %4d messages sent by %v: %d lost, %d duplicated", phase+":", c.Sent, ids, c.Lost, c.Dup)
	if c.Lost > 0 {
		d.printf("  e.g. %s", strings.Join(c.Missing, ", "))
		d.bad = append(d.bad, fmt.Sprintf("%s: %d messages lost", phase, c.Lost))
	}
	if c.Dup > 0 {
		d.bad = append(d.bad, fmt.Sprintf("%s: %d messages duplicated", phase, c.Dup))
	}
}

// ticker prints, every second, the latencies of each group's deliveries
// in that second; the function it returns stops it (once).
func (d *sitesDemo) ticker() func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				lat := d.w.TakeLatencies()
				d.printf("%s  |  %s", latency(localGroup, lat[localGroup]), latency(globalGroup, lat[globalGroup]))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// latency summarizes one group's latencies.
func latency(group string, ls []time.Duration) string {
	if len(ls) == 0 {
		return fmt.Sprintf("%-8s %4d delivered", group, 0)
	}
	slices.Sort(ls)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return fmt.Sprintf("%-8s %4d delivered  p50 %7.1fms  max %7.1fms", group, len(ls), ms(ls[len(ls)/2]), ms(ls[len(ls)-1]))
}
