package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// TestFedFailoverBound pins how long a federation ring takes to install a
// new configuration after a member is killed, on the namespace test's
// three sites (a–b 10 ms, c 200 ms from both), with no jitter and no
// processing time: what Totem's structure costs and nothing more. From the
// kill, a survivor loses the token after at most the token timeout T (less
// the time since the token last passed it, at most one rotation of the old
// ring; plus, when the victim had just passed the token on, its one-way
// delay d to its successor); it gathers, and the consensus timeout C after
// the first survivor gathered it gives up on the dead site and announces
// it (half to one RTT until the representative holds every survivor's
// agreement). The commit token then goes once around the new ring, R, for
// the representative to learn every member's old ring; with nothing to
// recover (no member misses an old-ring packet another holds: an idle
// ring, or one whose last packets reached all) the other survivor
// installs as it fills in the last entry, and the representative when the
// token is back (a ring of two: lastOfTwo in localring). So the last
// survivor, the representative, installs within
//
//	T + d + C + RTT + R
//
// (R the new ring's rotation: a ring of two, one RTT between the
// survivors): with b killed, 1.722 + 0.1 + 2.067 + 0.2 + 0.2 = 4.289 s.
// Issue 8's target, T + C + RTT of the slowest link = 3.989 s, leaves out
// d and the commit token's R, which no Totem ring can skip (the
// representative must hear every member's old-ring state, which its
// joins do not carry, before any member may install), so it holds only
// when the survivors are close together (c killed: a and b 10 ms apart,
// bound 3.909 s) or the kill comes early in the token's rotation. Before
// the last member of a ring of two installed on filling in its entry, the
// commit token went on to it once more (R + R/2) and b's kill took 3.96 to
// 4.28 s (bound 4.389 s); before members installed on entering recovery
// with nothing to recover, the commit token went round twice and the
// recovery token once more (3.5 R), and b's kill took 4.34 to 4.69 s
// (bound 4.789 s). The test fails if any timer starts late or a step waits
// longer than the protocol requires, and if the representative is not the
// last to install, half a rotation after the other survivor.
func TestFedFailoverBound(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	oldRot, slow := 205*ms, 200*ms
	tm := topology.DeriveTimeouts(oldRot, slow)
	spec := FedSpec{Domain: "fed/failover", Sites: []string{"a", "b", "c"}, Gateways: 1,
		RTT:  [][]time.Duration{{0, 10 * ms, slow}, {10 * ms, 0, slow}, {slow, slow, 0}},
		Ring: localring.DefaultWAN("").WithTimings(tm.Ring())}
	for victim := range 3 {
		var surv []int
		var fromVictim time.Duration // the longest one-way delay from the victim
		for i := range 3 {
			if i != victim {
				surv = append(surv, i)
				fromVictim = max(fromVictim, spec.RTT[victim][i]/2)
			}
		}
		newRot := spec.RTT[surv[0]][surv[1]] // a ring of two: one RTT
		upper := tm.Token.D() + fromVictim + tm.Consensus.D() + newRot + newRot
		lower := tm.Token.D() - oldRot + tm.Consensus.D() + newRot/2 + newRot
		issue := tm.Token.D() + tm.Consensus.D() + slow // issue 8's target
		for phase := range 6 {
			c := NewFedCluster(uint64(1+phase), spec, 0)
			c.SetFaults(Faults{SocketBuffer: 4096})
			c.StartAll()
			if !c.RunUntil(c.Now().Add(time.Minute), c.Converged) {
				t.Fatalf("the ring did not form: %s", c.describe())
			}
			// Kill at a different point of the token's rotation each time.
			c.RunFor(time.Second + time.Duration(phase)*oldRot/6)
			kill := c.Now()
			installed, gathered := map[localring.NodeID]time.Duration{}, map[localring.NodeID]time.Duration{}
			c.OnEvent = func(id localring.NodeID, _ uint64, e localring.Event) {
				if _, ok := gathered[id]; !ok && e.Kind == localring.EventGather {
					gathered[id] = c.Now().Sub(kill)
				}
				if e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular && len(e.Conf.Members) == 2 {
					if _, ok := installed[id]; !ok {
						installed[id] = c.Now().Sub(kill)
					}
				}
			}
			c.Crash(victim)
			c.RunFor(2 * upper)
			if len(installed) != 2 {
				t.Fatalf("kill %s at phase %d: survivors installed %v, want both in a ring of two", spec.Sites[victim], phase, installed)
			}
			var last time.Duration
			first := time.Duration(1<<63 - 1)
			for _, d := range installed {
				last = max(last, d)
			}
			for _, d := range gathered {
				first = min(first, d)
			}
			rep, other := spec.Sites[surv[0]], spec.Sites[surv[1]]
			t.Logf("kill %s at phase %d: gathered %v, installed %v (bound %v..%v; issue 8's target %v, missed by %v); first gather to last install %v = C %v + %v",
				spec.Sites[victim], phase, gathered, installed, lower, upper, issue, max(last-issue, 0), last-first, tm.Consensus, last-first-tm.Consensus.D())
			if last > upper || last < lower {
				t.Errorf("kill %s at phase %d: the last survivor installed %v after the kill, want within %v..%v", spec.Sites[victim], phase, last, lower, upper)
			}
			if rep, other := installed[localring.NodeID(rep)], installed[localring.NodeID(other)]; rep != last || rep-other != newRot/2 {
				t.Errorf("kill %s at phase %d: the representative installed %v after the kill and the other survivor %v: want the representative last, when the commit token is back from the other, which installs as it fills in the last entry, half a rotation (%v) before",
					spec.Sites[victim], phase, rep, other, newRot/2)
			}
		}
	}
}

// TestFedTakeoverBound pins a gateway failover as the agent runs it (issue
// 9 item 4), on the namespace test's three sites with two gateways each:
// the active gateway of one site is killed under load, and after its
// site's local ring detected it (the LAN preset's token and consensus
// timeouts, L) the standby starts the site's member again as a newer
// incarnation. Its join starts a membership round at the other sites at
// once, and since they fence the old incarnation off on hearing the newer
// one, that round takes the newcomer in: no token timeout or consensus
// timeout of the federation ring is waited out. The last member installs
// the ring of all three sites within
//
//	L + d + J·6/5 + 3·R + R/2
//
// (d the newcomer's longest one-way delay, J the join timeout with its
// jitter: the representative gives every node one join interval; then the
// commit token's two rotations and the recovery token's one and a half of
// the ring of three, R), and every site delivers again within twice the
// federation token timeout of its last delivery before the kill, the gap
// that issue 9 targets and atoll bench isolation measures. When the
// newcomer was kept out of the round its join started, the others formed
// a ring without it and it waited out a token timeout in a ring that
// never formed: installs 4.5 s after the kill, not 1.6 s.
func TestFedTakeoverBound(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	oldRot, slow := 205*ms, 200*ms
	tm := topology.DeriveTimeouts(oldRot, slow)
	lan := localring.DefaultLAN("")
	detect := lan.TokenTimeout + lan.ConsensusTimeout // the site's ring forms without the dead gateway
	spec := FedSpec{Domain: "fed/takeover", Sites: []string{"a", "b", "c"}, Gateways: 2,
		RTT:  [][]time.Duration{{0, 10 * ms, slow}, {10 * ms, 0, slow}, {slow, slow, 0}},
		Ring: localring.DefaultWAN("").WithTimings(tm.Ring())}
	rot := spec.RTT[0][1]/2 + spec.RTT[1][2]/2 + spec.RTT[2][0]/2 // a ring of three, no holds
	target := 2 * tm.Token.D()
	for victim := range 3 {
		var fromVictim time.Duration
		for i := range 3 {
			fromVictim = max(fromVictim, spec.RTT[victim][i]/2)
		}
		bound := detect + fromVictim + tm.Join.D()*6/5 + 3*rot + rot/2
		for phase := range 6 {
			c := NewFedCluster(uint64(1+phase), spec, 0)
			for s := range 3 {
				c.Start(2 * s) // the active gateways; 2s+1 are the standbys
			}
			if !c.RunUntil(c.Now().Add(time.Minute), c.Converged) {
				t.Fatalf("the ring did not form: %s", c.describe())
			}
			var kill time.Time
			gaps := make([]time.Duration, 3) // per site: the longest time without a delivery that ends after the kill
			last := make([]time.Time, 3)     // and its last delivery
			delivered := make([]bool, 3)     // since the kill
			installed := make([]time.Duration, 3)
			c.OnEvent = func(id localring.NodeID, _ uint64, e localring.Event) {
				s := slices.Index(spec.Sites, string(id))
				switch {
				case e.Kind == localring.EventDeliver:
					if !kill.IsZero() {
						gaps[s] = max(gaps[s], c.Now().Sub(last[s]))
						delivered[s] = true
					}
					last[s] = c.Now()
				case !kill.IsZero() && e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular && len(e.Conf.Members) == 3 && installed[s] == 0:
					installed[s] = c.Now().Sub(kill)
				}
			}
			// Every running gateway sends every 20 ms; kill at a different
			// point of the token's rotation each time.
			load := func(d time.Duration) {
				for end := c.Now().Add(d); c.Now().Before(end); {
					for i := range 6 {
						if c.Alive(i) {
							_ = c.Submit(i, localring.Agreed, 100) // a full queue refuses: fine
						}
					}
					c.RunFor(20 * ms)
				}
			}
			load(time.Second + time.Duration(phase)*oldRot/6)
			kill = c.Now()
			c.Crash(2 * victim)
			load(detect)
			c.Start(2*victim + 1)
			load(2 * target)
			for s := range 3 {
				gap := max(gaps[s], c.Now().Sub(last[s]))
				t.Logf("kill %s at phase %d: site %s installed the ring of three %v after the kill (bound %v), gap without deliveries %v (target %v)",
					spec.Sites[victim], phase, spec.Sites[s], installed[s], bound, gap, target)
				switch {
				case installed[s] == 0 || !delivered[s]:
					t.Errorf("kill %s at phase %d: site %s never installed the ring of three or never delivered again", spec.Sites[victim], phase, spec.Sites[s])
				case installed[s] > bound:
					t.Errorf("kill %s at phase %d: site %s installed the ring of three %v after the kill, want within %v", spec.Sites[victim], phase, spec.Sites[s], installed[s], bound)
				case gap > target:
					t.Errorf("kill %s at phase %d: site %s delivered nothing for %v, want at most twice the token timeout, %v", spec.Sites[victim], phase, spec.Sites[s], gap, target)
				}
			}
		}
	}
}
