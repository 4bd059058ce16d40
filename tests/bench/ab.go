package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/localring"
)

// ABVariant is one build under test in an A/B run of the client API: an
// atoll binary, a clientload binary, and what changes their runs.
type ABVariant struct {
	Name       string
	Atoll      string   // the atoll binary
	ClientLoad string   // the clientload binary
	AgentEnv   []string // NAME=VALUE set for the agents (GOMAXPROCS=1, ...)
	AgentArgs  []string // flags appended to `atoll agent` (--client-window=256, ...)
	ClientEnv  []string // NAME=VALUE set for the load clients
	Crypto     bool     // security mode encrypt for this variant (agent setting "encrypt")
	// AgentRR and ClientRR run the agents and the load clients at
	// SCHED_RR of that priority (chrt --rr; settings "rr99", ...), 0 at
	// normal priority.
	AgentRR, ClientRR int
	// AgentNice and ClientNice run the agents and the load clients at
	// that nice value (nice -n; settings "nice-10", "nice5", ...), 0 as
	// started. A wrapper script in place of the binary does not do: the
	// start check waits for the binary's own name (waitExec).
	AgentNice, ClientNice int
}

// ParseVariant reads a variant from the command line of apiab:
//
//	NAME=ATOLL:CLIENTLOAD[:AGENT-SETTINGS[:CLIENT-ENV]]
//
// where AGENT-SETTINGS and CLIENT-ENV are lists joined by '+': NAME=VALUE
// sets an environment variable, --flag=value adds a flag of `atoll agent`,
// the agent setting "encrypt" runs the variant's ring in security mode
// encrypt (as -crypto does for every variant), so that plain and encrypted
// runs can be interleaved, "rrN" (either list) runs the agents or the
// load clients at SCHED_RR priority N (chrt --rr N), and "niceN" at nice
// value N (nice -n N, N from -20 to 19), so that scheduling policies and
// priorities can be interleaved without wrapper scripts.
func ParseVariant(s string) (ABVariant, error) {
	name, rest, ok := strings.Cut(s, "=")
	p := strings.Split(rest, ":")
	if !ok || name == "" || len(p) < 2 || len(p) > 4 || p[0] == "" || p[1] == "" {
		return ABVariant{}, fmt.Errorf("variant %q: want NAME=ATOLL:CLIENTLOAD[:AGENT-SETTINGS[:CLIENT-ENV]], e.g. new=/tmp/atoll:/tmp/clientload:GOMAXPROCS=1+--client-window=256", s)
	}
	v := ABVariant{Name: name, Atoll: p[0], ClientLoad: p[1]}
	if len(p) > 2 {
		for _, e := range splitList(p[2]) {
			switch {
			case e == "encrypt":
				v.Crypto = true
			case rrSetting(e) > 0:
				v.AgentRR = rrSetting(e)
			case niceSetting(e) != 0:
				v.AgentNice = niceSetting(e)
			case strings.HasPrefix(e, "--"):
				v.AgentArgs = append(v.AgentArgs, e)
			case strings.Contains(e, "="):
				v.AgentEnv = append(v.AgentEnv, e)
			default:
				return ABVariant{}, fmt.Errorf("variant %q: agent setting %q is neither NAME=VALUE, --flag=value, encrypt, rrN (SCHED_RR priority N, 1 to 99) nor niceN (nice value N, -20 to 19, not 0)", s, e)
			}
		}
	}
	if len(p) > 3 {
		for _, e := range splitList(p[3]) {
			switch {
			case rrSetting(e) > 0:
				v.ClientRR = rrSetting(e)
			case niceSetting(e) != 0:
				v.ClientNice = niceSetting(e)
			case strings.Contains(e, "="):
				v.ClientEnv = append(v.ClientEnv, e)
			default:
				return ABVariant{}, fmt.Errorf("variant %q: client setting %q is neither NAME=VALUE, rrN (SCHED_RR priority N, 1 to 99) nor niceN (nice value N, -20 to 19, not 0)", s, e)
			}
		}
	}
	return v, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "+")
}

// rrSetting returns N of a setting "rrN" with N in 1..99, else 0.
func rrSetting(e string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(e, "rr"))
	if !strings.HasPrefix(e, "rr") || err != nil || n < 1 || n > 99 {
		return 0
	}
	return n
}

// niceSetting returns N of a setting "niceN" with N in -20..19, else 0.
func niceSetting(e string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(e, "nice"))
	if !strings.HasPrefix(e, "nice") || err != nil || n < -20 || n > 19 {
		return 0
	}
	return n
}

// withNice wraps argv in nice(1) at nice value n; 0 leaves it as started.
func withNice(n int, argv []string) []string {
	if n == 0 {
		return argv
	}
	return append([]string{"nice", "-n", strconv.Itoa(n)}, argv...)
}

// withRR wraps argv in chrt(1) at SCHED_RR priority prio; prio 0 leaves
// it at normal priority.
func withRR(prio int, argv []string) []string {
	if prio == 0 {
		return argv
	}
	return append([]string{"chrt", "--rr", strconv.Itoa(prio)}, argv...)
}

// withEnv wraps argv in env(1) with the variables, if any.
func withEnv(env []string, argv []string) []string {
	if len(env) == 0 {
		return argv
	}
	return append(append([]string{"env"}, env...), argv...)
}

// ABOptions configures an A/B run of the client-API row.
type ABOptions struct {
	Nodes     int
	Rounds    int           // runs of each variant, interleaved: A B A B ...
	OneSender bool          // only node 1 sends; else every node
	Crypto    bool          // security mode encrypt
	Size      int           // message bytes
	Rate      float64       // msgs/s per sender; 0: as fast as MulticastWait returns
	Duration  time.Duration // measurement window of each run
	Variants  []ABVariant
	Work      string        // configs, logs, samples and profiles, one directory per run
	Profile   bool          // CPU profiles of agents n1, n2 (over their admin sockets) and clientloads n1, n2
	Idle      time.Duration // after the load, each agent's CPU over this long without clients (0: not measured)
	Syscalls  bool          // count every agent's and clientload's system calls over the profiles' window (perf stat)
	Wakeups   time.Duration // record the kernel's wakings of every agent and clientload for this long from the profiles' window's start (tracefs); 0: not
	Out       io.Writer     // one line per run
}

// ABResult is one run of one variant.
type ABResult struct {
	Variant string
	Round   int
	atollbench.Summary
	// PerK is the CPU of the whole ring (agents and clients) per 1,000
	// msgs/s, in percent of a core, as compare.sh's tables give it.
	PerK float64
	// AgentUs and ClientUs are the CPU microseconds each node's agent and
	// clientload used per message delivered at that node.
	AgentUs, ClientUs []float64
	// IdlePct is each agent's CPU, in percent of a core, over
	// ABOptions.Idle after the load ended and its clients left; IdleRing
	// what node 1's ring did meanwhile.
	IdlePct  []float64
	IdleRing IdleRing
	// PeakRSSMiB is each agent's peak resident memory (VmHWM) at the end
	// of the run, after the load and its drain (and the idle window).
	PeakRSSMiB []float64
	LoadAvg    string // /proc/loadavg at the end of the run
	// OtherCores is how many cores the host's other processes used over
	// the run's window: every CPU's busy time (atollbench.HostCPU) less
	// what the agents and clientloads used; -1 where the host does not
	// say. The load average counts waiting tasks, not the CPU they take,
	// and on a shared host the other work's share of the cores, whatever
	// scheduling policy it runs under, sets a run's latency tail: compare
	// rounds whose OtherCores are alike.
	OtherCores float64
	// KernelDrops is the UDP datagrams the namespaces' kernels dropped
	// during the run (Testbed.UDPDrops): a token retransmitted without a
	// duplicate and with drops here was lost, not late.
	KernelDrops uint64
	// Syscalls is each agent's and clientload's system calls over the
	// window (ABOptions.Syscalls), and SyscallsString them per message
	// delivered at its node.
	Syscalls []SyscallCount
	// Wakeups is the wakings of the run's processes over ABOptions.Wakeups
	// from the profiles' window's start; nil when not asked for.
	Wakeups        *Wakeups
	NodeMsgsPerSec []float64 // messages delivered per second at each node over its window
	// Ring is node 1's token rotations and sends over the window
	// (its status at the window's start and end): the arithmetic of a
	// sender's throughput, messages per visit × visits per second.
	Ring RingWindow
}

// RingWindow is what one agent's ring did over a window, from two of its
// status snapshots.
type RingWindow struct {
	Seconds   float64 // between the snapshots
	Rotations uint64  // tokens the node accepted
	RotSum    time.Duration
	Msgs      uint64 // messages the node sent on the ring
	Packets   uint64 // packets the node sent (tokens, retransmissions and the rest included)
	// Held is the group loop's passes that held the local clients'
	// messages back for a client that does not read fast enough
	// (agent.Status ClientsHeld): a wait of the senders that the ring
	// does not cause.
	Held uint64
	// BusyHolds is the tokens node 1, the representative, kept for a
	// fuller rotation (agent.Counters BusyHolds).
	BusyHolds uint64
	// Sched is what the kernel's scheduler counted for each agent over
	// the window (atollbench.ProcSchedStat): how long its threads waited
	// for a CPU, runnable, and how often they were put on one.
	Sched []atollbench.SchedStat
	// TokenRetransmits and TokenLosses are summed over every agent: the
	// tokens sent again because the successor showed no sign of having
	// one within TokenRetransmit (each stalls the ring for that long),
	// and the token timeouts that started a membership round. Rings is
	// the rings node 1 installed (a token lost and the ring re-formed).
	TokenRetransmits, TokenLosses, Rings uint64
	// DuplicateTokens is the tokens every agent dropped as copies of one
	// it had: as many as TokenRetransmits when the tokens sent again were
	// late, not lost.
	DuplicateTokens uint64
	// Retransmits is the packets every agent retransmitted because a
	// member asked for them.
	Retransmits uint64
	// HostBusy is the CPU time the whole host was busy over the window,
	// summed over its CPUs (atollbench.HostCPU): the run's processes and
	// the host's other work.
	HostBusy time.Duration
	// Rot is the token rotation times of every agent over the window
	// (their localring.Histogram's differences, merged): a tail of slow
	// rotations is the ring stalled, not the client path.
	Rot localring.Histogram
}

// SlowRotation is the rotation time above which StallString counts a
// rotation as slow: the p99 target at half of the maximum (issue 10),
// which a message that waits for one such rotation misses.
const SlowRotation = 5 * time.Millisecond

// rotQuantile is the upper bound of the bucket of h that holds its q
// quantile ("≤2.5ms"), or ">10s" past the last bucket; "–" when empty.
func rotQuantile(h localring.Histogram, q float64) string {
	if h.Count == 0 {
		return "–"
	}
	need := max(uint64(math.Ceil(q*float64(h.Count))), 1)
	var seen uint64
	for i, n := range h.Buckets {
		if seen += n; seen >= need {
			return "≤" + localring.RotationBounds[i].String()
		}
	}
	return ">" + localring.RotationBounds[len(localring.RotationBounds)-1].String()
}

// rotOver is the number of observations of h above d, d one of
// localring.RotationBounds (else above the largest bound under d).
func rotOver(h localring.Histogram, d time.Duration) uint64 {
	n := h.Count
	for i, b := range localring.RotationBounds {
		if b > d {
			break
		}
		n -= h.Buckets[i]
	}
	return n
}

// StallString is what the ring did that stalls a message: token
// retransmissions and losses (every agent), rings installed (node 1),
// and every agent's rotation times (rotations), so that a latency tail
// can be told apart as the ring stalled or the client path.
func (w RingWindow) StallString() string {
	return fmt.Sprintf("tokretx %d (dup %d) lost %d rings %d, rotation p50/p99/max %s", w.TokenRetransmits, w.DuplicateTokens, w.TokenLosses, w.Rings, w.rotations())
}

// rotations is "≤250µs / ≤2.5ms / ≤10ms, 2 > 5ms": the bounds of the
// buckets of the rotations' p50, p99 and longest, and the number of
// rotations over SlowRotation.
func (w RingWindow) rotations() string {
	return fmt.Sprintf("%s / %s / %s, %d > %v", rotQuantile(w.Rot, 0.5), rotQuantile(w.Rot, 0.99), rotQuantile(w.Rot, 1),
		rotOver(w.Rot, SlowRotation), SlowRotation)
}

// watchRing returns what the ring did during a run of load started now:
// node 1's rotations and sends, every agent's retransmissions, token
// retransmissions, losses and rotation times, and the scheduler's counts
// of every agent, from a status of every agent taken a second after the
// warm-up's end (the clients join and the group's view forms within
// about a second) and one at about the end of the measured window.
func watchRing(ctx context.Context, ag *Agents, load ClientLoad) (RingWindow, error) {
	if !atollbench.Sleep(ctx, load.Settle+load.Warmup+time.Second) {
		return RingWindow{}, ctx.Err()
	}
	statuses := func() ([]agent.Status, error) {
		out := make([]agent.Status, len(ag.Pids))
		for i := range out {
			var err error
			if out[i], err = agentStatus(ctx, filepath.Join(ag.DataDir(i), agent.AdminSocketName)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	t0 := time.Now()
	busy0, _ := atollbench.HostCPU()
	as, err := statuses()
	sa := agentsSched(ag.Pids)
	if err != nil {
		return RingWindow{}, err
	}
	if !atollbench.Sleep(ctx, max(load.Duration-time.Second, time.Second)) {
		return RingWindow{}, ctx.Err()
	}
	bs, err := statuses()
	sb := agentsSched(ag.Pids)
	busy1, _ := atollbench.HostCPU()
	if err != nil {
		return RingWindow{}, err
	}
	a, b := as[0], bs[0]
	w := RingWindow{Seconds: time.Since(t0).Seconds(), HostBusy: busy1 - busy0,
		Rotations: b.TokenRotation.Count - a.TokenRotation.Count, RotSum: b.TokenRotation.Sum - a.TokenRotation.Sum,
		Msgs: b.Counters.MessagesSent - a.Counters.MessagesSent, Packets: b.Counters.PacketsOut - a.Counters.PacketsOut,
		Held: b.Counters.ClientsHeld - a.Counters.ClientsHeld, BusyHolds: b.Counters.BusyHolds - a.Counters.BusyHolds, Rings: b.Counters.RingsInstalled - a.Counters.RingsInstalled}
	for i := range as {
		a, b := &as[i], &bs[i]
		w.TokenRetransmits += b.Counters.TokenRetransmits - a.Counters.TokenRetransmits
		w.Retransmits += b.Counters.Retransmits - a.Counters.Retransmits
		w.DuplicateTokens += b.Counters.DuplicateTokens - a.Counters.DuplicateTokens
		w.TokenLosses += b.Counters.TokenLosses - a.Counters.TokenLosses
		w.Rot.Count += b.TokenRotation.Count - a.TokenRotation.Count
		w.Rot.Sum += b.TokenRotation.Sum - a.TokenRotation.Sum
		for k := range w.Rot.Buckets {
			w.Rot.Buckets[k] += b.TokenRotation.Buckets[k] - a.TokenRotation.Buckets[k]
		}
	}
	if len(sa) == len(ag.Pids) && len(sb) == len(sa) {
		for i := range sa {
			w.Sched = append(w.Sched, sb[i].Sub(sa[i]))
		}
	}
	return w, nil
}

// SchedString is each agent's wait for a CPU over the window: the share
// of the window its threads spent runnable on a run queue (summed over
// threads), and the mean wait per time a thread was put on a CPU. Every
// hand-off between the processes on a message's path pays about the
// mean; a p99 far above the rotation with these high is the host's load,
// not a wait of Atoll's.
func (w RingWindow) SchedString() string {
	if len(w.Sched) == 0 || w.Seconds <= 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("runq wait:")
	for i, s := range w.Sched {
		per := time.Duration(0)
		if s.Runs > 0 {
			per = s.Wait / time.Duration(s.Runs)
		}
		fmt.Fprintf(&b, " n%d %.0f%% %v", i+1, 100*s.Wait.Seconds()/w.Seconds, per.Round(time.Microsecond))
	}
	return b.String()
}

// String is "rot/s, mean rotation, msgs per visit, packets per visit",
// then the passes held and the busy holds per second.
func (w RingWindow) String() string {
	if w.Rotations == 0 || w.Seconds <= 0 {
		return "ring n1: no rotation"
	}
	return fmt.Sprintf("ring n1: %.0f rot/s mean %v, %.1f msgs %.1f pkts per visit, %d passes held, %.0f busy holds/s",
		float64(w.Rotations)/w.Seconds, (w.RotSum / time.Duration(w.Rotations)).Round(time.Microsecond),
		float64(w.Msgs)/float64(w.Rotations), float64(w.Packets)/float64(w.Rotations), w.Held, float64(w.BusyHolds)/w.Seconds)
}

// String is the run's line: throughput, latency, CPU per message.
func (r ABResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "round %d %-8s %7.0f msgs/s  CPU per 1k msgs/s %5.2f%%  p50 %v p99 %v  µs CPU/msg:", r.Round, r.Variant, r.MsgsPerSec, r.PerK,
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
	for i := range r.AgentUs {
		fmt.Fprintf(&b, " n%d agent %.1f client %.1f", i+1, r.AgentUs[i], r.ClientUs[i])
	}
	if len(r.IdlePct) > 0 {
		fmt.Fprintf(&b, "  idle %%CPU:")
		for i, p := range r.IdlePct {
			fmt.Fprintf(&b, " n%d %.2f", i+1, p)
		}
		fmt.Fprintf(&b, " (%s)", r.IdleRing)
	}
	if len(r.PeakRSSMiB) > 0 {
		fmt.Fprintf(&b, "  peak RSS MiB:")
		for i, m := range r.PeakRSSMiB {
			fmt.Fprintf(&b, " n%d %.1f", i+1, m)
		}
	}
	if len(r.Syscalls) > 0 {
		fmt.Fprintf(&b, "  syscalls/msg:%s", syscallsPerMsg(r.Syscalls, r.NodeMsgsPerSec))
	}
	if r.Wakeups != nil && len(r.NodeMsgsPerSec) > 0 {
		fmt.Fprintf(&b, "  %s", r.Wakeups.String(mean(r.NodeMsgsPerSec)))
	}
	fmt.Fprintf(&b, "  %s", r.Ring)
	if s := r.Ring.SchedString(); s != "" {
		fmt.Fprintf(&b, "  %s", s)
	}
	fmt.Fprintf(&b, "  retx %d %s, udp drops %d  loadavg %s", r.Ring.Retransmits, r.Ring.StallString(), r.KernelDrops, r.LoadAvg)
	if r.OtherCores >= 0 {
		fmt.Fprintf(&b, "  other processes %.2f cores", r.OtherCores)
	}
	return b.String()
}

// RunAB builds one testbed and runs the variants alternately, Rounds
// times each, each run with fresh agents: an interleaved A/B, so that the
// machine's other work weighs on every variant alike.
func RunAB(ctx context.Context, o ABOptions, prefix string) ([]ABResult, error) {
	if len(o.Variants) == 0 {
		return nil, errors.New("apiab: no variant to run")
	}
	tb, err := NewTestbed(o.Nodes, prefix)
	if err != nil {
		return nil, err
	}
	defer tb.Close()
	var out []ABResult
	for round := range o.Rounds {
		for _, v := range o.Variants {
			if ctx.Err() != nil {
				return out, fmt.Errorf("interrupted before %s, round %d; the namespaces and agents are removed", v.Name, round)
			}
			r, err := runABOnce(ctx, tb, o, v, round, len(out))
			if err != nil && ctx.Err() != nil {
				return out, fmt.Errorf("interrupted during %s, round %d; the namespaces and agents are removed", v.Name, round)
			}
			if err != nil {
				return out, fmt.Errorf("apiab: %s, round %d: %w", v.Name, round, err)
			}
			if o.Out != nil {
				fmt.Fprintf(o.Out, "%s  %s\n", time.Now().Format("15:04:05"), r)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func runABOnce(ctx context.Context, tb *Testbed, o ABOptions, v ABVariant, round, run int) (ABResult, error) {
	dir := filepath.Join(o.Work, fmt.Sprintf("r%d-%s", round, v.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ABResult{}, err
	}
	drops0, err := tb.UDPDrops()
	if err != nil {
		return ABResult{}, err
	}
	ag, err := StartAgents(tb, filepath.Join(dir, "agents"), AgentOptions{Bin: v.Atoll, Crypto: o.Crypto || v.Crypto,
		Sched: func(argv ...string) []string {
			return withEnv(v.AgentEnv, withRR(v.AgentRR, withNice(v.AgentNice, append(argv, v.AgentArgs...))))
		}})
	if err != nil {
		return ABResult{}, err
	}
	defer ag.Stop()
	load := ClientLoad{Bin: v.ClientLoad, OneSender: o.OneSender, Size: o.Size, RatePerNode: o.Rate,
		Sched: func(argv ...string) []string {
			return withEnv(v.ClientEnv, withRR(v.ClientRR, withNice(v.ClientNice, argv)))
		},
		Settle: 300 * time.Millisecond, Warmup: time.Second, Duration: o.Duration, Drain: time.Second, SamplesDir: dir,
		Group: fmt.Sprintf("atoll-ab-%d", run)}
	var r ABResult
	var profiles sync.WaitGroup
	profErrs := make([]error, min(2, o.Nodes))
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Profile {
		for i := range profErrs {
			profiles.Go(func() {
				// From the end of the warm-up (the ring forms within about
				// a second) to the end of the window.
				if !atollbench.Sleep(pctx, load.Settle+load.Warmup+time.Second) {
					return
				}
				profErrs[i] = agentProfile(pctx, filepath.Join(ag.DataDir(i), agent.AdminSocketName),
					max(o.Duration-time.Second, time.Second), filepath.Join(dir, fmt.Sprintf("agent%d.pprof", i+1)))
			})
		}
	}
	if o.Syscalls {
		var mu sync.Mutex
		profiles.Go(func() {
			// The profiles' window.
			if !atollbench.Sleep(pctx, load.Settle+load.Warmup+time.Second) {
				return
			}
			d := max(o.Duration-time.Second, time.Second)
			type proc struct {
				name string
				pid  int
			}
			var ps []proc
			for i, pid := range ag.Pids {
				ps = append(ps, proc{fmt.Sprintf("n%d agent", i+1), pid})
			}
			for _, pid := range pidsOf(v.ClientLoad, load.Group) {
				ps = append(ps, proc{fmt.Sprintf("n%d client", clientloadNode(pid)+1), pid})
			}
			var counting sync.WaitGroup
			for _, p := range ps {
				counting.Go(func() {
					counts, err := countSyscalls(pctx, p.pid, d)
					if err != nil {
						fmt.Fprintf(os.Stderr, "apiab: %s: %v\n", p.name, err)
						return
					}
					mu.Lock()
					r.Syscalls = append(r.Syscalls, SyscallCount{Proc: p.name, Seconds: d.Seconds(), Counts: counts})
					mu.Unlock()
				})
			}
			counting.Wait()
		})
	}
	if o.Wakeups > 0 {
		profiles.Go(func() {
			// From the profiles' window's start.
			if !atollbench.Sleep(pctx, load.Settle+load.Warmup+time.Second) {
				return
			}
			procs := map[int]string{}
			for i, pid := range ag.Pids {
				procs[pid] = fmt.Sprintf("n%d agent", i+1)
			}
			for _, pid := range pidsOf(v.ClientLoad, load.Group) {
				procs[pid] = fmt.Sprintf("n%d client", clientloadNode(pid)+1)
			}
			w, err := countWakeups(pctx, procs, o.Wakeups)
			if err != nil {
				fmt.Fprintf(os.Stderr, "apiab: -wakeups: %v\n", err)
				return
			}
			r.Wakeups = &w
		})
	}
	var ring RingWindow
	profiles.Go(func() {
		// Over the profiles' window.
		ring, _ = watchRing(pctx, ag, load)
	})
	rs, _, err := runClients(ctx, o.Nodes, "clientload", func(i int) []string {
		argv := load.argv(ag, i)
		if o.Profile && i < 2 {
			argv = append(argv, "-cpuprofile", filepath.Join(dir, fmt.Sprintf("client%d.pprof", i+1)))
		}
		return argv
	}, ag.Log)
	if err != nil {
		cancel() // no profile to wait for
		profiles.Wait()
		return ABResult{}, err
	}
	profiles.Wait()
	if err := errors.Join(profErrs...); err != nil {
		return ABResult{}, err
	}
	s, err := atollbench.Summarize(rs)
	if err != nil {
		return ABResult{}, err
	}
	r.Variant, r.Round, r.Summary, r.Ring, r.OtherCores = v.Name, round, s, ring, otherCores(ring, rs)
	slices.SortFunc(r.Syscalls, func(a, b SyscallCount) int { return cmp.Compare(a.Proc, b.Proc) })
	for _, n := range rs {
		r.NodeMsgsPerSec = append(r.NodeMsgsPerSec, float64(n.Delivered)/max(n.WindowS, 1e-9))
	}
	if o.Idle > 0 {
		if r.IdlePct, r.IdleRing, err = agentsIdle(ctx, ag, o.Idle); err != nil {
			return ABResult{}, err
		}
	}
	for _, pid := range ag.Pids {
		kib, err := atollbench.ProcMaxRSS(pid)
		if err != nil {
			return ABResult{}, err
		}
		r.PeakRSSMiB = append(r.PeakRSSMiB, float64(kib)/1024)
	}
	r.LoadAvg = schedprobe.LoadAvg()
	drops1, err := tb.UDPDrops()
	if err != nil {
		return ABResult{}, err
	}
	r.KernelDrops = drops1 - drops0
	if s.MsgsPerSec > 0 {
		r.PerK = s.CPUPercent * float64(s.Nodes) / (s.MsgsPerSec / 1000)
	}
	for _, n := range rs {
		r.AgentUs = append(r.AgentUs, cpuPerMessage(n.DaemonCPUS, n))
		r.ClientUs = append(r.ClientUs, cpuPerMessage(n.CPUS, n))
	}
	return r, nil
}

// otherCores is how many cores the processes outside the run used over
// w's window: the host's busy CPU time less every agent's and
// clientload's CPU, each over its own measured window (about w's), as
// cores; -1 when the host does not say.
func otherCores(w RingWindow, rs []atollbench.NodeResult) float64 {
	if w.HostBusy <= 0 || w.Seconds <= 0 {
		return -1
	}
	c := w.HostBusy.Seconds() / w.Seconds
	for _, n := range rs {
		if n.CPUWindowS > 0 {
			c -= (n.CPUS + n.DaemonCPUS) / n.CPUWindowS
		}
	}
	return max(c, 0)
}

// agentsSched returns each process's scheduler counts, none if one
// cannot be read (a kernel without schedstats).
func agentsSched(pids []int) []atollbench.SchedStat {
	var out []atollbench.SchedStat
	for _, pid := range pids {
		s, err := atollbench.ProcSchedStat(pid)
		if err != nil {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// cpuPerMessage is cpu seconds over a node's CPU window, scaled to its
// delivery window, per message delivered, in microseconds.
func cpuPerMessage(cpu float64, n atollbench.NodeResult) float64 {
	if n.CPUWindowS <= 0 || n.Delivered == 0 {
		return 0
	}
	return cpu / n.CPUWindowS * n.WindowS / float64(n.Delivered) * 1e6
}

// agentsCPU returns each process's CPU over d, in percent of a core.
func agentsCPU(pids []int, d time.Duration) ([]float64, error) {
	before := make([]time.Duration, len(pids))
	for i, pid := range pids {
		var err error
		if before[i], err = atollbench.ProcCPU(pid); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	time.Sleep(d)
	out := make([]float64, len(pids))
	for i, pid := range pids {
		after, err := atollbench.ProcCPU(pid)
		if err != nil {
			return nil, err
		}
		out[i] = (after - before[i]).Seconds() / time.Since(start).Seconds() * 100
	}
	return out, nil
}

// IdleRing is what node 1's ring did over an idle window, from two of its
// status snapshots: its token rotations per second (the idle hold sets
// them: an idle node's CPU goes mostly to the wake-ups of each rotation),
// and the rings it installed. A ring installed means a token was lost
// (on a busy host, typically a node not run in time) and the ring
// re-formed: the window then measured that, not an idle ring. Wakes is
// each agent's wake-ups per second (the times its threads were put on a
// CPU, from /proc/PID/task/*/schedstat; none when the kernel keeps no
// schedstats): an idle agent's CPU is mostly their cost, so wake-ups per
// rotation say what a change saved where a loaded host's CPU figures
// cannot.
type IdleRing struct {
	RotPerSec float64
	Rings     uint64
	Wakes     []float64
}

func (w IdleRing) String() string {
	s := fmt.Sprintf("n1 %.1f rot/s, %d rings installed", w.RotPerSec, w.Rings)
	if len(w.Wakes) > 0 && w.RotPerSec > 0 {
		s += ", wake-ups per rotation"
		for i, x := range w.Wakes {
			s += fmt.Sprintf(" n%d %.1f", i+1, x/w.RotPerSec)
		}
	}
	return s
}

// agentsIdle returns each agent's CPU over d, in percent of a core, and
// what node 1's ring did meanwhile.
func agentsIdle(ctx context.Context, ag *Agents, d time.Duration) ([]float64, IdleRing, error) {
	sock := filepath.Join(ag.DataDir(0), agent.AdminSocketName)
	a, err := agentStatus(ctx, sock)
	if err != nil {
		return nil, IdleRing{}, err
	}
	t0 := time.Now()
	s0 := agentsSched(ag.Pids)
	pct, err := agentsCPU(ag.Pids, d)
	if err != nil {
		return nil, IdleRing{}, err
	}
	s1 := agentsSched(ag.Pids)
	b, err := agentStatus(ctx, sock)
	if err != nil {
		return nil, IdleRing{}, err
	}
	return pct, idleRingBetween(time.Since(t0).Seconds(), a, b, s0, s1), nil
}

// idleRingBetween is what node 1's ring did over secs between two of its
// status snapshots (a, b) and two of the agents' scheduler counts (s0,
// s1; Wakes stays empty unless both hold every agent): what agentsIdle
// returns and idleab's lines (idleLine) print.
func idleRingBetween(secs float64, a, b agent.Status, s0, s1 []atollbench.SchedStat) IdleRing {
	w := IdleRing{RotPerSec: float64(b.TokenRotation.Count-a.TokenRotation.Count) / secs,
		Rings: b.Counters.RingsInstalled - a.Counters.RingsInstalled}
	if len(s0) > 0 && len(s0) == len(s1) {
		for i := range s0 {
			w.Wakes = append(w.Wakes, float64(s1[i].Sub(s0[i]).Runs)/secs)
		}
	}
	return w
}

// agentStatus reads an agent's status over its admin socket.
func agentStatus(ctx context.Context, socket string) (agent.Status, error) {
	var st agent.Status
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", socket)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/v1/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("status of the agent at %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status of the agent at %s: %s", socket, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// agentProfile writes a CPU profile of d from an agent's admin socket
// (/debug/pprof/profile) to path.
func agentProfile(ctx context.Context, socket string, d time.Duration, path string) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", socket)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://agent/debug/pprof/profile?seconds=%d", int(d/time.Second)), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile of the agent at %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("CPU profile of the agent at %s: %s: %s", socket, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ABMain is the command line of tests/bench/cmd/apiab.
func ABMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apiab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o        ABOptions
		variants stringsFlag
		keep     bool
	)
	fs.Var(&variants, "v", "a variant, NAME=ATOLL:CLIENTLOAD[:AGENT-SETTINGS[:CLIENT-ENV]] (settings joined by '+': NAME=VALUE for the environment, --flag=value for `atoll agent`, encrypt for security mode encrypt); repeat for each")
	fs.IntVar(&o.Nodes, "nodes", 3, "ring size")
	fs.IntVar(&o.Rounds, "rounds", 3, "runs of each variant, interleaved")
	fs.BoolVar(&o.OneSender, "one", true, "only node 1 sends (false: every node)")
	fs.BoolVar(&o.Crypto, "crypto", false, "security mode encrypt")
	fs.IntVar(&o.Size, "size", 1024, "message bytes")
	fs.Float64Var(&o.Rate, "rate", 0, "msgs/s per sender (0: as fast as MulticastWait returns)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measurement window of each run")
	fs.DurationVar(&o.Idle, "idle", 0, "after the load, measure each agent's CPU without clients over this window (compare.sh's idle column; 0: not measured)")
	fs.StringVar(&o.Work, "work", "", "directory for configs, logs, samples and profiles (default: a temporary one, removed unless -keep)")
	fs.BoolVar(&keep, "keep", false, "keep the work directory")
	fs.DurationVar(&o.Wakeups, "wakeups", 0, "record the kernel's sched_waking and sched_switch events (tracefs; needs root) for this long from the profiles' window's start, and give per message delivered at a node which process woke which agent or clientload, and each one's wait from its waking to a CPU (p50/p90/p99 µs); 1.5s is enough at 1,000 msgs/s; the tracer's formatting afterwards takes CPU inside the window")
	fs.BoolVar(&o.Syscalls, "syscalls", false, "count each agent's and clientload's system calls over the profiles' window with perf stat (needs perf), and give them per message delivered at its node")
	fs.BoolVar(&o.Profile, "profile", false, "CPU profiles of agents n1, n2 (agentN.pprof) and clientloads n1, n2 (clientN.pprof) in each run's directory; implies -keep")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sudo apiab -v A=ATOLL:CLIENTLOAD -v B=ATOLL2:CLIENTLOAD2 [flags]\n\nRuns the client-API row of compare.sh (an `atoll agent` and a clientload per namespace) for each variant in turn, and prints one line per run (docs/BENCHMARKS.md, \"A/B of the client API\").")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range variants {
		v, err := ParseVariant(s)
		if err != nil {
			return err
		}
		o.Variants = append(o.Variants, v)
	}
	switch {
	case len(o.Variants) == 0:
		return errors.New("name at least one variant with -v NAME=ATOLL:CLIENTLOAD")
	case o.Nodes < 2 || o.Rounds < 1 || o.Duration < time.Second:
		return fmt.Errorf("-nodes %d, -rounds %d, -duration %v: want at least 2 nodes, 1 round and 1s", o.Nodes, o.Rounds, o.Duration)
	case o.Size < atollbench.PayloadHeaderLen:
		return fmt.Errorf("-size %d: want at least %d bytes (the benchmark header)", o.Size, atollbench.PayloadHeaderLen)
	case os.Geteuid() != 0:
		return errors.New("creating network namespaces needs root: run it with sudo")
	}
	if o.Work == "" {
		dir, err := os.MkdirTemp("", "atoll-apiab-")
		if err != nil {
			return err
		}
		o.Work = dir
		if !keep && !o.Profile {
			defer os.RemoveAll(dir)
		}
	}
	if o.Profile {
		fmt.Fprintf(stderr, "apiab: profiles under %s\n", o.Work)
	}
	o.Out = stdout
	// SIGINT or SIGTERM stops the run in progress and still removes what
	// it made: the agents, the clients and the namespaces.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rs, err := RunAB(ctx, o, fmt.Sprintf("ab%04x", os.Getpid()&0xffff))
	if len(rs) > 0 {
		fmt.Fprint(stdout, ABSummary(rs))
	}
	return err
}

// CPUPerMsg is the CPU microseconds the whole ring (every node's agent and
// clientload) spent per message delivered: the sum of AgentUs and
// ClientUs, the run's figure that the machine's other work moves least.
func (r ABResult) CPUPerMsg() float64 {
	var us float64
	for i := range r.AgentUs {
		us += r.AgentUs[i] + r.ClientUs[i]
	}
	return us
}

// ABSummary sums up the runs of an A/B: per variant (in the order of the
// runs) the means of the run lines' figures and the largest peak RSS of
// an agent over its runs, and for every variant after
// the first its CPU per message (CPUPerMsg) against the first variant's
// in the same round, per round and on average, so that a change can be
// judged against the spread of the pairs.
func ABSummary(rs []ABResult) string {
	var names []string
	by := map[string][]ABResult{}
	for _, r := range rs {
		if by[r.Variant] == nil {
			names = append(names, r.Variant)
		}
		by[r.Variant] = append(by[r.Variant], r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "summary (mean over runs; µs CPU per message delivered: n1, then the mean of the other nodes):\n")
	for _, name := range names {
		vs := by[name]
		mean := func(f func(ABResult) float64) float64 {
			var sum float64
			for _, r := range vs {
				sum += f(r)
			}
			return sum / float64(len(vs))
		}
		others := func(us []float64) float64 {
			if len(us) < 2 {
				return 0
			}
			var sum float64
			for _, u := range us[1:] {
				sum += u
			}
			return sum / float64(len(us)-1)
		}
		loads := make([]string, len(vs))
		var other []string // the runs' OtherCores, where known
		var peak float64   // the largest over runs and agents
		for i, r := range vs {
			loads[i], _, _ = strings.Cut(r.LoadAvg, " ")
			if r.OtherCores >= 0 {
				other = append(other, fmt.Sprintf("%.2f", r.OtherCores))
			}
			for _, m := range r.PeakRSSMiB {
				peak = max(peak, m)
			}
		}
		fmt.Fprintf(&b, "  %-8s %d runs  %7.0f msgs/s  CPU per 1k msgs/s %5.2f%%  agent %.1f / %.1f  client %.1f / %.1f  ring %.1f µs/msg  agent peak RSS %.1f MiB  loadavg %s",
			name, len(vs), mean(func(r ABResult) float64 { return r.MsgsPerSec }), mean(func(r ABResult) float64 { return r.PerK }),
			mean(func(r ABResult) float64 { return first(r.AgentUs) }), mean(func(r ABResult) float64 { return others(r.AgentUs) }),
			mean(func(r ABResult) float64 { return first(r.ClientUs) }), mean(func(r ABResult) float64 { return others(r.ClientUs) }),
			mean(ABResult.CPUPerMsg), peak, strings.Join(loads, " "))
		if len(other) > 0 {
			fmt.Fprintf(&b, "  other processes %s cores", strings.Join(other, " "))
		}
		if name != names[0] {
			var pairs []string
			var sum float64
			n := 0
			for _, r := range vs {
				for _, a := range by[names[0]] {
					if a.Round == r.Round && a.CPUPerMsg() > 0 {
						d := (r.CPUPerMsg()/a.CPUPerMsg() - 1) * 100
						pairs = append(pairs, fmt.Sprintf("%+.1f%%", d))
						sum += d
						n++
					}
				}
			}
			if n > 0 {
				fmt.Fprintf(&b, "  ring µs/msg vs %s %+.1f%% (rounds %s)", names[0], sum/float64(n), strings.Join(pairs, " "))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func first(us []float64) float64 {
	if len(us) == 0 {
		return 0
	}
	return us[0]
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, " ") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }
