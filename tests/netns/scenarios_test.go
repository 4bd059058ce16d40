package netns

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

var all3 = []string{"n1", "n2", "n3"}
var all5 = []string{"n1", "n2", "n3", "n4", "n5"}

// formTimeout bounds the first ring's formation and every convergence.
// Forming and merging rings takes seconds at times: the ring core flaps
// through rings of one before it converges (see TestPause).
const formTimeout = 30 * time.Second

// mergeAfterPause bounds the merge after a resume (see TestPause).
const mergeAfterPause = 45 * time.Second

// startRing makes an n-node testbed on tr, starts every agent and waits
// for the ring of all of them: where a scenario begins, under load.
func startRing(t *testing.T, n int, tr Transport) *Testbed {
	t.Helper()
	tb := NewTestbed(t, n, tr)
	tb.StartAll()
	tb.WaitRing(formTimeout, ids(tb.Nodes()))
	return tb
}

// finishWhole ends a scenario whose faults are over: it waits for the
// ring of every node again, lets the load run in it for half a second,
// and finishes converged (Finish).
func finishWhole(tb *Testbed) {
	tb.t.Helper()
	tb.WaitRing(formTimeout, ids(tb.Nodes()))
	time.Sleep(500 * time.Millisecond)
	tb.Finish(true)
}

// steady runs n agents under load for d and checks every delivery.
func steady(t *testing.T, n int, tr Transport, d time.Duration) {
	tb := NewTestbed(t, n, tr)
	tb.StartAll()
	want := all3
	if n == 5 {
		want = all5
	}
	before := tb.WaitRing(formTimeout, want)
	time.Sleep(d)
	st := tb.WaitRing(formTimeout, want)
	for id, s := range st {
		// A loaded CI machine may starve a process past the token timeout
		// once; more than that under a steady load is flapping.
		b := before[id]
		if changes := s.Counters.RingsInstalled - b.Counters.RingsInstalled; changes > 0 {
			t.Logf("%s: %d membership changes and %d token losses under steady load (ring %s, then %s)", id, changes, s.Counters.TokenLosses-b.Counters.TokenLosses, b.Ring, s.Ring)
			if changes > 2 {
				t.Errorf("%s: the ring changed %d times under a steady load", id, changes)
			}
		}
		if s.Counters.MessagesDelivered == 0 {
			t.Errorf("%s delivered nothing", id)
		}
		t.Logf("%s: %d sent, %d delivered, %d retransmits", id, s.Counters.MessagesSent, s.Counters.MessagesDelivered, s.Counters.Retransmits)
	}
	tb.Finish(true)
}

func TestSteady3Multicast(t *testing.T) { steady(t, 3, Multicast, 3*time.Second) }

func TestSteady5Unicast(t *testing.T) { steady(t, 5, Unicast, 3*time.Second) }

// TestKillOne kills a node with SIGKILL under load: the survivors must
// re-form without it within the token timeout plus the consensus timeout
// (plus scheduling slack), and the node, restarted, must join again.
func TestKillOne(t *testing.T) {
	for _, tr := range []Transport{Multicast, Unicast} {
		t.Run(tr.String(), func(t *testing.T) { killOne(t, tr) })
	}
}

func killOne(t *testing.T, tr Transport) {
	tb := startRing(t, 3, tr)
	time.Sleep(time.Second)
	killedAt := tb.Node("n2").Kill()
	st := tb.WaitRing(formTimeout, []string{"n1", "n3"})
	bound := tokenTimeout + consensusTimeout + 50*time.Millisecond
	for _, id := range []string{"n1", "n3"} {
		took := st[id].RingSince.Sub(killedAt)
		t.Logf("failover after kill -9 of n2 (%v): %s installed %s %v after the kill (target: token timeout + consensus timeout + 50ms = %v)", tr, id, st[id].Ring, took.Round(time.Millisecond), bound)
		if took > 5*time.Second {
			t.Errorf("%s took %v to exclude a killed node", id, took)
		}
		if st[id].Health.String() != "degraded" {
			t.Errorf("%s health %v without n2, want degraded", id, st[id].Health)
		}
	}
	time.Sleep(500 * time.Millisecond)
	tb.Node("n2").Start()
	finishWhole(tb)
}

// TestPause stops a node (SIGSTOP) for longer than the token timeout: the
// others exclude it; resumed, it finds itself alone and merges back. First
// a member, then the representative.
//
// The merge after the resume takes from 0.2 s to about 9 s: the resumed
// node's consensus timer has expired during the pause, so it gives up on
// everyone at once, and the fail sets in its joins make the other nodes
// give up on it and on each other for a while (rings of one, re-formed
// every join interval) until the join jitter breaks the cycle; 15 s has
// been seen. That is the ring core's membership protocol (the simulator
// shows it too); WaitRing logs how long it took.
func TestPause(t *testing.T) {
	tb := startRing(t, 3, Multicast)
	time.Sleep(500 * time.Millisecond)
	// A member, then the representative (the smallest id).
	for _, id := range []string{"n3", "n1"} {
		nd := tb.Node(id)
		var others []string
		for _, o := range all3 {
			if o != id {
				others = append(others, o)
			}
		}
		nd.Pause()
		tb.WaitRing(formTimeout, others)
		time.Sleep(500 * time.Millisecond)
		nd.Resume()
		tb.WaitRing(mergeAfterPause, all3)
		time.Sleep(300 * time.Millisecond)
	}
	tb.Finish(true)
}

// TestPartition splits five nodes 2|3 under load, lets each side form its
// own ring and carry on, then heals the network: the sides merge.
func TestPartition(t *testing.T) {
	for _, tr := range []Transport{Multicast, Unicast} {
		t.Run(tr.String(), func(t *testing.T) { partition(t, tr) })
	}
}

func partition(t *testing.T, tr Transport) {
	tb := startRing(t, 5, tr)
	time.Sleep(500 * time.Millisecond)
	a, b := []string{"n1", "n2"}, []string{"n3", "n4", "n5"}
	tb.Partition(a, b)
	tb.WaitRing(formTimeout, a, b)
	time.Sleep(time.Second)
	tb.Heal()
	finishWhole(tb)
}

// TestFlapping partitions five nodes 2|3 and heals them five times,
// 400 ms each way (about two token timeouts): the rings change faster
// than they settle. The bridge's counters must show drops in every
// partition; the rings must stay safe, and the five form one ring after.
func TestFlapping(t *testing.T) {
	tb := startRing(t, 5, Multicast)
	first := tb.WaitRing(formTimeout, all5)["n1"].Counters.RingsInstalled
	time.Sleep(500 * time.Millisecond)
	for i := range 5 {
		tb.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
		time.Sleep(400 * time.Millisecond)
		n := tb.BridgeDropped()
		if n == 0 {
			t.Errorf("partition %d: the bridge dropped nothing in 400ms", i+1)
		}
		tb.Heal()
		t.Logf("partition %d: the bridge dropped %d packets", i+1, n)
		time.Sleep(400 * time.Millisecond)
	}
	// The rings followed: n1 installed a ring at least at every other
	// partition or heal.
	last := tb.WaitRing(formTimeout, all5)["n1"].Counters.RingsInstalled
	t.Logf("n1 installed %d rings during the five partitions and heals", last-first)
	if last-first < 5 {
		t.Errorf("n1 installed %d rings during five partitions and heals, want at least 5", last-first)
	}
	finishWhole(tb)
}

// TestLinkCut takes one node's link down and up again.
func TestLinkCut(t *testing.T) {
	tb := startRing(t, 3, Multicast)
	time.Sleep(500 * time.Millisecond)
	n1 := tb.Node("n1")
	n1.Cut()
	tb.WaitRing(formTimeout, []string{"n1"}, []string{"n2", "n3"})
	time.Sleep(500 * time.Millisecond)
	n1.Uncut()
	finishWhole(tb)
}

// TestBridge cuts the link between n2 and n3 of five nodes in both
// directions for 3 s, every other link working (n1, n4 and n5 hear both):
// a network that is not transitive, where no ring can hold both ends. The
// rules' counters must show drops and n2's ring must not hold n3; the
// rings must stay safe, and the five form one ring once the link heals.
func TestBridge(t *testing.T) {
	tb := startRing(t, 5, Multicast)
	time.Sleep(500 * time.Millisecond)
	tb.CutPair("n2", "n3")
	time.Sleep(3 * time.Second)
	if n := tb.BridgeDropped(); n == 0 {
		t.Errorf("the bridge dropped none of the packets between n2 and n3 in 3s")
	} else {
		t.Logf("the bridge dropped %d packets between n2 and n3", n)
	}
	// No ring can hold both ends of the cut link.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	st, err := tb.Node("n2").Client.Status(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, m := range st.Members {
		if m.InRing {
			in = append(in, m.ID)
		}
	}
	t.Logf("n2 is %s in ring %s with %v", st.State, st.Ring, in)
	for _, m := range st.Members {
		if m.ID == "n3" && m.InRing && st.State == "operational" {
			t.Errorf("n2 is in ring %s with n3, which it cannot hear", st.Ring)
		}
	}
	tb.Heal()
	finishWhole(tb)
}

// TestOneWay drops one direction only (n1 stops hearing n2, n2 still hears
// n1) for a while, and checks from the rule's counter that packets were
// dropped: the ring must stay safe, and heal once the link does.
func TestOneWay(t *testing.T) {
	tb := startRing(t, 3, Multicast)
	time.Sleep(500 * time.Millisecond)
	tb.DropFrom("n1", "n2")
	time.Sleep(2 * time.Second)
	// The fault must have happened: n2's packets to n1 were dropped.
	if n := tb.Dropped("n1"); n == 0 {
		t.Errorf("the rule dropped none of n2's packets to n1 in 2s: no one-way fault")
	} else {
		t.Logf("n1's input rule dropped %d packets from n2", n)
	}
	tb.Heal()
	finishWhole(tb)
}

// TestLoss makes each node of a ring of four under load lose UDP packets
// it receives for 2 s: n1 a fifth of every kind at random, n2 a fifth of
// the multicasts, n3 a fifth of the unicasts (tokens), n4 bursts of 10
// packets in a row out of every 100. Each rule's counter must show drops;
// the ring must stay safe, and be one ring again once the loss stops.
func TestLoss(t *testing.T) {
	tb := startRing(t, 4, Multicast)
	time.Sleep(500 * time.Millisecond)
	nodes := []string{"n1", "n2", "n3", "n4"}
	kinds := map[string]string{"n1": "any", "n2": "multicast", "n3": "unicast", "n4": "burst"}
	pct := map[string]int{"n1": 20, "n2": 20, "n3": 20, "n4": 10}
	for _, id := range nodes {
		tb.Loss(id, kinds[id], pct[id])
	}
	time.Sleep(2 * time.Second)
	for _, id := range nodes {
		if n := tb.Dropped(id); n == 0 {
			t.Errorf("%s lost none of the %s packets it received in 2s", id, kinds[id])
		} else {
			t.Logf("%s lost %d %s packets", id, n, kinds[id])
		}
	}
	tb.Heal()
	finishWhole(tb)
}

// TestMuteMulticast drops every multicast n2 sends while its tokens pass
// (issue 10's liveness defect): n1 and n3 must take it out, not before
// 0.5 s (50 stalled rotations of 10 ms) and within 2 s, deliver again, and
// take it back once the fault heals.
func TestMuteMulticast(t *testing.T) {
	tb := startRing(t, 3, Multicast)
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	tb.MuteMulticast("n2")
	st := tb.WaitRing(formTimeout, []string{"n1", "n3"})
	took := time.Since(start)
	t.Logf("n1 and n3 re-formed without n2 %v after its multicasts stopped arriving (%d evictions seen at n1)", took.Round(time.Millisecond), st["n1"].Counters.RingEvictions)
	if took > 2*time.Second {
		t.Errorf("n1 and n3 needed %v to re-form without the mute n2, want at most 2s", took.Round(time.Millisecond))
	}
	if st["n1"].Counters.RingEvictions == 0 {
		t.Errorf("n1 counts no eviction: the ring re-formed for another reason")
	}
	if took < 500*time.Millisecond {
		// FailRecvRotations × StallHold: a packet late by less must never
		// cost a node its membership, however fast the token goes.
		t.Errorf("n2 was taken out %v after the fault, before the 0.5s bound", took.Round(time.Millisecond))
	}
	before := st["n1"].Counters.MessagesDelivered
	time.Sleep(time.Second)
	after := tb.WaitRing(formTimeout, []string{"n1", "n3"})["n1"].Counters.MessagesDelivered
	t.Logf("n1 delivered %d messages in the second after", after-before)
	if after == before {
		t.Errorf("n1 delivered nothing in the ring without n2")
	}
	tb.Heal()
	start = time.Now()
	tb.WaitRing(formTimeout, all3)
	t.Logf("n2 back %v after the fault healed", time.Since(start).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	tb.Finish(true)
}

// TestRollingRestart restarts every node in turn under load, each
// gracefully, waiting for the full ring in between.
func TestRollingRestart(t *testing.T) {
	tb := startRing(t, 3, Multicast)
	for _, nd := range tb.Nodes() {
		time.Sleep(300 * time.Millisecond)
		old := nd.Inc
		nd.Restart()
		if nd.Inc <= old {
			t.Errorf("%s restarted with incarnation %d, not above %d", nd.ID, nd.Inc, old)
		}
		tb.WaitRing(formTimeout, all3)
	}
	time.Sleep(500 * time.Millisecond)
	tb.Finish(true)
}

// TestWrongKey starts a fourth node with another key file: it must never
// be admitted, and the others must count its packets as rejected.
func TestWrongKey(t *testing.T) {
	tb := NewTestbed(t, 4, Multicast)
	bad := tb.Node("n4")
	bad.Key = tb.badKey
	good := []string{"n1", "n2", "n3"}
	for _, nd := range tb.Nodes(good...) {
		nd.Start()
	}
	tb.WaitRing(formTimeout, good)
	bad.Start()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		st := tb.WaitRing(formTimeout, good, []string{"n4"})
		for _, id := range good {
			if h := st[id].Health.String(); h != "degraded" {
				t.Fatalf("%s is %s; with n4 configured but refused it must be degraded", id, h)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	st := tb.WaitRing(formTimeout, good)
	for _, id := range good {
		c := st[id].Counters
		if c.RejectWrongKey == 0 {
			t.Errorf("%s counted no packets with the wrong key", id)
		}
		t.Logf("%s rejected %d packets with the wrong key", id, c.RejectWrongKey)
	}
	if b, err := os.ReadFile(tb.Node("n1").Log); err == nil && !strings.Contains(string(b), "another key") {
		t.Errorf("n1 did not log the key mismatch:\n%s", b)
	}
	// n4 stays out: the liveness check is over the good nodes only.
	bad.Stop()
	tb.Finish(true)
}
