package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// Options configures a comparison run. Zero values mean the defaults.
type Options struct {
	Nodes    []int         // ring sizes; default 3 and 5
	Duration time.Duration // measurement window of each load phase; default 10 s
	Warmup   time.Duration // default 1 s
	Idle     time.Duration // window of the idle CPU phases; default 15 s
	Repeat   int           // runs of each full-load phase per system; default 2
	Sizes    []int         // message sizes; default 1024 and 8192
	// Senders selects the load shapes: false every node sends, true only
	// node 1 does. Default both.
	Senders []bool
	// Security selects packet protection: false none, true encrypted.
	// Default both.
	Security []bool
	Failover bool // measure failover after kill -9
	Raw      bool // measure raw UDP multicast

	Work       string // working directory: configs, keys, samples, logs
	AtollBin   string // the atoll binary
	CPGLoadBin string // the Corosync load client
	// ClientLoadBin is the client-API load client (tests/bench/clientload).
	ClientLoadBin string
	Self          []string // argv that runs this program's udp-send/udp-recv roles
	Prefix        string   // testbed name prefix; default from the pid
	// AtollUnicast runs Atoll with the UDP unicast transport instead of
	// multicast.
	AtollUnicast bool
	// Normal runs every process of both systems at normal priority. By
	// default they all run as Corosync does out of the box, SCHED_RR at
	// priority 99 (Atoll's nodes and its load clients under chrt, as
	// docs/OPERATIONS.md advises; Corosync's load clients at 98, see
	// schedClient), so that neither system competes with the machine's
	// other work and neither gets an edge over the other.
	Normal bool
	Log    io.Writer
}

func (o *Options) setDefaults() {
	if len(o.Nodes) == 0 {
		o.Nodes = []int{3, 5}
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	if o.Idle == 0 {
		o.Idle = 15 * time.Second
	}
	if o.Repeat == 0 {
		o.Repeat = 2
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int{1024, 8192}
	}
	if len(o.Senders) == 0 {
		o.Senders = []bool{false, true}
	}
	if len(o.Security) == 0 {
		o.Security = []bool{false, true}
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("atb%04x", os.Getpid()&0xffff)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Row is one configuration: a ring size, a message size, every node or
// one sending, with or without packet protection.
type Row struct {
	Nodes     int
	Size      int
	OneSender bool
	Crypto    bool

	// Atoll through the client API, the benchmark of record: one `atoll
	// agent` process and one clientload process per node.
	APIMax      []atollbench.Summary // full load, one per repeat
	API1k       atollbench.Summary   // 1,000 msgs/s in total
	APIHalf     atollbench.Summary   // 50% of the API's best full-load rate
	APIHalfRate float64
	APIIdleCPU  float64 // percent of a core per agent (mean), no clients
	APIIdleRing IdleRing
	// What the ring did during each API phase (watchRing): APIMaxRing one
	// per repeat, as APIMax.
	APIMaxRing             []RingWindow
	API1kRing, APIHalfRing RingWindow

	// Atoll's in-process load generator (`atoll bench node`) and Corosync
	// with its cpgload clients.
	AtollMax, CorosyncMax []atollbench.Summary // full load, one per repeat
	Atoll1k, Corosync1k   atollbench.Summary   // 1,000 msgs/s in total
	AtollHalf             atollbench.Summary   // 50% of Atoll's best full-load rate
	AtollHalfRate         float64
	AtollIdle             atollbench.Summary
	CorosyncIdleCPU       float64 // percent of a core per daemon (mean)

	// UDP datagrams the namespaces' kernels dropped during each system's
	// load phases (Testbed.UDPDrops).
	APIKernelDrops, AtollKernelDrops, CorosyncKernelDrops uint64
}

// UDPRow is the raw multicast ceiling of one ring size and datagram size,
// sent two ways: one datagram per send (sendmmsg and recvmmsg, as every
// run before 2026-12-07 measured it), and through the ring's transport
// (UDPConfig.Ring), which joins the datagrams into UDP GSO sends and takes
// them in GRO receives where the kernel allows, as the ring sends.
type UDPRow struct {
	Nodes, Size int
	SentPerSec  float64 // one datagram per send: datagrams the sender got out
	RecvPerSec  float64 // one datagram per send: datagrams per second at the slowest receiver
	GSO         UDPWay  // through the ring's transport
	// NoGSO says why the row has no GSO figures: a datagram larger than
	// a packet (UDP GSO cuts a send into datagrams, not IP fragments).
	NoGSO string
}

// UDPWay is one way of sending of a UDPRow.
type UDPWay struct {
	SendMode   string  // UDPResult.Mode of the sender
	RecvMode   string  // the receivers' UDPResult.Modes, each once
	SentPerSec float64 // datagrams the sender got out
	RecvPerSec float64 // datagrams per second at the slowest receiver
}

// FailoverRow is the time from kill -9 of one node until the survivors
// installed the configuration without it.
type FailoverRow struct {
	System   string
	Nodes    int
	Settings string
	PerNode  []time.Duration // per survivor
}

// Max is the slowest survivor's time.
func (f FailoverRow) Max() time.Duration { return slices.Max(f.PerNode) }

// Report is the outcome of Run.
type Report struct {
	Options  Options
	Host     Host
	Rows     []Row
	UDP      []UDPRow
	Failover []FailoverRow
	Started  time.Time
	Elapsed  time.Duration
	LoadEnd  string

	runs int // CPG runs so far, for group names
}

// Run sets up the testbed for each ring size and measures, in this order:
// raw UDP multicast; for plain and encrypted: Corosync at full load
// (Repeat times), at 1,000 msgs/s, idle; Atoll idle, at full load (Repeat
// times), at 1,000 msgs/s, at half its best full load; then failover.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.setDefaults()
	r := &Report{Options: o, Host: hostInfo(), Started: time.Now()}
	for _, n := range o.Nodes {
		if err := r.runSize(ctx, n); err != nil {
			return r, err
		}
	}
	r.Elapsed = time.Since(r.Started)
	r.LoadEnd = schedprobe.LoadAvg()
	return r, nil
}

func (r *Report) logf(format string, a ...any) {
	fmt.Fprintf(r.Options.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func (r *Report) runSize(ctx context.Context, n int) error {
	o := r.Options
	r.logf("testbed: %d namespaces %s-n1... on a bridge in %s-hub", n, o.Prefix, o.Prefix)
	tb, err := NewTestbed(n, o.Prefix)
	if err != nil {
		return err
	}
	defer tb.Close()
	dir := filepath.Join(o.Work, fmt.Sprintf("n%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if o.Raw {
		for _, size := range []int{1024, 8192} {
			row, err := r.rawRow(ctx, tb, size)
			if err != nil {
				return err
			}
			r.UDP = append(r.UDP, row)
		}
	}
	for _, size := range o.Sizes {
		for _, one := range o.Senders {
			for _, crypto := range o.Security {
				row := Row{Nodes: n, Size: size, OneSender: one, Crypto: crypto}
				if err := r.runRow(ctx, tb, dir, &row); err != nil {
					return err
				}
				r.Rows = append(r.Rows, row)
			}
		}
	}
	if o.Failover {
		f, err := r.atollFailover(ctx, tb, dir)
		if err != nil {
			return err
		}
		r.Failover = append(r.Failover, f)
		tokens := []time.Duration{300 * time.Millisecond}
		if n == o.Nodes[0] {
			tokens = append(tokens, 0) // Corosync's defaults: once, they take seconds
		}
		for _, tok := range tokens {
			f, err := r.corosyncFailover(ctx, tb, dir, tok)
			if err != nil {
				return err
			}
			r.Failover = append(r.Failover, f)
		}
	}
	return nil
}

// runRow measures one configuration: Corosync, Atoll in process, Atoll
// through the client API.
func (r *Report) runRow(ctx context.Context, tb *Testbed, dir string, row *Row) error {
	sub := filepath.Join(dir, fmt.Sprintf("%s-%d-%s", map[bool]string{false: "plain", true: "crypto"}[row.Crypto], row.Size, senders(row.OneSender)))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	r.logf("row: %d nodes, %d-byte messages, %s sending, %s", row.Nodes, row.Size, senders(row.OneSender), security(row.Crypto))
	phases := []struct {
		run   func(context.Context, *Testbed, string, *Row) error
		drops *uint64
	}{{r.corosyncPhases, &row.CorosyncKernelDrops}, {r.atollPhases, &row.AtollKernelDrops}, {r.apiPhases, &row.APIKernelDrops}}
	for _, p := range phases {
		d0, err := tb.UDPDrops()
		if err != nil {
			return err
		}
		if err := p.run(ctx, tb, sub, row); err != nil {
			return err
		}
		d1, err := tb.UDPDrops()
		if err != nil {
			return err
		}
		*p.drops = d1 - d0
	}
	return nil
}

// senders names the load shape.
func senders(one bool) string {
	if one {
		return "one"
	}
	return "all"
}

// sendersOf is the number of sending nodes of row.
func sendersOf(row *Row) int {
	if row.OneSender {
		return 1
	}
	return row.Nodes
}

// corosyncPhases measures Corosync with the row's crypto setting.
func (r *Report) corosyncPhases(ctx context.Context, tb *Testbed, dir string, row *Row) error {
	o := r.Options
	// Corosync as shipped: its default token timeout keeps it from
	// reforming the ring when a busy machine delays it by a few hundred
	// milliseconds; the token of 300 ms is for the failover comparison.
	co := CorosyncOptions{Crypto: row.Crypto}
	r.logf("corosync: %d nodes, %s", row.Nodes, co)
	co.Normal = o.Normal
	c, err := StartCorosync(tb, filepath.Join(dir, "corosync"), co)
	if err != nil {
		return err
	}
	defer c.Stop()
	load := CPGLoad{Sched: r.schedClient, Bin: o.CPGLoadBin, Send: true, OneSender: row.OneSender, Size: row.Size, Warmup: o.Warmup, Duration: o.Duration,
		Settle: 300 * time.Millisecond, Drain: time.Second, SamplesDir: dir}
	for k := range o.Repeat {
		s, err := r.cpgRun(ctx, c, load)
		if err != nil {
			return err
		}
		r.logf("corosync: full load #%d: %.0f msgs/s, p50 %v, p99 %v", k+1, s.MsgsPerSec, s.P50, s.P99)
		row.CorosyncMax = append(row.CorosyncMax, s)
	}
	load.RatePerNode = 1000 / float64(sendersOf(row))
	if row.Corosync1k, err = r.cpgRun(ctx, c, load); err != nil {
		return err
	}
	r.logf("corosync: 1,000 msgs/s: p50 %v, p99 %v", row.Corosync1k.P50, row.Corosync1k.P99)
	row.CorosyncIdleCPU, err = idleCPU(c.Pids, o.Idle)
	r.logf("corosync: idle: %.2f%% CPU per daemon", row.CorosyncIdleCPU)
	return err
}

func (r *Report) cpgRun(ctx context.Context, c *Corosync, load CPGLoad) (atollbench.Summary, error) {
	r.runs++
	load.Group = fmt.Sprintf("atoll-bench-%d", r.runs)
	rs, _, err := runClients(ctx, len(c.Pids), "cpgload", func(i int) []string { return load.argv(c, i) }, c.Log)
	if err != nil {
		return atollbench.Summary{}, err
	}
	return atollbench.Summarize(rs)
}

// idleSettle is how long the idle phases wait after the last load
// before measuring: the processes finish that load's work (the clients'
// departures, the last deliveries, the collector returning the heap to
// the kernel), so that the window measures a ring with nothing to do,
// whatever load came before it (Corosync's idle follows its run at 1,000
// msgs/s, Atoll's API idle the run at half of its maximum).
const idleSettle = 2 * time.Second

// idleCPU returns the mean CPU use of pids over d, after idleSettle, in
// percent of a core.
func idleCPU(pids []int, d time.Duration) (float64, error) {
	time.Sleep(idleSettle)
	each, err := agentsCPU(pids, d)
	if err != nil {
		return 0, err
	}
	return mean(each), nil
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(max(len(xs), 1))
}

// atollSpecs returns one NodeSpec per namespace.
func (r *Report) atollSpecs(tb *Testbed, dir string, crypto bool, size int, oneSender bool) ([]atollbench.NodeSpec, error) {
	o := r.Options
	nodes := make([]atollbench.NodeAddr, len(tb.NS))
	for i, a := range tb.Addrs {
		nodes[i] = atollbench.NodeAddr{ID: fmt.Sprintf("n%d", i+1), Addr: netip.AddrPortFrom(a, 5405).String()}
	}
	security, keyFile := "none", ""
	if crypto {
		security, keyFile = "encrypt", filepath.Join(dir, "atoll.key")
		if err := seal.WriteKeyFile(keyFile, seal.GenerateKey(), true); err != nil {
			return nil, err
		}
	}
	group := "239.192.77.1:5405"
	if o.AtollUnicast {
		group = ""
	}
	specs := make([]atollbench.NodeSpec, len(nodes))
	for i := range specs {
		specs[i] = atollbench.NodeSpec{
			ID: nodes[i].ID, Nodes: nodes, Group: group,
			Security: security, KeyFile: keyFile, Size: size, Send: !oneSender || i == 0,
			Warmup: o.Warmup, Duration: o.Duration,
			SamplesFile: filepath.Join(dir, fmt.Sprintf("atoll-n%d.lat", i+1)),
		}
	}
	return specs, nil
}

func (r *Report) atollRun(ctx context.Context, tb *Testbed, specs []atollbench.NodeSpec) (atollbench.Summary, error) {
	rs, err := atollbench.RunProcs(ctx, specs, func(i int) []string {
		return tb.Cmd(i, r.sched(r.Options.AtollBin, "bench", "node")...)
	}, quiet{r.Options.Log})
	if err != nil {
		return atollbench.Summary{}, err
	}
	return atollbench.Summarize(rs)
}

// atollPhases measures Atoll with the row's security setting.
func (r *Report) atollPhases(ctx context.Context, tb *Testbed, dir string, row *Row) error {
	o := r.Options
	mode := map[bool]string{false: "none", true: "encrypt (AES-256-GCM)"}[row.Crypto]
	r.logf("atoll: %d nodes, %s, security %s", row.Nodes, r.atollTransport(), mode)
	specs, err := r.atollSpecs(tb, dir, row.Crypto, row.Size, row.OneSender)
	if err != nil {
		return err
	}
	with := func(f func(s *atollbench.NodeSpec)) []atollbench.NodeSpec {
		out := slices.Clone(specs)
		for i := range out {
			f(&out[i])
		}
		return out
	}

	idle := with(func(s *atollbench.NodeSpec) { s.Send, s.Warmup, s.Duration = false, time.Second, o.Idle })
	if row.AtollIdle, err = r.atollRun(ctx, tb, idle); err != nil {
		return err
	}
	r.logf("atoll: idle: %.2f%% CPU per node", row.AtollIdle.CPUPercent)
	best := 0.0
	for k := range o.Repeat {
		s, err := r.atollRun(ctx, tb, specs)
		if err != nil {
			return err
		}
		r.logf("atoll: full load #%d: %.0f msgs/s, p50 %v, p99 %v, %d retransmits", k+1, s.MsgsPerSec, s.P50, s.P99, s.Retransmits)
		row.AtollMax = append(row.AtollMax, s)
		best = max(best, s.MsgsPerSec)
	}
	perNode := func(total float64) []atollbench.NodeSpec {
		return with(func(s *atollbench.NodeSpec) { s.Rate = total / float64(sendersOf(row)) })
	}
	if row.Atoll1k, err = r.atollRun(ctx, tb, perNode(1000)); err != nil {
		return err
	}
	r.logf("atoll: 1,000 msgs/s: p50 %v, p99 %v", row.Atoll1k.P50, row.Atoll1k.P99)
	row.AtollHalfRate = best / 2
	if row.AtollHalf, err = r.atollRun(ctx, tb, perNode(row.AtollHalfRate)); err != nil {
		return err
	}
	r.logf("atoll: %.0f msgs/s (half of its best): p50 %v, p99 %v", row.AtollHalfRate, row.AtollHalf.P50, row.AtollHalf.P99)
	return nil
}

// apiPhases measures Atoll through the client API: an `atoll agent`
// process and a clientload process per namespace, at full load (Repeat
// times), at 1,000 msgs/s, at half the API's best full load, then the
// agents idle without clients.
func (r *Report) apiPhases(ctx context.Context, tb *Testbed, dir string, row *Row) error {
	o := r.Options
	r.logf("atoll api: %d nodes, %s, %s, clientload over the client socket", row.Nodes, r.atollTransport(), security(row.Crypto))
	ag, err := StartAgents(tb, filepath.Join(dir, "agents"), AgentOptions{Bin: o.AtollBin, Crypto: row.Crypto, Unicast: o.AtollUnicast, Sched: r.sched})
	if err != nil {
		return err
	}
	defer ag.Stop()
	// Atoll's load clients at their agents' priority (docs/OPERATIONS.md,
	// "Scheduling the agent and its clients"): one below, the agents
	// outran them.
	load := ClientLoad{Sched: r.sched, Bin: o.ClientLoadBin, OneSender: row.OneSender, Size: row.Size,
		Settle: 300 * time.Millisecond, Warmup: o.Warmup, Duration: o.Duration, Drain: time.Second, SamplesDir: dir}
	best := 0.0
	for k := range o.Repeat {
		s, ring, err := r.clientRun(ctx, ag, load)
		if err != nil {
			return err
		}
		r.logf("atoll api: full load #%d: %.0f msgs/s, p50 %v, p99 %v; %s", k+1, s.MsgsPerSec, s.P50, s.P99, ring.StallString())
		row.APIMax, row.APIMaxRing = append(row.APIMax, s), append(row.APIMaxRing, ring)
		best = max(best, s.MsgsPerSec)
	}
	load.RatePerNode = 1000 / float64(sendersOf(row))
	if row.API1k, row.API1kRing, err = r.clientRun(ctx, ag, load); err != nil {
		return err
	}
	r.logf("atoll api: 1,000 msgs/s: p50 %v, p99 %v; %s", row.API1k.P50, row.API1k.P99, row.API1kRing.StallString())
	row.APIHalfRate = best / 2
	load.RatePerNode = row.APIHalfRate / float64(sendersOf(row))
	if row.APIHalf, row.APIHalfRing, err = r.clientRun(ctx, ag, load); err != nil {
		return err
	}
	r.logf("atoll api: %.0f msgs/s (half of its best): p50 %v, p99 %v; %s", row.APIHalfRate, row.APIHalf.P50, row.APIHalf.P99, row.APIHalfRing.StallString())
	time.Sleep(idleSettle)
	each, ring, err := agentsIdle(ctx, ag, o.Idle)
	if err != nil {
		return err
	}
	row.APIIdleCPU, row.APIIdleRing = mean(each), ring
	r.logf("atoll api: idle: %.2f%% CPU per agent (%s)", row.APIIdleCPU, ring)
	return nil
}

// clientRun runs load, and returns its summary and what the ring did
// during its window (watchRing).
func (r *Report) clientRun(ctx context.Context, ag *Agents, load ClientLoad) (atollbench.Summary, RingWindow, error) {
	r.runs++
	load.Group = fmt.Sprintf("atoll-bench-%d", r.runs)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ringc := make(chan RingWindow, 1)
	go func() {
		w, err := watchRing(wctx, ag, load)
		if err != nil && wctx.Err() == nil {
			r.logf("atoll api: the agents' status during the window: %v", err)
		}
		ringc <- w
	}()
	rs, stderrs, err := runClients(ctx, len(ag.Pids), "clientload", func(i int) []string { return load.argv(ag, i) }, ag.Log)
	if err != nil {
		return atollbench.Summary{}, RingWindow{}, err
	}
	ring := <-ringc
	for i, res := range rs {
		if res.ConfChanges > 0 {
			r.logf("atoll api: n%d: %s\nthe end of its agent's log:\n%s", i+1, stderrs[i], ag.Log(i))
		}
	}
	s, err := atollbench.Summarize(rs)
	return s, ring, err
}

// failoverLoad is the light load during failover runs, in msgs/s per node.
const failoverLoad = 100

// atollFailover kills the last node with SIGKILL under light load and
// measures when each survivor installs the ring without it.
func (r *Report) atollFailover(ctx context.Context, tb *Testbed, dir string) (FailoverRow, error) {
	n := len(tb.NS)
	o := r.Options
	row := FailoverRow{System: "Atoll", Nodes: n, Settings: "LAN preset: token 200ms, consensus 240ms"}
	r.logf("failover: atoll, %d nodes", n)
	specs, err := r.atollSpecs(tb, dir, false, o.Sizes[0], false)
	if err != nil {
		return row, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	procs := make([]*atollbench.Proc, n)
	for i := range specs {
		specs[i].Rate, specs[i].Duration, specs[i].SamplesFile = failoverLoad, 30*time.Second, ""
		in, err := json.Marshal(specs[i])
		if err != nil {
			return row, err
		}
		if procs[i], err = atollbench.StartProc(ctx, specs[i].ID, tb.Cmd(i, r.sched(r.Options.AtollBin, "bench", "node")...), in); err != nil {
			return row, err
		}
	}
	defer stopProcs(procs)
	row.PerNode, err = killAndWatch(procs, n, func() error { return procs[n-1].Cmd.Process.Signal(syscall.SIGKILL) })
	if err == nil {
		r.logf("failover: atoll: %v", row.PerNode)
	}
	return row, err
}

// corosyncFailover does the same with Corosync, token as given (0: its
// defaults), seen through CPG configuration changes.
func (r *Report) corosyncFailover(ctx context.Context, tb *Testbed, dir string, token time.Duration) (FailoverRow, error) {
	n := len(tb.NS)
	co := CorosyncOptions{Token: token, Normal: r.Options.Normal}
	row := FailoverRow{System: "Corosync", Nodes: n, Settings: co.String()}
	r.logf("failover: corosync, %d nodes, %s", n, co)
	c, err := StartCorosync(tb, filepath.Join(dir, fmt.Sprintf("failover-corosync-%d", token.Milliseconds())), co)
	if err != nil {
		return row, err
	}
	defer c.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	load := CPGLoad{Sched: r.schedClient, Bin: r.Options.CPGLoadBin, Send: true, RatePerNode: failoverLoad, Size: r.Options.Sizes[0],
		Settle: 300 * time.Millisecond, Warmup: time.Second, Duration: 60 * time.Second, Drain: time.Second,
		Group: "atoll-bench-failover"}
	procs := make([]*atollbench.Proc, n)
	for i := range procs {
		if procs[i], err = atollbench.StartProc(ctx, fmt.Sprintf("cpgload n%d", i+1), load.argv(c, i), nil); err != nil {
			return row, err
		}
	}
	defer stopProcs(procs)
	row.PerNode, err = killAndWatch(procs, n, func() error { return c.Kill(n - 1) })
	if err == nil {
		r.logf("failover: corosync: %v", row.PerNode)
	}
	return row, err
}

// killAndWatch waits until every process reports "ready", waits 2 s,
// kills the last node with kill, and returns how long each survivor took
// to install a configuration of n-1 members.
func killAndWatch(procs []*atollbench.Proc, n int, kill func() error) ([]time.Duration, error) {
	timeout := time.After(60 * time.Second)
	for i, p := range procs {
		if err := waitEvent(p, timeout, func(e atollbench.NodeEvent) bool { return e.Type == "ready" }); err != nil {
			return nil, fmt.Errorf("failover: node %d never saw the full ring: %w", i+1, err)
		}
	}
	time.Sleep(2 * time.Second)
	killed := atollbench.MonoNow()
	if err := kill(); err != nil {
		return nil, fmt.Errorf("failover: kill: %w", err)
	}
	var out []time.Duration
	for i, p := range procs[:n-1] {
		var at int64
		err := waitEvent(p, timeout, func(e atollbench.NodeEvent) bool {
			at = e.MonoNs
			return e.Type == "install" && e.Members == n-1 && e.MonoNs > killed
		})
		if err != nil {
			return nil, fmt.Errorf("failover: node %d did not install a ring without the killed node: %w", i+1, err)
		}
		out = append(out, time.Duration(at-killed))
	}
	return out, nil
}

func waitEvent(p *atollbench.Proc, timeout <-chan time.Time, match func(atollbench.NodeEvent) bool) error {
	for {
		select {
		case e, ok := <-p.Events:
			if !ok {
				_, err := p.Wait()
				return fmt.Errorf("%s ended: %v", p.Name, err)
			}
			if match(e) {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("%s: timed out; its stderr: %s", p.Name, strings.TrimSpace(p.Stderr()))
		}
	}
}

func stopProcs(procs []*atollbench.Proc) {
	for _, p := range procs {
		if p != nil {
			_ = p.Cmd.Process.Kill()
		}
	}
	for _, p := range procs {
		if p != nil {
			_, _ = p.Wait()
		}
	}
}

// sched returns argv under the run's scheduling policy.
func (r *Report) sched(argv ...string) []string { return r.schedAt(99, argv...) }

// schedClient is sched for Corosync's load client, one step below the
// daemon: at the same priority Corosync's throughput collapsed (3,981 and
// 761 msgs/s in a smoke run; docs/BENCHMARKS.md, "What runs"). Atoll's
// load clients run at their agents' priority (sched).
func (r *Report) schedClient(argv ...string) []string { return r.schedAt(98, argv...) }

func (r *Report) schedAt(prio int, argv ...string) []string {
	if r.Options.Normal {
		return argv
	}
	return append([]string{"chrt", "--rr", strconv.Itoa(prio)}, argv...)
}

// schedString describes the scheduling policy for the report.
func (r *Report) schedString() string {
	if r.Options.Normal {
		return "every process at normal priority (corosync with sched_rr: no)"
	}
	return "SCHED_RR, as corosync runs by default: corosync, the atoll nodes, Atoll's clientloads and the raw UDP programs at priority 99, the cpgload clients at 98 (at corosync's priority its throughput collapses)"
}

func (r *Report) atollTransport() string {
	if r.Options.AtollUnicast {
		return "UDP unicast"
	}
	return "UDP multicast"
}

// quiet drops the agents' warning that packet protection is off, which
// every plain run would repeat once per node.
type quiet struct{ w io.Writer }

func (q quiet) Write(p []byte) (int, error) {
	var keep []string
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l != "" && !strings.Contains(l, "PACKET SECURITY IS OFF") && strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > 0 {
		if _, err := io.WriteString(q.w, strings.Join(keep, "")); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
