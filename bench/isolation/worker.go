package isolation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// A worker runs the agents of some sites and their members' client
// sessions, and answers the coordinator's requests: in a process of its
// own per site (the default, as separate hosts would run them), or all
// three sites in the coordinator's process (Config.OneProcess). The
// requests and answers are the control protocol's (request, answer):
// JSON lines on the child's stdin and stdout (child.go), or calls in
// process.
type worker struct {
	w     *sites.World
	sites []string
	clk   clock

	mu       sync.Mutex
	sessions map[string]*session // by member name (node:group)
}

// The operations of the control protocol.
const (
	opStart   = "start"   // (child only) start the sites' agents
	opStatus  = "status"  // the running agents' domains and counters
	opConnect = "connect" // dial and join the members' sessions
	opSync    = "sync"    // the members' events since the last sync
	opPhase   = "phase"   // send a phase's load, flush, sample the CPU
	opKill    = "kill"    // crash a node as kill -9
	opStop    = "stop"    // end the sessions, stop the agents
)

// request is one request of the coordinator to a worker.
type request struct {
	ID uint64 `json:"id"`
	Op string `json:"op"`
	// Start: the world to run nodes of, the sites to run, the run's
	// clock's base (unix ns), the CPUs to pin the process to (none:
	// any), and whether it runs at the lowest CPU priority.
	Spec  *sites.Spec `json:"spec,omitempty"`
	Sites []string    `json:"sites,omitempty"`
	Base  int64       `json:"base,omitempty"`
	CPUs  []int       `json:"cpus,omitempty"`
	Idle  bool        `json:"idle,omitempty"`
	// Connect: the members to dial and join, in order.
	Members []string `json:"members,omitempty"`
	// Phase: what to send.
	Phase *phaseRequest `json:"phase,omitempty"`
	// Kill: the node.
	Node string `json:"node,omitempty"`
}

// phaseRequest is one phase's load at one worker: each sender's schedule,
// and when to sample the CPU (the measured part, from the phase's start).
type phaseRequest struct {
	Code     uint8         `json:"code"`
	Warmup   time.Duration `json:"warmup"`
	Measured time.Duration `json:"measured"`
	Senders  []senderLoad  `json:"senders"`
	// ExecTrace, when set, is the file to write this process's execution
	// trace of the measured part to (Config.ExecTrace).
	ExecTrace string `json:"exec_trace,omitempty"`
}

// senderLoad is one sender's schedule in a phase.
type senderLoad struct {
	Member string        `json:"member"`
	Index  uint8         `json:"index"` // its sender index (nodeIndex)
	Rate   float64       `json:"rate"`
	Size   int           `json:"size"`
	Dur    time.Duration `json:"dur"`
	// Slot is the sender's place in its group's schedule (firstSlot):
	// the j-th of a group's n senders in a phase has j/n.
	Slot float64 `json:"slot"`
}

// answer is a worker's answer to request ID; Err says why it failed.
type answer struct {
	ID  uint64 `json:"id"`
	Err string `json:"err,omitempty"`
	// Status: by running node.
	Nodes map[string]nodeStatus `json:"nodes,omitempty"`
	// Sync: each member's events since the last sync.
	Events map[string][]event `json:"events,omitempty"`
	// Phase: what each sender's agent accepted (sequence numbers), the
	// senders' errors (by node: a killed node's are not the run's), and
	// the process's CPU over the measured part.
	Sent       map[string][]uint32 `json:"sent,omitempty"`
	SendErrors map[string]string   `json:"send_errors,omitempty"`
	CPU        *CPU                `json:"cpu,omitempty"`
	// Stop: the processes stopped or killed before the end.
	Failed []evs.Proc `json:"failed,omitempty"`
}

// nodeStatus is what the coordinator reads of a running agent: its
// federation domains' configurations, to wait for them to form, and its
// trace hold counters.
type nodeStatus struct {
	Domains []agent.DomainStatus `json:"domains"`
	Holds   TraceHold            `json:"holds"`
}

// handle carries out one request; ctx ends the run.
func (k *worker) handle(ctx context.Context, q request) answer {
	a := answer{ID: q.ID}
	var err error
	switch q.Op {
	case opStatus:
		a.Nodes = k.status()
	case opConnect:
		err = k.connect(ctx, q.Members)
	case opSync:
		a.Events = k.sync()
	case opPhase:
		if q.Phase == nil {
			err = errors.New("isolation: a phase request without its phase")
			break
		}
		a.Sent, a.SendErrors, a.CPU, err = k.phase(ctx, *q.Phase)
	case opKill:
		err = k.w.Kill(q.Node)
	case opStop:
		a.Failed, err = k.stop()
	default:
		err = fmt.Errorf("isolation: unknown request %q", q.Op)
	}
	if err != nil {
		a.Err = err.Error()
	}
	return a
}

// status returns the running agents' domains and trace hold counters.
func (k *worker) status() map[string]nodeStatus {
	out := map[string]nodeStatus{}
	for _, s := range k.sites {
		for _, id := range k.w.SiteNodes(s) {
			n := k.w.Node(id)
			if !n.Running() {
				continue
			}
			st := n.Agent().Status()
			var ds []agent.DomainStatus
			for _, d := range st.Domains {
				ds = append(ds, agent.DomainStatus{Domain: d.Domain, Configuration: d.Configuration, Members: d.Members, Round: d.Round})
			}
			c := st.Counters
			out[id] = nodeStatus{Domains: ds, Holds: TraceHold{Node: id, Holds: c.TraceHolds, Held: c.TraceHeld, ClientsHeld: c.ClientsHeld}}
		}
	}
	return out
}

// connect gives each member its own client (one session per group, so
// that a group's backlog never waits in another group's send queue) and
// joins it to its group.
func (k *worker) connect(ctx context.Context, members []string) error {
	for _, name := range members {
		node, g, _ := strings.Cut(name, ":")
		gi := slices.Index(Groups, g)
		n := k.w.Node(node)
		if gi < 0 || n == nil || !slices.Contains(k.sites, n.Site) {
			return fmt.Errorf("isolation: no member %q at sites %v", name, k.sites)
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := client.DialAgent(dctx, n.Agent(), client.WithName(g), client.WithEventBuffer(1<<16))
		cancel()
		if err != nil {
			return fmt.Errorf("isolation: a client of %s for %s: %w", node, g, err)
		}
		s := &session{node: node, group: gi, c: c, clk: k.clk, sent: map[uint8][]uint32{}}
		go s.read()
		k.mu.Lock()
		k.sessions[name] = s
		k.mu.Unlock()
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = c.Join(jctx, g)
		cancel()
		if err != nil {
			return fmt.Errorf("isolation: %s joins %s: %w", node, g, err)
		}
	}
	return nil
}

// sync returns every member's events since the last call.
func (k *worker) sync() map[string][]event {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string][]event{}
	for name, s := range k.sessions {
		if es := s.take(); len(es) > 0 {
			out[name] = es
		}
	}
	return out
}

// phase runs the senders' schedules, each flushed at its end, and
// samples this process's CPU over the measured part.
func (k *worker) phase(ctx context.Context, p phaseRequest) (sent map[string][]uint32, errs map[string]string, cpu *CPU, err error) {
	k.mu.Lock()
	ss := make([]*session, len(p.Senders))
	for i, l := range p.Senders {
		if ss[i] = k.sessions[l.Member]; ss[i] == nil {
			k.mu.Unlock()
			return nil, nil, nil, fmt.Errorf("isolation: no session of %q here (sites %v)", l.Member, k.sites)
		}
	}
	k.mu.Unlock()
	var from, to cpuSample
	var cpuDone sync.WaitGroup
	cpuDone.Add(2)
	time.AfterFunc(p.Warmup, func() { from = sampleCPU(); cpuDone.Done() })
	time.AfterFunc(p.Warmup+p.Measured, func() { to = sampleCPU(); cpuDone.Done() })
	var xt *execTrace
	if p.ExecTrace != "" {
		xt = startExecTrace(ctx, p.ExecTrace, p.Warmup, p.Measured, k.clk)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs = map[string]string{}
	for i, l := range p.Senders {
		s := ss[i]
		wg.Go(func() {
			err := s.send(ctx, p.Code, l.Index, load{rate: l.Rate, size: l.Size, dur: l.Dur, slot: l.Slot})
			if err == nil {
				err = s.flush(ctx)
			}
			if err != nil {
				mu.Lock()
				errs[s.node] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cpuDone.Wait()
	if xt != nil {
		if err := xt.wait(); err != nil {
			return nil, nil, nil, err
		}
	}
	c := cpuBetween(from, to, runtime.NumCPU())
	sent = map[string][]uint32{}
	for i, l := range p.Senders {
		ss[i].mu.Lock()
		sent[l.Member] = slices.Clone(ss[i].sent[p.Code])
		ss[i].mu.Unlock()
	}
	return sent, errs, &c, nil
}

// stop ends every session and stops the agents; it returns the processes
// stopped or killed before.
func (k *worker) stop() ([]evs.Proc, error) {
	k.mu.Lock()
	for _, s := range k.sessions {
		s.c.Close()
	}
	k.mu.Unlock()
	failed := k.w.Failed()
	return failed, k.w.StopAll()
}

// pin pins this process (every thread it has; the threads they start
// inherit it) to cpus.
func pin(cpus []int) error {
	return eachThread(fmt.Sprintf("pin to CPUs %v", cpus), func(tid string) error { return setAffinity(tid, cpus) })
}

// idle has this process (every thread it has; the threads they start
// inherit it) run at the lowest CPU priority, SCHED_IDLE.
func idle() error {
	return eachThread("run at the lowest CPU priority (SCHED_IDLE)", setIdle)
}

// eachThread applies f, which does what, to every thread of this process.
func eachThread(what string, f func(tid string) error) error {
	ts, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("isolation: %s: %w", what, err)
	}
	for _, t := range ts {
		if err := f(t.Name()); err != nil {
			return fmt.Errorf("isolation: %s, thread %s: %w", what, t.Name(), err)
		}
	}
	return nil
}
