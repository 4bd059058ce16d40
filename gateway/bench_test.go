package gateway_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/localring"
)

// BenchmarkFederation runs the federation ring of three sites — one
// gateway Runner each, over QUIC, through a wanem mesh with the same RTT
// between every two sites, a bandwidth cap per direction (benchCap) and
// random loss each way — and prints one table row per RTT (10 ms, 200 ms)
// and loss (0 %, 1 %):
//
//   - paced: every site submits 20 Agreed messages of 1000 bytes per
//     second for 10 s, and site a keeps one more message waiting at all
//     times (a probe, submitted as its token visit sent the last);
//     rotation is the median time between two of a's sends (one token
//     visit each), p50/p99 the Agreed latency of the paced messages from
//     submission to delivery at the last of the three sites, set against
//     the plan's prediction for the same topology
//     (topology.PredictAgreedLatency: Rotation, Mean, Max), and probe
//     p50 the probes' median, which waited a whole rotation each (the
//     prediction's Max, not its Mean: see probeKey);
//   - saturated: every site keeps its ring's send queue full for 10 s;
//     msgs/s are delivered at all three sites in seconds 3–10, Mbit/s
//     their payload, the ring's throughput, against one link's cap (each
//     direction carries only its sender's share, and a burst queued at a
//     relay drains while the token moves on, so the ring can carry more
//     than one link's cap), "link Mbit" the busiest emulated direction's
//     delivered bytes (packets with their headers), and CPU (cores)
//     and RSS those of the whole process (three gateways, six relays and
//     this bookkeeping) over that window.
//
// reconfigs counts configurations installed after the first, over both
// phases. A second table gives each gateway's own cost at full load (10
// ms RTT without loss, 200 ms at 1 %): the world again, each gateway a
// process of its own (runFedProcs), saturated as above, with its CPU
// (cores over 7 s after 3 s of warm-up), its peak RSS (VmHWM: over its
// whole run) and its RSS at the end, against issue 8's 128 MiB and one
// core. Run it with
//
//	go test -run '^$' -bench Federation -benchtime 1x ./gateway
//
// The topology declares the links' bandwidth (the cap), so the default
// mode is transport.ModeUDP (ring packets outside QUIC, paced at it;
// transport.DomainMode). ATOLL_BENCH_FED_MODE=streams, =datagrams or
// =udp runs the gateways' transports in that mode instead.
func BenchmarkFederation(b *testing.B) {
	type row struct {
		rtt  time.Duration
		loss float64
		res  fedResult
	}
	var rows []row
	type procRow struct {
		rtt  time.Duration
		loss float64
		res  []procResult
	}
	var procRows []procRow
	for range b.N {
		for _, rtt := range []time.Duration{10 * time.Millisecond, 200 * time.Millisecond} {
			for _, loss := range []float64{0, 0.01} {
				rows = append(rows, row{rtt, loss, runFed(b, rtt, loss)})
			}
		}
		for _, r := range []struct {
			rtt  time.Duration
			loss float64
		}{{10 * time.Millisecond, 0}, {200 * time.Millisecond, 0.01}} {
			procRows = append(procRows, procRow{r.rtt, r.loss, runFedProcs(b, r.rtt, r.loss)})
		}
	}
	var t strings.Builder
	mode := os.Getenv("ATOLL_BENCH_FED_MODE")
	if mode == "" {
		mode = "default"
	}
	fmt.Fprintf(&t, "\nfederation ring, 3 sites, cap %d Mbit/s per direction, 1000-byte Agreed messages, mode %s\n", benchCap/1_000_000, mode)
	fmt.Fprintf(&t, "%-6s %-5s | %-8s %-8s %-8s %-9s %-8s %-8s %-9s | %-7s %-7s %-6s %-9s %-6s %-5s %-7s | %s\n",
		"RTT", "loss", "rot ms", "pred rot", "p50 ms", "pred mean", "p99 ms", "pred max", "probe p50",
		"msgs/s", "Mbit/s", "% cap", "link Mbit", "% cap", "CPU", "RSS MiB", "reconfigs")
	for _, r := range rows {
		x := r.res
		ringMbps := x.msgsPerSec * benchMsg * 8 / 1e6
		fmt.Fprintf(&t, "%-6v %-5s | %-8.1f %-8.1f %-8.1f %-9.1f %-8.1f %-8.1f %-9.1f | %-7.0f %-7.2f %-6.1f %-9.2f %-6.1f %-5.2f %-7.0f | %d\n",
			r.rtt, strconv.FormatFloat(100*r.loss, 'g', -1, 64)+"%", x.rotation, x.predRot, x.p50, x.predMean, x.p99, x.predMax, x.probe50,
			x.msgsPerSec, ringMbps, 100*ringMbps*1e6/float64(benchCap), x.linkMbps, 100*x.linkMbps*1e6/float64(benchCap), x.cpu, x.rssMiB, x.reconfigs)
	}
	fmt.Fprintf(&t, "\neach gateway a process of its own, saturated (target: under %d MiB and one core)\n", gatewayRSSTarget)
	fmt.Fprintf(&t, "%-6s %-5s | %-4s %-7s %-6s %-11s %-7s\n", "RTT", "loss", "node", "msgs/s", "CPU", "VmHWM MiB", "RSS MiB")
	for _, r := range procRows {
		for _, x := range r.res {
			fmt.Fprintf(&t, "%-6v %-5s | %-4s %-7.0f %-6.2f %-11.1f %-7.1f\n", r.rtt, strconv.FormatFloat(100*r.loss, 'g', -1, 64)+"%",
				x.node, x.msgsPerSec, x.cpu, x.hwmMiB, x.rssMiB)
		}
	}
	fmt.Print(t.String())
}

// gatewayRSSTarget is issue 8's bound on a gateway's memory at full
// federation load, MiB.
const gatewayRSSTarget = 128

// benchCap is the emulated links' bandwidth cap, bits per second.
const benchCap = 20_000_000

const benchMsg = 1000

// probeKey marks the key of a probe: the message site a submits whenever
// it has none waiting, in the pass right after its token visit sent the
// last one, so that it sends at every visit (the rotation). A probe waits
// a whole rotation for the token, where a paced message, submitted at an
// instant unrelated to the token, waits half of one on average: the
// probes' latency is the planner's Max, not its Mean, and they are left
// out of p50 and p99. At 10 ms RTT a rotates about 60 times a second,
// and the probes were half the messages measured (median 21.4 ms against
// the paced messages' 13).
const probeKey = 1 << 63

type fedResult struct {
	rotation, predRot, p50, predMean, p99, predMax float64 // ms
	probe50                                        float64 // ms, the median of a's probes
	msgsPerSec, linkMbps, cpu, rssMiB              float64
	reconfigs                                      int
}

// fedTrack records submissions and deliveries at every site.
type fedTrack struct {
	mu       sync.Mutex
	base     time.Time
	sub      map[uint64]time.Duration
	seen     map[uint64]int
	last     map[uint64]time.Duration
	installs int
	sends    []time.Duration // site a's sends
}

func runFed(b *testing.B, rtt time.Duration, loss float64) fedResult {
	debug.FreeOSMemory() // RSS: this run's, not what earlier runs left
	w := newWorld(b, rtt, rtt, fmt.Sprintf("%dMbit/s", benchCap/1_000_000), benchCap, loss)
	tr := &fedTrack{base: time.Now(), sub: map[uint64]time.Duration{}, seen: map[uint64]int{}, last: map[uint64]time.Duration{}}
	var mode atomic.Int32 // 0 off, 1 paced, 2 saturated
	ms := make([]*member, 3)
	for i, node := range []string{"a-1", "b-1", "c-1"} {
		idx := uint64(i)
		var seq uint64
		var next time.Time
		probe := i == 0
		submit := func(now time.Time, n *localring.Node, probe bool) bool {
			key := idx<<40 | seq
			if probe {
				key |= probeKey
			}
			p := make([]byte, benchMsg)
			binary.BigEndian.PutUint64(p, key)
			if _, err := n.Submit(now, localring.Agreed, p); err != nil {
				return false
			}
			seq++
			tr.mu.Lock()
			tr.sub[key] = now.Sub(tr.base)
			tr.mu.Unlock()
			return true
		}
		ms[i] = w.start(node, 1, func(c *gateway.Config) {
			c.Transport.IdleTimeout = 15 * time.Second
			switch os.Getenv("ATOLL_BENCH_FED_MODE") {
			case "streams":
				c.Transport.Mode = transport.ModeStreams
			case "datagrams":
				c.Transport.Mode = transport.ModeDatagrams
			case "udp":
				c.Transport.Mode = transport.ModeUDP // paced at the topology's declared bandwidth
			}
			c.Trace = nil // the tests' in-memory traces would be the process's largest user of memory and CPU
			c.Pass = func(now time.Time, n *localring.Node) {
				switch mode.Load() {
				case 1:
					if next.IsZero() {
						next = now
					}
					for ; !next.After(now); next = next.Add(50 * time.Millisecond) {
						submit(now, n, false)
					}
					if probe && n.Pending() == 0 {
						submit(now, n, true)
					}
				case 2:
					for n.Pending() < 2000 && submit(now, n, false) {
					}
				default:
					next = time.Time{}
				}
			}
			c.Deadline = func() time.Time {
				switch mode.Load() {
				case 1:
					if !next.IsZero() {
						return next
					}
				case 2:
					return time.Now().Add(5 * time.Millisecond)
				}
				return time.Now().Add(20 * time.Millisecond)
			}
			c.Events = func(now time.Time, es []localring.Event) {
				at := now.Sub(tr.base)
				tr.mu.Lock()
				defer tr.mu.Unlock()
				for _, e := range es {
					switch e.Kind {
					case localring.EventInstall:
						if e.Conf.Kind == localring.Regular {
							tr.installs++
						}
					case localring.EventSend:
						if probe && mode.Load() == 1 {
							tr.sends = append(tr.sends, at)
						}
					case localring.EventDeliver:
						key := binary.BigEndian.Uint64(e.Msg.Payload)
						tr.seen[key]++
						tr.last[key] = max(tr.last[key], at)
					}
				}
			}
		})
	}
	w.waitRing(60*time.Second, []string{"a", "b", "c"}, ms...)
	tr.mu.Lock()
	first := tr.installs
	tr.mu.Unlock()

	res := fedResult{
		predRot: ms2(w.domain.RingLatency.Rotation.D()), predMean: ms2(w.domain.RingLatency.Mean.D()), predMax: ms2(w.domain.RingLatency.Max.D()),
	}
	// Paced.
	mode.Store(1)
	for _, m := range ms {
		m.r.Wake()
	}
	pacedFrom := time.Since(tr.base)
	time.Sleep(10 * time.Second)
	mode.Store(0)
	time.Sleep(3 * time.Second)
	tr.mu.Lock()
	var lat, probes []float64
	for k, at := range tr.sub {
		if at >= pacedFrom && tr.seen[k] == 3 {
			if k&probeKey != 0 {
				probes = append(probes, ms2(tr.last[k]-at))
			} else {
				lat = append(lat, ms2(tr.last[k]-at))
			}
		}
	}
	var gaps []float64
	for i := 1; i < len(tr.sends); i++ {
		if d := tr.sends[i] - tr.sends[i-1]; d > 0 {
			gaps = append(gaps, ms2(d))
		}
	}
	clear(tr.sub)
	clear(tr.seen)
	clear(tr.last)
	tr.mu.Unlock()
	res.p50, res.p99, res.rotation, res.probe50 = pct(lat, 50), pct(lat, 99), pct(gaps, 50), pct(probes, 50)

	// Saturated.
	mode.Store(2)
	for _, m := range ms {
		m.r.Wake()
	}
	satFrom := time.Since(tr.base)
	time.Sleep(3 * time.Second)
	bytes0 := w.busiest()
	ru0, t0 := rusage(), time.Now()
	time.Sleep(7 * time.Second)
	bytes1, ru1, t1 := w.busiest(), rusage(), time.Now()
	res.rssMiB = rssMiB()
	mode.Store(0)
	time.Sleep(2 * time.Second)
	win := t1.Sub(t0)
	res.cpu = (ru1 - ru0).Seconds() / win.Seconds()
	res.linkMbps = float64(bytes1-bytes0) * 8 / win.Seconds() / 1e6
	tr.mu.Lock()
	n := 0
	for k, at := range tr.last {
		if tr.seen[k] == 3 && at >= satFrom+3*time.Second && at < satFrom+10*time.Second {
			n++
		}
	}
	res.msgsPerSec = float64(n) / 7
	res.reconfigs = (tr.installs - first) / 3
	tr.mu.Unlock()
	for _, m := range ms {
		m.stop()
	}
	return res
}

// busiest returns the delivered bytes of the emulated direction that
// delivered most.
func (w *world) busiest() uint64 {
	var best uint64
	for _, s := range []string{"a", "b", "c"} {
		for _, o := range []string{"a", "b", "c"} {
			if s != o {
				best = max(best, w.mesh.Link(s, o).Stats().DeliveredBytes)
			}
		}
	}
	return best
}

func ms2(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(float64(len(xs))*p/100))]
}

// rusage returns the process's CPU time so far (user + system).
func rusage() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB returns the process's resident set size.
func rssMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// fedProcEnv, when set in the environment, makes TestFedGatewayProcess
// run one gateway of BenchmarkFederation's world as a process of its own
// (runFedProcs): the value is the child's fedProcSpec in JSON.
const fedProcEnv = "ATOLL_BENCH_FED_PROC"

// fedProcSpec is what a gateway process needs to join the world of its
// parent: the world's parameters (the same topology file and plan), the
// certificates, its node and the relay endpoints it dials. Its UDP socket
// is file descriptor 3.
type fedProcSpec struct {
	RTT     time.Duration
	Cap     int64
	Loss    float64
	Certs   string
	DataDir string
	Node    string
	Dial    map[string]string
	Mode    string
}

// procResult is one gateway process's use of the machine at full load.
type procResult struct {
	node           string
	cpu            float64 // cores over the measured window
	hwmMiB, rssMiB float64 // VmHWM at the end (peak over the whole run), VmRSS
	msgsPerSec     float64 // delivered at this gateway in the window
}

// runFedProcs runs the world's three gateways as processes of their own
// (this test binary again, TestFedGatewayProcess), each keeping its ring's
// send queue full, and measures each one's CPU (cores, from
// /proc/PID/stat) over 7 s after 3 s of warm-up, and its peak RSS
// (VmHWM) and RSS at the end: a gateway's own cost at full federation
// load, which the in-process rows cannot divide among the three.
func runFedProcs(b *testing.B, rtt time.Duration, loss float64) []procResult {
	w := newWorld(b, rtt, rtt, fmt.Sprintf("%dMbit/s", benchCap/1_000_000), benchCap, loss)
	nodes := []string{"a-1", "b-1", "c-1"}
	type child struct {
		cmd   *exec.Cmd
		in    io.WriteCloser
		lines chan string
	}
	var cs []*child
	defer func() {
		for _, c := range cs {
			c.in.Close() // the child stops when its stdin closes
			c.cmd.Wait()
		}
	}()
	for _, node := range nodes {
		site := node[:1]
		dial := map[string]string{}
		for _, o := range []string{"a", "b", "c"} {
			if o != site {
				dial[o] = w.mesh.Addr(site, o)
			}
		}
		dataDir := filepath.Join(w.certs, "..", node)
		os.MkdirAll(dataDir, 0o700)
		spec, _ := json.Marshal(fedProcSpec{RTT: rtt, Cap: benchCap, Loss: loss, Certs: w.certs, DataDir: dataDir, Node: node, Dial: dial, Mode: os.Getenv("ATOLL_BENCH_FED_MODE")})
		f, err := w.conns[node].(*net.UDPConn).File()
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^TestFedGatewayProcess$", "-test.v")
		cmd.Env = append(os.Environ(), fedProcEnv+"="+string(spec))
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		c := &child{cmd: cmd, in: in, lines: make(chan string, 16)}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if l, ok := strings.CutPrefix(sc.Text(), "fedproc: "); ok {
					c.lines <- l
				}
			}
			close(c.lines)
		}()
		cs = append(cs, c)
	}
	wait := func(c *child, want string) string {
		select {
		case l, ok := <-c.lines:
			if !ok || !strings.HasPrefix(l, want) {
				b.Fatalf("gateway process %d: %q, want %q", c.cmd.Process.Pid, l, want)
			}
			return l
		case <-time.After(90 * time.Second):
			b.Fatalf("gateway process %d: no %q within 90 s", c.cmd.Process.Pid, want)
		}
		return ""
	}
	for _, c := range cs {
		wait(c, "ring")
	}
	for _, c := range cs {
		fmt.Fprintln(c.in, "saturate")
	}
	time.Sleep(3 * time.Second)
	cpu0 := make([]time.Duration, len(cs))
	for i, c := range cs {
		cpu0[i], _ = bench.ProcCPU(c.cmd.Process.Pid)
		fmt.Fprintln(c.in, "count")
	}
	t0 := time.Now()
	time.Sleep(7 * time.Second)
	res := make([]procResult, len(cs))
	for i, c := range cs {
		cpu1, _ := bench.ProcCPU(c.cmd.Process.Pid)
		el := time.Since(t0)
		hwm, _ := bench.ProcMaxRSS(c.cmd.Process.Pid)
		fmt.Fprintln(c.in, "report")
		var delivered float64
		fmt.Sscanf(wait(c, "delivered"), "delivered %g", &delivered)
		res[i] = procResult{node: nodes[i], cpu: (cpu1 - cpu0[i]).Seconds() / el.Seconds(), hwmMiB: float64(hwm) / 1024,
			rssMiB: procRSSMiB(c.cmd.Process.Pid), msgsPerSec: delivered / el.Seconds()}
	}
	return res
}

// procRSSMiB returns VmRSS of process pid.
func procRSSMiB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// TestFedGatewayProcess is one gateway process of runFedProcs; it skips
// unless fedProcEnv is set. It joins the ring, says "ring", and then
// follows its parent's lines on stdin: "saturate" keeps the ring's send
// queue full, "count" starts counting deliveries, "report" prints their
// number; it returns when stdin closes.
func TestFedGatewayProcess(t *testing.T) {
	env := os.Getenv(fedProcEnv)
	if env == "" {
		t.Skip("a gateway process of BenchmarkFederation (runFedProcs)")
	}
	var spec fedProcSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		t.Fatal(err)
	}
	bw := fmt.Sprintf("%dMbit/s", spec.Cap/1_000_000)
	f, p, d := fedPlan(t, spec.RTT, spec.RTT, bw)
	conn, err := net.FilePacketConn(os.NewFile(3, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	cert, roots, err := gateway.LoadCertificates(spec.Certs, spec.Node)
	if err != nil {
		t.Fatal(err)
	}
	var saturate, counting atomic.Bool
	var delivered atomic.Uint64
	cfg := gateway.Config{
		File: f, Plan: p, Domain: d.Name, Node: spec.Node,
		Local:       localring.RingID{Seq: 1, Rep: localring.NodeID(spec.Node)},
		Certificate: cert, Roots: roots, Conn: conn, Dial: spec.Dial, DataDir: spec.DataDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Pass: func(now time.Time, n *localring.Node) {
			for saturate.Load() && n.Pending() < 2000 {
				if _, err := n.Submit(now, localring.Agreed, make([]byte, benchMsg)); err != nil {
					break
				}
			}
		},
		Deadline: func() time.Time {
			if saturate.Load() {
				return time.Now().Add(5 * time.Millisecond)
			}
			return time.Time{}
		},
		Events: func(_ time.Time, es []localring.Event) {
			if !counting.Load() {
				return
			}
			for _, e := range es {
				if e.Kind == localring.EventDeliver {
					delivered.Add(1)
				}
			}
		},
	}
	cfg.Transport.RedialMin, cfg.Transport.RedialMax = 20*time.Millisecond, 500*time.Millisecond
	cfg.Transport.IdleTimeout = 15 * time.Second
	switch spec.Mode {
	case "streams":
		cfg.Transport.Mode = transport.ModeStreams
	case "datagrams":
		cfg.Transport.Mode = transport.ModeDatagrams
	case "udp":
		cfg.Transport.Mode = transport.ModeUDP
	}
	r, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st := r.Stats(); st.State == "operational" && len(st.Members) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no federation ring of three sites within 60 s: %+v", r.Stats())
		}
	}
	fmt.Println("fedproc: ring")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "saturate":
			saturate.Store(true)
			r.Wake()
		case "count":
			counting.Store(true)
		case "report":
			fmt.Printf("fedproc: delivered %d\n", delivered.Load())
		}
	}
}
