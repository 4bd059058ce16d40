package agent

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// TestSendClasses: a node's federation domains send in the send class of
// the class the planner formed them for, ranked by budget (package qos),
// and its ring bounds the looser classes per visit; a node whose site is
// in no federation domain has no classes (everything in class 0).
func TestSendClasses(t *testing.T) {
	f, err := topology.Parse("classes.yaml", []byte(`version: 1
cluster: classes
classes:
  - {name: global, budget: 30s}
  - {name: realtime, budget: 2ms}
  - {name: regional, budget: 1s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405"], quic: "127.0.0.1:7001", nodes: [{id: a-1}], gateways: [a-1]}
  - {name: b, unicast: ["10.2.0.1:5405"], quic: "127.0.0.1:7002", nodes: [{id: b-1}], gateways: [b-1]}
  - {name: c, unicast: ["10.3.0.1:5405"], quic: "127.0.0.1:7003", nodes: [{id: c-1}], gateways: [c-1]}
  - {name: d, unicast: ["10.4.0.1:5405"], nodes: [{id: d-1}]}
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 20ms}
  - {between: [b, c], rtt: 20ms}
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
	tab, err := cfg.sendClasses()
	if err != nil || tab == nil {
		t.Fatalf("sendClasses: %v, %v", tab, err)
	}
	seen := map[string]bool{}
	for _, d := range plan.Domains {
		if d.Kind != topology.FederationDomain {
			continue
		}
		seen[d.Class] = true
		want := map[string]int{"regional": 1, "global": 2}[d.Class]
		if got, ok := tab.SendClass(d.Class); !ok || got != want {
			t.Errorf("domain %s (class %s): send class %d, %v; want %d", d.Name, d.Class, got, ok, want)
		}
	}
	if !seen["regional"] || !seen["global"] {
		t.Fatalf("the plan's federation domains are for %v; want regional and global", seen)
	}
	if got := tab.VisitPackets(); len(got) != 3 || got[0] != 0 || got[1] == 0 || got[2] == 0 {
		t.Errorf("visit bounds %v: want none for class 0 and one for each looser class", got)
	}
	cfg.Site = "d"
	if tab, err := cfg.sendClasses(); tab != nil || err != nil {
		t.Errorf("site d, in no federation domain: %v, %v; want no classes", tab, err)
	}
}

// TestSubmitGroupsByClass: when the ring pushes back on a federation
// domain's send class, the site's own messages queued after them still go
// to the ring, and what waits keeps its order within its class.
func TestSubmitGroupsByClass(t *testing.T) {
	cfg := localring.DefaultLAN("a-1")
	cfg.MaxPendingMessages = 1
	node, err := localring.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	node.Start(now)
	a := &Agent{node: node, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	msg := func(p string, class int) groups.Submit {
		return groups.Submit{Svc: localring.Agreed, Payload: []byte(p), Class: class}
	}
	a.gr.out = []groups.Submit{msg("up1", 2), msg("up2", 2), msg("rt1", 0), msg("up3", 2), msg("rt2", 0)}
	a.submitGroups(now)
	if got, want := []int{node.PendingClass(0), node.PendingClass(2)}, []int{1, 1}; !slices.Equal(got, want) {
		t.Errorf("the ring holds %v messages of classes 0 and 2, want %v", got, want)
	}
	var left []string
	for _, s := range a.gr.out {
		left = append(left, string(s.Payload))
	}
	if want := []string{"up2", "up3", "rt2"}; !slices.Equal(left, want) {
		t.Errorf("left for the next pass %q, want %q", left, want)
	}
}

// TestSubmitGroupsDropsRefused: a message of the agent's own layers that
// the ring refuses for good (larger than the ring takes) is dropped,
// counted and logged, and the messages after it in its class go to the
// ring; kept, it stayed at the head of its class for ever and held the
// class's whole stream behind it.
func TestSubmitGroupsDropsRefused(t *testing.T) {
	cfg := localring.DefaultLAN("a-1")
	cfg.MaxMessageBytes = 16
	node, err := localring.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	node.Start(now)
	var log strings.Builder
	a := &Agent{node: node, log: slog.New(slog.NewTextHandler(&log, nil))}
	msg := func(p string, class int) groups.Submit {
		return groups.Submit{Svc: localring.Agreed, Payload: []byte(p), Class: class}
	}
	a.gr.out = []groups.Submit{msg("seen: far more than sixteen bytes", 2), msg("have", 2), msg("rt1", 0)}
	a.submitGroups(now)
	if len(a.gr.out) != 0 {
		t.Errorf("%d messages left for the next pass, want none", len(a.gr.out))
	}
	if got, want := []int{node.PendingClass(0), node.PendingClass(2)}, []int{1, 1}; !slices.Equal(got, want) {
		t.Errorf("the ring holds %v messages of classes 0 and 2, want %v (the one after the refused one went)", got, want)
	}
	if got := a.n.ringRefused.Load(); got != 1 {
		t.Errorf("ringRefused = %d, want 1", got)
	}
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "bytes=33") {
		t.Errorf("no error log naming the dropped message's size:\n%s", log.String())
	}
	if refusedForGood(localring.ErrBackpressure) {
		t.Error("back-pressure counted as a refusal for good")
	}
}
