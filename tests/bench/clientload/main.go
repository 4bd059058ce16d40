// Command clientload is Atoll's application-side load client of the
// benchmark (tests/bench/compare.sh), the counterpart of Corosync's
// cpgload (tests/bench/cpgload/cpgload.c): a separate process that talks
// to its node's agent over the client socket with the public client
// package, as an application does.
//
// It joins a group, waits until the group's view has -nodes members (one
// clientload per node), then (with -send) multicasts -size byte Agreed
// messages at -rate messages per second, or as fast as the agent takes
// them (-rate 0, MulticastWait in a loop), for -warmup plus -duration, and
// keeps receiving for -drain. It receives with Client.Receive in its main
// goroutine (client.WithReceive; -receive=false: from Client.Events).
// Every message starts with the benchmark header (bench/payload.go)
// holding its CLOCK_MONOTONIC time taken just before the Multicast call, so the latency of every delivery, its own and
// the others' messages, is measured from Multicast to delivery to the
// application, including any wait for room.
//
// It runs Go code on one thread (-procs 1, the default; GOMAXPROCS in the
// environment is kept unless -procs is given), as cpgload is one thread
// (chooseProcs says why).
//
// Output: JSON lines on stdout, as `atoll bench node` and cpgload write
// them: "install" for every view of the group, "ready" when it is
// complete, and one "result" (bench.NodeResult) with the deliveries in the
// window, their latency percentiles, and the CPU time of this process and
// of the agent (-agent-pid) over the window.
//
//	clientload -agent /var/lib/atoll/client.sock -nodes 3 -send -rate 0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/stagetrace"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	agent, group, node, name, samples string
	cpuProfile                        string
	nodes, index, size                int
	agentPid, eventBuffer             int
	procs                             int // threads for Go code (GOMAXPROCS); 0: the runtime's default
	procsSet                          bool
	send, receive, reuse              bool
	rate                              float64

	settle, warmup, duration, drain, formTimeout time.Duration
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("clientload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.agent, "agent", "", "the agent's client socket (unix:///path, or a path); required")
	fs.StringVar(&c.group, "group", "atoll-bench", "the group to join and multicast to")
	fs.StringVar(&c.node, "node", "?", "this node's name, for the output")
	fs.StringVar(&c.name, "name", "clientload", "the client's name at its agent (unique per agent)")
	fs.StringVar(&c.samples, "samples", "", "write the latency of every delivery in the window to this file (bench.ReadSamples)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (runtime/pprof) to this file")
	fs.IntVar(&c.nodes, "nodes", 1, "members the group must have before the load starts (one clientload per node)")
	fs.IntVar(&c.index, "index", 0, "this sender's index in the payload header")
	fs.IntVar(&c.size, "size", 1024, "message size in bytes")
	fs.IntVar(&c.agentPid, "agent-pid", 0, "the agent's pid, to report its CPU time with this process's (0: not reported)")
	fs.IntVar(&c.eventBuffer, "event-buffer", 0, "the client's event buffer in events (0: the client package's default)")
	fs.IntVar(&c.procs, "procs", 1, "threads that run this process's Go code at once (GOMAXPROCS); 0: the Go runtime's default (the CPUs it may use). GOMAXPROCS in the environment is kept unless -procs is given")
	fs.BoolVar(&c.send, "send", false, "send (otherwise only receive)")
	fs.BoolVar(&c.receive, "receive", true, "receive with Client.Receive in the calling goroutine (client.WithReceive); false: from Client.Events")
	fs.BoolVar(&c.reuse, "reuse", true, "with -receive, receive each message in the one Message Receive reuses (client.WithMessageReuse): the load reads a delivery's header and keeps nothing of it")
	fs.Float64Var(&c.rate, "rate", 0, "messages per second this client offers; 0: as fast as MulticastWait returns")
	fs.DurationVar(&c.settle, "settle", 300*time.Millisecond, "wait after the group is complete before sending")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "sent but not measured")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measurement window")
	fs.DurationVar(&c.drain, "drain", time.Second, "keep receiving this long after the window")
	fs.DurationVar(&c.formTimeout, "form-timeout", 30*time.Second, "give up if the agent is not reachable or the group not complete by then")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { c.procsSet = c.procsSet || f.Name == "procs" })
	var errs []error
	if c.procs < 0 {
		errs = append(errs, fmt.Errorf("-procs %d: want 0 (the Go runtime's default) or the number of threads", c.procs))
	}
	if c.agent == "" {
		errs = append(errs, errors.New("-agent is required (the agent's client socket, DATA_DIR/client.sock)"))
	}
	if c.nodes < 1 {
		errs = append(errs, fmt.Errorf("-nodes %d: want at least 1", c.nodes))
	}
	if c.size < atollbench.PayloadHeaderLen {
		errs = append(errs, fmt.Errorf("-size %d: want at least %d bytes (the benchmark header)", c.size, atollbench.PayloadHeaderLen))
	}
	if c.rate < 0 {
		errs = append(errs, fmt.Errorf("-rate %v: must not be negative (0 means as fast as possible)", c.rate))
	}
	if c.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration %v: must be positive", c.duration))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("clientload: %w", err)
	}
	return c, nil
}

// load is one run: the reader (the calling goroutine) and the sender.
type load struct {
	c    config
	cl   *client.Client
	rec  *atollbench.Recorder // the phases and the measurement; the reader's
	sent chan uint64          // the sender's count when it ends
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if n := chooseProcs(c.procs, c.procsSet, os.Getenv("GOMAXPROCS")); n > 0 {
		setProcs(n)
	}
	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("clientload %s: %w", c.node, err)
		}
		defer stop()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := []client.Option{client.WithName(c.name)}
	if c.eventBuffer > 0 {
		opts = append(opts, client.WithEventBuffer(c.eventBuffer))
	}
	if c.receive {
		opts = append(opts, client.WithReceive())
		if c.reuse {
			opts = append(opts, client.WithMessageReuse())
		}
	}
	var cl *client.Client
	deadline := time.Now().Add(c.formTimeout)
	for {
		if cl, err = client.Dial(ctx, c.agent, opts...); err == nil {
			break
		}
		// Only an agent not reachable yet is worth waiting for; one that
		// answered with a goodbye refuses the session for a reason that
		// retrying does not change.
		if client.CodeOf(err) != 0 && ctx.Err() == nil {
			hint := ""
			if errors.Is(err, client.ErrNameInUse) {
				hint = "; give each clientload at an agent its own --name"
			}
			return fmt.Errorf("clientload %s: the agent at %s refused the session: %w%s", c.node, c.agent, err, hint)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("clientload %s: no agent at %s within %v: %w", c.node, c.agent, c.formTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer cl.Close()
	if err := cl.Join(ctx, c.group); err != nil {
		return fmt.Errorf("clientload %s: join %s: %w", c.node, c.group, err)
	}
	l := &load{c: c, cl: cl, rec: atollbench.NewRecorder(c.node, stdout), sent: make(chan uint64, 1)}
	l.rec.DaemonPID = c.agentPid
	l.rec.DaemonErr = func(err error) error {
		return fmt.Errorf("clientload %s: the agent's CPU time (-agent-pid %d): %w", c.node, c.agentPid, err)
	}
	err = l.consume(ctx, deadline)
	cancel()
	return err
}

// chooseProcs returns the GOMAXPROCS to set from -procs (flag, and
// whether it was given) and the GOMAXPROCS environment variable (env); 0
// leaves the runtime's own choice. One thread by default, as cpgload, the
// Corosync client it stands beside, is one thread: with two, every
// goroutine the runtime readies (the pacing timer's, the reader's on the
// socket) also wakes an idle second thread that finds nothing to do and
// parks again. At 1,000 msgs/s that scheduler work was about half of the
// sending clientload's CPU (86-97 µs per message); on one thread it used
// 56-64 µs, the p99 at half of the maximum rate was lower in 8 interleaved
// pairs of 8, at 1,000 msgs/s in 10 of 16, and full load carried as much
// (docs/BENCHMARKS.md, history, "Clientloads on one thread").
// A variable in the environment is kept, so that apiab's variants
// (CLIENT-ENV GOMAXPROCS=N) still compare thread counts.
func chooseProcs(flag int, flagSet bool, env string) int {
	if env != "" && !flagSet {
		return 0
	}
	return flag
}

// setProcs sets GOMAXPROCS; the tests, which run the load in their own
// process, replace it.
var setProcs = runtime.GOMAXPROCS

// startCPUProfile starts writing a CPU profile to path; stop ends it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// consume reads the client's events until the run is over: with Receive,
// whose context ends at the run's next phase (the deadline next).
func (l *load) consume(ctx context.Context, formDeadline time.Time) error {
	next := formDeadline
	for {
		rctx, cancel := context.WithDeadline(ctx, next)
		for {
			e, err := l.cl.Receive(rctx)
			if err != nil {
				break
			}
			switch e.Kind {
			case client.EventMessage:
				if stagetrace.On {
					stagetrace.Mark("8 app", e.Message.Payload)
				}
				l.rec.Deliver(time.Now(), e.Message.Payload)
			case client.EventView:
				if e.View.Group == l.c.group && !e.View.Transitional {
					if t, ok := l.view(ctx, e.View); ok {
						next = t
					}
				}
			case client.EventError, client.EventWarning:
				fmt.Fprintf(os.Stderr, "clientload %s: %s: %v\n", l.c.node, e.Kind, e.Err)
			}
			if d, _ := rctx.Deadline(); !d.Equal(next) {
				break // view began the run: its first phase ends sooner
			}
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case l.cl.Err() != nil:
			return fmt.Errorf("clientload %s: the session ended: %v", l.c.node, l.cl.Err())
		}
		now := time.Now()
		if now.Before(next) {
			continue
		}
		if !l.rec.Ready() {
			return fmt.Errorf("clientload %s: group %s did not have %d members within %v; is a clientload running at every node, and does the ring hold every node?",
				l.c.node, l.c.group, l.c.nodes, l.c.formTimeout)
		}
		n, done, err := l.rec.Advance(now)
		if err != nil {
			return err
		}
		if done {
			return l.rec.Finish(<-l.sent, l.c.samples)
		}
		next = n
	}
}

// view handles a regular view of the group; when it completes the group,
// it begins the run and returns the end of its first phase.
func (l *load) view(ctx context.Context, v *client.View) (next time.Time, began bool) {
	now := time.Now()
	l.rec.Event(atollbench.NodeEvent{Type: "install", MonoNs: l.rec.Clock.Ns(now), Members: len(v.Members), Conf: v.ID, Reason: v.Reason.String()})
	if l.rec.Ready() {
		if now.Before(l.rec.WindowEnd) { // not the others leaving at the end
			l.rec.Res.ConfChanges++
			fmt.Fprintf(os.Stderr, "clientload %s: the view of %s changed during the run (%s): %d members, joined %v, left %v\n",
				l.c.node, l.c.group, v.Reason, len(v.Members), v.Joined, v.Left)
		}
		return time.Time{}, false
	}
	if len(v.Members) < l.c.nodes {
		return time.Time{}, false
	}
	next = l.rec.Begin(now, l.c.settle, l.c.warmup, l.c.duration, l.c.drain)
	l.rec.Event(atollbench.NodeEvent{Type: "ready", MonoNs: l.rec.Clock.Ns(now), Members: len(v.Members), Conf: v.ID})
	if l.c.send {
		go func() { l.sent <- l.generate(ctx) }()
	} else {
		l.sent <- 0
	}
	return next, true
}

// generate sends from start to the end of the window and returns how many
// messages it sent.
//
// A MulticastWait still waiting for room at the end of the window gives
// up then: room comes only as the reader receives, and the reader stops
// receiving at the end of the drain, so a wait past it never ended (it
// hung an apiab run). What the window did not take is not sent.
func (l *load) generate(ctx context.Context) uint64 {
	start, windowEnd := l.rec.Start, l.rec.WindowEnd // set before this goroutine started
	ctx, cancel := context.WithDeadline(ctx, windowEnd)
	defer cancel()
	var seq uint64
	b := make([]byte, l.c.size) // the client copies it at each call
	groups := []string{l.c.group}
	send := func(now time.Time) bool {
		seq++
		atollbench.Payload{Sender: uint32(l.c.index), Seq: seq, SentNs: l.rec.Clock.Ns(now)}.AppendTo(b)
		if err := l.cl.MulticastWait(ctx, client.Agreed, 0, groups, b); err != nil {
			seq--
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "clientload %s: multicast: %v\n", l.c.node, err)
			}
			return false
		}
		return true
	}
	if !atollbench.Sleep(ctx, time.Until(start)) {
		return seq
	}
	if l.c.rate == 0 {
		for now := time.Now(); now.Before(windowEnd); now = time.Now() {
			if !send(now) {
				return seq
			}
		}
		return seq
	}
	pace(ctx, start, windowEnd, time.Duration(float64(time.Second)/l.c.rate), send)
	return seq
}

// pace calls send every interval from start until windowEnd, or until
// send fails. A sender that fell behind sends what is due at once (its
// messages are stamped when sent, so the delay is the caller's), but not
// past windowEnd: after a stall longer than the drain (a ring that
// re-formed on a loaded machine) the backlog went on after the reader
// stopped receiving, and a MulticastWait that then waited for room, which
// only the reader's Receive gives, never returned.
func pace(ctx context.Context, start, windowEnd time.Time, interval time.Duration, send func(time.Time) bool) {
	next := start
	for {
		now := time.Now()
		if !now.Before(windowEnd) {
			return
		}
		for !next.After(now) {
			if !send(now) {
				return
			}
			next = next.Add(interval)
			if now = time.Now(); !now.Before(windowEnd) {
				return
			}
		}
		if !atollbench.Sleep(ctx, time.Until(next)) {
			return
		}
	}
}
