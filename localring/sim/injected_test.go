package sim

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// injectedKinds are the faults a random run's mix enables, each with the
// count of Injected that shows it happened and how many seeds must enable
// it before check requires it to have happened in one: packetMin for the
// network's per-packet faults, which happened in every seed that enabled
// them of seeds 1-200; actionMin for fault actions, the rarest of which
// (one-way blocks) happened in 47 % of the seeds that enabled it, so that
// ten seeds all without it would be a broken injector, not chance.
var injectedKinds = []struct {
	name string
	min  int
	on   func(m Mix) bool
	got  func(in Injected) int
}{
	{"random loss of any packet", packetMin, func(m Mix) bool { return m.Faults.Loss > 0 && m.Faults.BurstLoss == 0 }, func(in Injected) int { return in.LostUnicast + in.LostMulticast }},
	{"multicast-only loss", packetMin, func(m Mix) bool { return m.Faults.McastLoss > 0 }, func(in Injected) int { return in.LostMulticast }},
	{"token-only loss", packetMin, func(m Mix) bool { return m.Faults.TokenLoss > 0 }, func(in Injected) int { return in.LostUnicast }},
	{"loss bursts", packetMin, func(m Mix) bool { return m.Faults.BurstLoss > 0 }, func(in Injected) int { return in.BurstLost }},
	{"duplication", packetMin, func(m Mix) bool { return m.Faults.Duplicate > 0 }, func(in Injected) int { return in.Duplicated }},
	{"reordering", packetMin, func(m Mix) bool { return m.Faults.Reorder > 0 }, func(in Injected) int { return in.Reordered }},
	{"corruption", packetMin, func(m Mix) bool { return m.Faults.CorruptBytes > 0 }, func(in Injected) int { return in.Corrupted }},
	{"stale replays", packetMin, func(m Mix) bool { return m.Faults.StaleReplay > 0 }, func(in Injected) int { return in.Replayed }},
	{"crashes", actionMin, func(m Mix) bool { return m.Crash }, func(in Injected) int { return in.Crashes }},
	{"restarts", actionMin, func(m Mix) bool { return m.Crash }, func(in Injected) int { return in.Restarts }},
	// Crashes in commit and in recovery alone happen at a fifth and a
	// tenth of the seeds with crashes (seeds 1-200): too few to require
	// of 50 seeds; testdata/crash_in_recovery.txt pins the latter.
	{"crashes in gather, commit or recovery", actionMin, func(m Mix) bool { return m.Crash }, func(in Injected) int {
		return in.CrashesIn["gather"] + in.CrashesIn["commit"] + in.CrashesIn["recovery"]
	}},
	{"pauses", actionMin, func(m Mix) bool { return m.Pause }, func(in Injected) int { return in.Pauses }},
	{"pauses past the token timeout", actionMin, func(m Mix) bool { return m.Pause }, func(in Injected) int { return in.LongPauses }},
	{"pauses of the representative", actionMin, func(m Mix) bool { return m.Pause }, func(in Injected) int { return in.RepPauses }},
	{"partitions", actionMin, func(m Mix) bool { return m.Partition }, func(in Injected) int { return in.Partitions }},
	{"heals", actionMin, func(m Mix) bool { return m.Partition }, func(in Injected) int { return in.Heals }},
	{"one-way blocks", actionMin, func(m Mix) bool { return m.Asymmetric }, func(in Injected) int { return in.OneWay }},
	{"non-transitive bridges", actionMin, func(m Mix) bool { return m.Asymmetric }, func(in Injected) int { return in.Bridges }},
	{"clogging", actionMin, func(m Mix) bool { return m.Asymmetric }, func(in Injected) int { return in.Clogs }},
	{"blocked packets", packetMin, func(m Mix) bool { return m.Partition || m.Asymmetric }, func(in Injected) int { return in.Blocked }},
	{"persistent partial faults", packetMin, func(m Mix) bool { return m.Persistent != "" }, func(in Injected) int { return in.PersistentLost }},
}

// injectedTally sums, over a test's seeds, how many seeds' mixes enabled
// each of injectedKinds and in how many it happened, and the crashes by
// the membership state they struck.
type injectedTally struct {
	mu           sync.Mutex
	on, happened []int
	crashesIn    map[string]int
}

const packetMin, actionMin = 3, 10

// check fails the test for every fault that at least its min seeds
// enabled and none injected: a fault the mix asks for and the simulator
// never does would leave the checker's verdict meaningless for it.
func (it *injectedTally) check(t *testing.T) {
	t.Helper()
	for k, kind := range injectedKinds {
		if it.on[k] >= kind.min && it.happened[k] == 0 {
			t.Errorf("%d seeds' mixes enable %s, and it happened in none of them", it.on[k], kind.name)
		}
	}
}

func (it *injectedTally) add(r *Result) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.on == nil {
		it.on, it.happened = make([]int, len(injectedKinds)), make([]int, len(injectedKinds))
	}
	if it.crashesIn == nil {
		it.crashesIn = map[string]int{}
	}
	for st, n := range r.Injected.CrashesIn {
		it.crashesIn[st] += n
	}
	for k, kind := range injectedKinds {
		if kind.on(r.Mix) {
			it.on[k]++
			if kind.got(r.Injected) > 0 {
				it.happened[k]++
			}
		}
	}
}

func (it *injectedTally) String() string {
	var b strings.Builder
	for k, kind := range injectedKinds {
		fmt.Fprintf(&b, "%s %d/%d; ", kind.name, it.happened[k], it.on[k])
	}
	fmt.Fprintf(&b, "crashes by membership state %v", it.crashesIn)
	return b.String()
}
