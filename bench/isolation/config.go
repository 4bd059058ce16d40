package isolation

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/topology"
)

// Config is one run of the benchmark.
type Config struct {
	// Duration is how long each phase is measured; Warmup runs before it
	// in every phase, with the same load, and is not measured.
	Duration, Warmup time.Duration
	// Rounds is how many times the first three phases (c detached, c
	// attached, saturating) run, in turn, before the gateway-killed
	// phase: each time measured Duration/Rounds, so that each phase is
	// measured Duration in all. The machine's other work comes and goes,
	// so one phase measured after another compares different moments of
	// it; in rounds each phase's moments are spread over the run, the
	// table pools them, and the targets are judged on the median of the
	// rounds' ratios (with their spread). Default 3.
	Rounds int
	// Groups are the groups to run: ALocal and ABCGlobal always,
	// ABRegional when listed. Default: all three.
	Groups []string
	// CapBits is the relay's bandwidth cap on the links to site c, in
	// bits per second of UDP payload each way. Default 1 Mbit/s.
	CapBits int64
	// LocalRate, RegionalRate and GlobalRate are the messages per second
	// every phase offers to each group, summed over its senders (every
	// member sends). Defaults 300, 120 and 24.
	LocalRate, RegionalRate, GlobalRate float64
	// Size is the payload of a-local's and ab-regional's messages,
	// GlobalSize abc-global's. Defaults 256 and 1024 bytes.
	Size, GlobalSize int
	// Saturation is the factor by which abc-global's offered load exceeds
	// the cap in the saturating phase. Default 2.
	Saturation float64
	// SaturateFrom are the sites whose abc-global members offer the
	// saturating load (each site Saturation times the cap). Default a
	// and b; with b alone, site a's agents hold none of abc-global's
	// backlog while the links to c are as full.
	SaturateFrom []string
	// DeliveryWait bounds the wait, after each phase's senders flushed,
	// for every receiver to get every message; what is missing then
	// counts as lost. Default 60 s.
	DeliveryWait time.Duration
	// FailoverOnly runs the gateway-killed phase alone, with c attached
	// from the start (no saturating phase before it): a quicker look at
	// the failover. The other phases are in the report, empty.
	FailoverOnly bool
	// OneProcess runs every site in this process, as the benchmark did
	// before it ran each site in a process of its own (re-executing this
	// binary, ChildMain): one heap, one collector and one scheduler for
	// all eight agents, which separate hosts would not share. For
	// comparison, and where re-executing the binary is not wanted.
	OneProcess bool
	// Pin pins site a's process to CPU 0, and b's, c's and this one (the
	// WAN relays) to CPU 1 (Linux, two CPUs or more; not with OneProcess).
	Pin bool
	// Background runs sites b's and c's processes and this one (the WAN
	// relays) at the lowest CPU priority (SCHED_IDLE, Linux; not with
	// OneProcess), site a's at its own: on a host with fewer cores than
	// the run has busy processes, the far sites then take no CPU that
	// site a's process wants, as on hosts of their own. Site a's own work,
	// its gateways' part of the saturated global group included, still
	// competes with its a-local members.
	Background bool
	// NoTrace has the agents write no EVS trace, as agents run without
	// --trace: a traced agent holds its ring's new messages while its
	// group loop's trace lags (Phase.TraceHolds), a cost of the check, not
	// of the product. The run then checks no EVS (Report.EVSChecked);
	// lost and duplicated messages are counted from the deliveries as
	// always.
	NoTrace bool
	// Log receives the progress lines; nil discards them.
	Log io.Writer
	// AgentLogs receives the agents' logs; nil keeps them in memory and
	// shows their end on Log if the run fails.
	AgentLogs io.Writer
	// Dir, when set, holds the world's certificates, the agents' data
	// dirs and their traces (NODE.trace), and is kept after the run, so
	// that a failing run's traces can be read again (atoll check).
	// Default: a temporary directory removed at the end.
	Dir string
	// Deliveries, when set, receives every delivery at every member as
	// CSV at the end of the run (one line per message and receiver: the
	// send and delivery times), for the distributions the report does not
	// give.
	Deliveries io.Writer `json:"-"`
	// ExecTrace, when set, is a directory where each site's process (the
	// one process with OneProcess) writes its Go execution trace
	// (runtime/trace) of each phase's measured part, as
	// SITE.PHASE.rROUND.trace (site "all" with OneProcess), with the
	// benchmark's sends and deliveries in it as user logs on the run's
	// clock (exectrace.go), for `go tool trace` and for following a slow
	// message of the Deliveries file through the goroutines of its
	// site's process; and beside each trace the process's CPU profile of
	// the same time (SITE.PHASE.rROUND.pprof). Tracing costs the
	// processes some CPU.
	ExecTrace string
}

func (c *Config) defaults() {
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Warmup <= 0 {
		c.Warmup = c.Duration / 5
	}
	if len(c.Groups) == 0 {
		c.Groups = slices.Clone(Groups)
	}
	if c.CapBits <= 0 {
		c.CapBits = 1_000_000
	}
	if c.LocalRate <= 0 {
		c.LocalRate = 300
	}
	if c.RegionalRate <= 0 {
		c.RegionalRate = 120
	}
	if c.GlobalRate <= 0 {
		c.GlobalRate = 24
	}
	if c.Size <= 0 {
		c.Size = 256
	}
	if c.GlobalSize <= 0 {
		c.GlobalSize = 1024
	}
	if c.Saturation <= 0 {
		c.Saturation = 2
	}
	if len(c.SaturateFrom) == 0 {
		c.SaturateFrom = []string{"a", "b"}
	}
	if c.DeliveryWait <= 0 {
		c.DeliveryWait = time.Minute
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Validate reports a configuration the benchmark cannot run.
func (c Config) Validate() error {
	for _, g := range c.Groups {
		if !slices.Contains(Groups, g) {
			return fmt.Errorf("isolation: unknown group %q; the groups are %s", g, strings.Join(Groups, ", "))
		}
	}
	if len(c.Groups) > 0 && (!slices.Contains(c.Groups, ALocal) || !slices.Contains(c.Groups, ABCGlobal)) {
		return fmt.Errorf("isolation: the groups must include %s and %s (only %s can be left out)", ALocal, ABCGlobal, ABRegional)
	}
	for _, s := range c.SaturateFrom {
		if s != "a" && s != "b" {
			return fmt.Errorf("isolation: the saturating load comes from sites a and b (the links to c are capped), not %q", s)
		}
	}
	if c.Size > 0 && c.Size < headerLen || c.GlobalSize > 0 && c.GlobalSize < headerLen {
		return fmt.Errorf("isolation: messages must have at least %d bytes", headerLen)
	}
	if c.Background && c.OneProcess {
		return errors.New("isolation: --background-others lowers the far sites' processes' priority and needs a process per site; leave out --one-process")
	}
	return nil
}

// pinned returns the CPUs to pin site's process to (site "": the
// coordinator's), none when not pinning.
func (c Config) pinned(site string) []int {
	if !c.Pin || c.OneProcess || runtime.NumCPU() < 2 {
		return nil
	}
	if site == "a" {
		return []int{0}
	}
	return []int{1}
}

// background reports whether site's process (site "": the
// coordinator's) runs at the lowest CPU priority.
func (c Config) background(site string) bool {
	return c.Background && !c.OneProcess && site != "a"
}

// roundDuration is how long each round's phases are measured.
func (c Config) roundDuration() time.Duration { return c.Duration / time.Duration(max(c.Rounds, 1)) }

// The phases, in the order they run.
const (
	PhaseDetached  = iota // c cut off from a and b
	PhaseAttached         // c attached, abc-global at a light load
	PhaseSaturated        // c attached, abc-global offered more than the cap
	PhaseFailover         // as attached; a's active gateway of abc-global killed
	nPhases
)

// PhaseNames name the phases in the report.
var PhaseNames = [nPhases]string{"C detached", "C attached", "C attached, abc-global saturating", "gateway killed"}

// Phase is what one phase measured.
type Phase struct {
	Name   string       `json:"name"`
	Groups []GroupStats `json:"groups"`
	// Links are the relay's counters of the links from a and b to c (and
	// back) over the phase: what the cap let through and dropped.
	Links []LinkStats `json:"links,omitempty"`
	// TraceHolds are, for each node of site a, the times its agent held
	// its new ring messages back for its trace over the phase, and their
	// total time (agent Counters.TraceHolds, TraceHeld): with the
	// benchmark's traces, a site's sends wait there for the site's own
	// trace lines.
	TraceHolds []TraceHold `json:"trace_holds,omitempty"`
	// CPU is what the CPUs did over the phase's measured part, as seen
	// from the process that runs site a (every site, with OneProcess);
	// Processes gives each process's own: each site's, and the
	// coordinator's with the WAN relays.
	CPU       CPU          `json:"cpu"`
	Processes []ProcessCPU `json:"processes,omitempty"`
	// Overlap splits a-local's deliveries by what abc-global's members
	// delivered around each message's send (pooled phases: the first
	// three).
	Overlap []Overlap `json:"a_local_overlap,omitempty"`
}

// ProcessCPU is one process's CPU over a phase.
type ProcessCPU struct {
	Process string `json:"process"`
	CPU     CPU    `json:"cpu"`
}

// coordinatorName names the coordinator's process in Phase.Processes.
const coordinatorName = "coordinator and the WAN relays"

// TraceHold is one node's holds for its trace over a phase.
type TraceHold struct {
	Node  string        `json:"node"`
	Holds uint64        `json:"holds"`
	Held  time.Duration `json:"held_ns"`
	// ClientsHeld counts the node's group loop passes that took no
	// client request, of any group, because one local session that reads
	// had more than the send queue's bounds waiting for it (agent
	// Counters.ClientsHeld).
	ClientsHeld uint64 `json:"clients_held"`
}

// LinkStats is one link direction's traffic over a phase.
type LinkStats struct {
	Link       string  `json:"link"`
	BitsPerSec float64 `json:"bits_per_sec"`
	QueueDrops uint64  `json:"queue_drops"`
}

// Failover is what the gateway kill measured.
type Failover struct {
	Killed string `json:"killed"` // the node killed: a's active gateway of abc-global
	// Gap is the longest time without a delivery of abc-global at any
	// receiver that stayed connected, from the kill to the end of sending,
	// counted from the kill: a time without deliveries that was already
	// running at the kill counts from the kill on only (IdleAtKill says
	// how long it had run). GapBySite is the same per site; Before the
	// longest such time in the phase's measured part before the kill (the
	// steady state's gaps, about one federation rotation).
	Gap       time.Duration            `json:"gap_ns"`
	GapBySite map[string]time.Duration `json:"gap_by_site_ns"`
	Before    time.Duration            `json:"before_ns"`
	// AgainBySite is, by site, when its longest time without an
	// abc-global delivery after the kill (GapBySite) ended, counted from
	// the kill.
	AgainBySite map[string]time.Duration `json:"again_by_site_ns"`
	// IdleAtKill is, over those receivers, the longest time since their
	// last delivery at the moment of the kill. GapWithIdle is Gap counted
	// from each receiver's last delivery before the kill instead (what
	// runs before this field reported as the gap): it adds to Gap time
	// without deliveries that the kill did not cause.
	IdleAtKill  time.Duration `json:"idle_at_kill_ns"`
	GapWithIdle time.Duration `json:"gap_with_idle_ns"`
	// TokenTimeout is the federation token timeout of abc-global's domain
	// from the plan: the target is Gap ≤ 2× it.
	TokenTimeout time.Duration `json:"token_timeout_ns"`
}

// Report is a run's result.
type Report struct {
	Config    Config        `json:"config"`
	Started   time.Time     `json:"started"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Cores     int           `json:"cores"`
	LoadStart string        `json:"load_start"` // /proc/loadavg at start and end
	LoadEnd   string        `json:"load_end"`
	// Predicted is the planner's prediction for abc-global's domain.
	Predicted topology.Latency `json:"predicted"`
	Domain    string           `json:"domain"`
	// Phases are the four phases' figures: the first three pooled over
	// the rounds, the gateway-killed one's.
	Phases []Phase `json:"phases"`
	// Rounds are each round's first three phases, in order.
	Rounds   [][]Phase `json:"rounds,omitempty"`
	Failover Failover  `json:"failover"`
	// EVSChecked says whether the EVS checker ran (not with
	// Config.NoTrace); EVSEvents and Violations are its check over every
	// agent's trace.
	EVSChecked bool     `json:"evs_checked"`
	EVSEvents  int      `json:"evs_events"`
	Violations []string `json:"violations"`
}

// Lost and Duplicated sum the counts over every phase and group.
func (r *Report) Lost() (lost, dup int) {
	for _, p := range r.Phases {
		for _, g := range p.Groups {
			lost += g.Lost
			dup += g.Duplicated
		}
	}
	return lost, dup
}

// Err says what makes the run fail: lost or duplicated messages, EVS
// violations.
func (r *Report) Err() error {
	var bad []string
	if lost, dup := r.Lost(); lost > 0 || dup > 0 {
		bad = append(bad, fmt.Sprintf("%d messages lost and %d duplicated at receivers that stayed connected", lost, dup))
	}
	if len(r.Violations) > 0 {
		bad = append(bad, fmt.Sprintf("%d violations of extended virtual synchrony", len(r.Violations)))
	}
	if len(bad) == 0 {
		return nil
	}
	return errors.New("isolation: " + strings.Join(bad, "; "))
}

// wanLinks are the link directions whose traffic the report shows: to
// and from site c, where the cap is.
var wanLinks = [][2]string{{"a", "c"}, {"b", "c"}, {"c", "a"}, {"c", "b"}}
