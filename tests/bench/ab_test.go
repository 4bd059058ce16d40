package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	atollbench "github.com/atoll-gcs/atoll/bench"
)

func TestParseVariant(t *testing.T) {
	v, err := ParseVariant("new=/tmp/atoll:/tmp/cl:GOMAXPROCS=1+--client-window=256:GOGC=200")
	if err != nil {
		t.Fatal(err)
	}
	want := ABVariant{Name: "new", Atoll: "/tmp/atoll", ClientLoad: "/tmp/cl", AgentEnv: []string{"GOMAXPROCS=1"},
		AgentArgs: []string{"--client-window=256"}, ClientEnv: []string{"GOGC=200"}}
	if !slices.Equal(v.AgentEnv, want.AgentEnv) || !slices.Equal(v.AgentArgs, want.AgentArgs) || !slices.Equal(v.ClientEnv, want.ClientEnv) ||
		v.Name != want.Name || v.Atoll != want.Atoll || v.ClientLoad != want.ClientLoad {
		t.Errorf("got %+v, want %+v", v, want)
	}
	if v, err := ParseVariant("old=/a:/b"); err != nil || v.AgentEnv != nil || v.AgentArgs != nil || v.ClientEnv != nil {
		t.Errorf("old=/a:/b: %+v, %v", v, err)
	}
	if v, err := ParseVariant("enc=/a:/b:encrypt+--client-window=128"); err != nil || !v.Crypto || !slices.Equal(v.AgentArgs, []string{"--client-window=128"}) || v.AgentEnv != nil {
		t.Errorf("enc=/a:/b:encrypt+--client-window=128: %+v, %v", v, err)
	}
	if v, _ := ParseVariant("plain=/a:/b"); v.Crypto {
		t.Error("plain=/a:/b runs encrypted")
	}
	if v, err := ParseVariant("rt=/a:/b:rr99+--idle-linger=5ms:rr99+GOGC=200"); err != nil || v.AgentRR != 99 || v.ClientRR != 99 ||
		!slices.Equal(v.AgentArgs, []string{"--idle-linger=5ms"}) || !slices.Equal(v.ClientEnv, []string{"GOGC=200"}) || v.AgentEnv != nil {
		t.Errorf("rt=/a:/b:rr99+--idle-linger=5ms:rr99+GOGC=200: %+v, %v", v, err)
	}
	if got := withEnv([]string{"GOGC=200"}, withRR(98, []string{"clientload"})); !slices.Equal(got, []string{"env", "GOGC=200", "chrt", "--rr", "98", "clientload"}) {
		t.Errorf("withEnv(withRR): %q", got)
	}
	if v, err := ParseVariant("nice=/a:/b:nice-10+--idle-linger=5ms:nice5"); err != nil || v.AgentNice != -10 || v.ClientNice != 5 || v.AgentRR != 0 ||
		!slices.Equal(v.AgentArgs, []string{"--idle-linger=5ms"}) || v.AgentEnv != nil || v.ClientEnv != nil {
		t.Errorf("nice=/a:/b:nice-10+--idle-linger=5ms:nice5: %+v, %v", v, err)
	}
	if got := withEnv([]string{"GOGC=200"}, withRR(0, withNice(-10, []string{"atoll", "agent"}))); !slices.Equal(got, []string{"env", "GOGC=200", "nice", "-n", "-10", "atoll", "agent"}) {
		t.Errorf("withEnv(withRR(withNice)): %q", got)
	}
	if got := withNice(0, []string{"atoll"}); !slices.Equal(got, []string{"atoll"}) {
		t.Errorf("withNice(0): %q", got)
	}
	if got := withRR(0, []string{"atoll"}); !slices.Equal(got, []string{"atoll"}) {
		t.Errorf("withRR(0): %q", got)
	}
	if got := withEnv([]string{"GOMAXPROCS=1"}, []string{"atoll", "agent"}); !slices.Equal(got, []string{"env", "GOMAXPROCS=1", "atoll", "agent"}) {
		t.Errorf("withEnv: %q", got)
	}
	for _, bad := range []string{"", "new", "new=/a", "=/a:/b", "new=/a:", "new=/a:/b:GOMAXPROCS", "new=/a:/b::--flag", "new=/a:/b:c:d:e", "new=/a:/b:rr0", "new=/a:/b:rr100", "new=/a:/b::rr", "new=/a:/b:nice0", "new=/a:/b:nice-21", "new=/a:/b::nice20", "new=/a:/b:nice"} {
		if _, err := ParseVariant(bad); err == nil {
			t.Errorf("ParseVariant(%q) accepted it", bad)
		}
	}
}

// TestABSmoke runs apiab's A/B once, shortly, on 3 nodes: two variants
// of the same build, one with its agents at GOMAXPROCS=1 and a larger
// client window, with profiles. It needs root, so it runs only when asked:
//
//	sudo ATOLL_BENCH=1 go test ./tests/bench/ -run ABSmoke -v
func TestABSmoke(t *testing.T) {
	if os.Getenv("ATOLL_BENCH") != "1" {
		t.Skip("set ATOLL_BENCH=1 (as root) to run the namespace A/B smoke test")
	}
	if os.Geteuid() != 0 {
		t.Skip("the namespace testbed needs root")
	}
	work := t.TempDir()
	o := Options{Work: work, CPGLoadBin: "unused"} // build builds atoll and clientload
	if err := build(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	a, err := ParseVariant("a=" + o.AtollBin + ":" + o.ClientLoadBin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseVariant("b=" + o.AtollBin + ":" + o.ClientLoadBin + ":GOMAXPROCS=1+--client-window=128:GOMAXPROCS=1")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rs, err := RunAB(context.Background(), ABOptions{Nodes: 3, Rounds: 1, OneSender: true, Size: 1024, Duration: 2 * time.Second,
		Variants: []ABVariant{a, b}, Work: work, Profile: true, Idle: time.Second, Out: &out}, fmt.Sprintf("abt%04x", os.Getpid()&0xffff))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	if len(rs) != 2 || rs[0].Variant != "a" || rs[1].Variant != "b" {
		t.Fatalf("results %+v, want a then b", rs)
	}
	for _, r := range rs {
		if r.MsgsPerSec <= 0 || r.PerK <= 0 || r.P50 <= 0 || len(r.AgentUs) != 3 || r.AgentUs[0] <= 0 || r.ClientUs[0] <= 0 || len(r.IdlePct) != 3 || r.IdleRing.RotPerSec <= 0 {
			t.Errorf("%s measured nothing: %s", r.Variant, r)
		}
		if r.Ring.Rot.Count < r.Ring.Rotations || r.Ring.Rotations == 0 {
			t.Errorf("%s: the ring's window has %d rotations of every agent, %d of node 1: %s", r.Variant, r.Ring.Rot.Count, r.Ring.Rotations, r)
		}
		for _, f := range []string{"agent1.pprof", "agent2.pprof", "client1.pprof", "client2.pprof"} {
			if fi, err := os.Stat(filepath.Join(work, "r0-"+r.Variant, f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: profile %s: %v", r.Variant, f, err)
			}
		}
	}
}

// TestABSummary: the summary's means, the other processes' cores of each
// run that knows them, and each later variant's ring CPU per message
// against the first variant's of the same round.
func TestABSummary(t *testing.T) {
	run := func(v string, round int, msgs float64, agent, client []float64, load string, other float64) ABResult {
		r := ABResult{Variant: v, Round: round, PerK: 5, AgentUs: agent, ClientUs: client, LoadAvg: load,
			PeakRSSMiB: []float64{msgs / 1000, 2, 3}, OtherCores: other}
		r.MsgsPerSec = msgs
		return r
	}
	rs := []ABResult{
		run("old", 0, 10000, []float64{20, 10, 12}, []float64{5, 6, 7}, "3.00 2.00 1.00", 0.25), // ring 60 µs
		run("new", 0, 12000, []float64{18, 9, 9}, []float64{5, 5, 5}, "4.00 2.00 1.00", -1),     // 51: -15 %
		run("old", 1, 14000, []float64{30, 10, 10}, []float64{6, 6, 8}, "5.00 2.00 1.00", 1.5),  // 70
		run("new", 1, 13000, []float64{30, 12, 10}, []float64{8, 8, 9}, "6.00 2.00 1.00", 0),    // 77: +10 %
	}
	got := ABSummary(rs)
	for _, want := range []string{
		"old      2 runs    12000 msgs/s  CPU per 1k msgs/s  5.00%  agent 25.0 / 10.5  client 5.5 / 6.8  ring 65.0 µs/msg  agent peak RSS 14.0 MiB  loadavg 3.00 5.00  other processes 0.25 1.50 cores\n",
		"new      2 runs    12500 msgs/s  CPU per 1k msgs/s  5.00%  agent 24.0 / 10.0  client 6.5 / 6.8  ring 64.0 µs/msg  agent peak RSS 13.0 MiB  loadavg 4.00 6.00  other processes 0.00 cores  ring µs/msg vs old -2.5% (rounds -15.0% +10.0%)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks\n%q\ngot\n%s", want, got)
		}
	}
}

// TestOtherCores: the host's busy cores over the window less every
// agent's and clientload's, each over its own window; never below 0, and
// -1 without the host's figure.
func TestOtherCores(t *testing.T) {
	w := RingWindow{Seconds: 4, HostBusy: 6 * time.Second} // 1.5 cores
	rs := []atollbench.NodeResult{
		{CPUS: 0.4, DaemonCPUS: 0.6, CPUWindowS: 5}, // 0.2 cores
		{CPUS: 0.2, DaemonCPUS: 0.8, CPUWindowS: 2}, // 0.5
		{CPUS: 1}, // no window: not counted
	}
	if got := otherCores(w, rs); math.Abs(got-0.8) > 1e-9 {
		t.Errorf("otherCores = %v, want 0.8", got)
	}
	w.HostBusy = time.Second // 0.25 cores: less than the run's own
	if got := otherCores(w, rs); got != 0 {
		t.Errorf("otherCores below the run's own CPU = %v, want 0", got)
	}
	if got := otherCores(RingWindow{Seconds: 4}, rs); got != -1 {
		t.Errorf("otherCores without the host's figure = %v, want -1", got)
	}
	r := ABResult{OtherCores: 0.8}
	if got := r.String(); !strings.HasSuffix(got, "  other processes 0.80 cores") {
		t.Errorf("run line %q does not end with the other processes' cores", got)
	}
	r.OtherCores = -1
	if got := r.String(); strings.Contains(got, "other processes") {
		t.Errorf("run line %q gives the other processes' cores without the host's figure", got)
	}
}

// TestRingWindowString: the ring line gives the passes held and the
// representative's busy holds per second, and the run
// queue line each agent's share of the window spent waiting for a CPU and
// its mean wait per run; nothing without scheduler counts.
func TestRingWindowString(t *testing.T) {
	w := RingWindow{Seconds: 2, Rotations: 1000, RotSum: time.Second, Msgs: 5000, Packets: 6000, Held: 7, BusyHolds: 300,
		Sched: []atollbench.SchedStat{{Run: time.Second, Wait: time.Second, Runs: 5000}, {Wait: 3 * time.Second, Runs: 10000}}}
	if got, want := w.String(), "ring n1: 500 rot/s mean 1ms, 5.0 msgs 6.0 pkts per visit, 7 passes held, 150 busy holds/s"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := w.SchedString(), "runq wait: n1 50% 200µs n2 150% 300µs"; got != want {
		t.Errorf("SchedString = %q, want %q", got, want)
	}
	w.Sched = nil
	if got := w.SchedString(); got != "" {
		t.Errorf("SchedString without counts = %q", got)
	}
}

// TestRingWindowStalls: the stall line gives every agent's token
// retransmissions and losses, node 1's rings, and the buckets of the
// rotations' p50, p99 and longest with the count over SlowRotation.
func TestRingWindowStalls(t *testing.T) {
	var w RingWindow
	if got, want := w.StallString(), "tokretx 0 (dup 0) lost 0 rings 0, rotation p50/p99/max – / – / –, 0 > 5ms"; got != want {
		t.Errorf("empty: StallString = %q, want %q", got, want)
	}
	// 100 rotations: 60 of at most 250 µs, 38 up to 1 ms, one of 7 ms
	// (≤10 ms) and one of 40 ms (≤50 ms).
	w = RingWindow{Seconds: 1, TokenRetransmits: 2, DuplicateTokens: 1, TokenLosses: 1, Rings: 1}
	w.Rot.Count = 100
	w.Rot.Buckets[1], w.Rot.Buckets[3], w.Rot.Buckets[6], w.Rot.Buckets[8] = 60, 38, 1, 1
	if got, want := w.StallString(), "tokretx 2 (dup 1) lost 1 rings 1, rotation p50/p99/max ≤250µs / ≤10ms / ≤50ms, 2 > 5ms"; got != want {
		t.Errorf("StallString = %q, want %q", got, want)
	}
	if got, want := w.cell(), "2 / 1 / 1; ≤250µs / ≤10ms / ≤50ms, 2 > 5ms"; got != want {
		t.Errorf("cell = %q, want %q", got, want)
	}
	// Past the last bucket (over 10 s): counted in Count only.
	w.Rot.Count++
	if got := rotQuantile(w.Rot, 1); got != ">10s" {
		t.Errorf("longest past the buckets = %q, want >10s", got)
	}
	if got := rotOver(w.Rot, SlowRotation); got != 3 {
		t.Errorf("rotations over 5ms = %d, want 3", got)
	}
	if got := rotQuantile(w.Rot, 0.99); got != "≤50ms" {
		t.Errorf("p99 of 101 = %q, want ≤50ms (the 100th, the 40 ms one)", got)
	}
}

// TestIdleRingBetween: agentsIdle and idleab's lines (idleLine) read node
// 1's rotations, the rings it installed and each agent's wake-ups from
// the same two snapshots, on made-up numbers.
func TestIdleRingBetween(t *testing.T) {
	var a, b agent.Status
	a.TokenRotation.Count, b.TokenRotation.Count = 100, 300
	a.Counters.RingsInstalled, b.Counters.RingsInstalled = 4, 5
	s0 := []atollbench.SchedStat{{Runs: 1000}, {Runs: 2000}}
	s1 := []atollbench.SchedStat{{Run: 40 * time.Millisecond, Runs: 1800}, {Run: 20 * time.Millisecond, Runs: 2500}}
	w := idleRingBetween(20, a, b, s0, s1)
	if w.RotPerSec != 10 || w.Rings != 1 || !slices.Equal(w.Wakes, []float64{40, 25}) {
		t.Fatalf("got %+v, want 10 rot/s, 1 ring, wake-ups 40 and 25 a second", w)
	}
	if w := idleRingBetween(20, a, b, s0, nil); w.Wakes != nil {
		t.Fatalf("wake-ups %v without the second scheduler counts", w.Wakes)
	}
	at := time.Now()
	line := idleLine(idleSnap{at: at, sched: s0, st: a}, idleSnap{at: at.Add(20 * time.Second), sched: s1, st: b})
	if want := "%CPU 0.200 0.100  wake-ups/rotation 4.0 2.5  n1 10.0 rot/s  rings installed 1"; line != want {
		t.Fatalf("idleLine:\n got %q\nwant %q", line, want)
	}
}
