package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// startAgent runs a one-node agent in this process, on an in-memory
// network, and returns its client socket.
func startAgent(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	nw, err := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:5405"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		Node: "n1", Cluster: "test", Site: "lab", Nodes: []string{"n1"},
		Network:     nw,
		Ring:        localring.DefaultLAN(""),
		Security:    agent.Security{Key: seal.GenerateKey()},
		DataDir:     dir,
		AdminSocket: "-",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the agent's Run did not return within 10 s of its context's end")
		}
	})
	return "unix://" + filepath.Join(dir, agent.ClientSocketName)
}

// runLoads runs one clientload per argv at once and returns their results.
func runLoads(t *testing.T, argvs ...[]string) []atollbench.NodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	outs := make([]bytes.Buffer, len(argvs))
	errs := make([]error, len(argvs))
	var wg sync.WaitGroup
	for i, argv := range argvs {
		wg.Go(func() {
			var stderr bytes.Buffer
			errs[i] = run(ctx, argv, &outs[i], &stderr)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%w; stderr: %s", errs[i], stderr.String())
			}
		})
	}
	wg.Wait()
	var rs []atollbench.NodeResult
	for i := range argvs {
		if errs[i] != nil {
			t.Fatalf("clientload %d: %v", i, errs[i])
		}
		var res *atollbench.NodeResult
		var types []string
		sc := bufio.NewScanner(&outs[i])
		for sc.Scan() {
			var r atollbench.NodeResult
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("clientload %d: output line %q: %v", i, sc.Text(), err)
			}
			types = append(types, r.Type)
			if r.Type == "result" {
				res = &r
			}
		}
		if res == nil || !strings.Contains(strings.Join(types, " "), "ready") {
			t.Fatalf("clientload %d: output %v has no ready and result lines", i, types)
		}
		rs = append(rs, *res)
	}
	return rs
}

func args(addr, node string, extra ...string) []string {
	return append([]string{"-agent", addr, "-node", node, "-name", node, "-nodes", "2", "-settle", "0s", "-warmup", "200ms",
		"-duration", "1s", "-drain", "300ms", "-agent-pid", fmt.Sprint(os.Getpid()), "-size", "1024"}, extra...)
}

// TestClientLoad runs two clientloads at one agent for a second, one
// sending as fast as it can and one only receiving, and checks that their
// reports are consistent: both deliver the sender's messages, no more than
// were sent, with ordered, plausible latencies and CPU time.
func TestClientLoad(t *testing.T) {
	addr := startAgent(t)
	dir := t.TempDir()
	rs := runLoads(t,
		args(addr, "a", "-send", "-index", "0", "-samples", filepath.Join(dir, "a.lat")),
		args(addr, "b"))
	for i, r := range rs {
		t.Logf("%s: sent %d delivered %d p50 %.0fµs p99 %.0fµs p99.9 %.0fµs cpu %.2fs agent %.2fs over %.2fs",
			r.Node, r.Sent, r.Delivered, r.P50Us, r.P99Us, r.P999Us, r.CPUS, r.DaemonCPUS, r.CPUWindowS)
		if r.Delivered == 0 || r.Bytes != 1024*r.Delivered {
			t.Errorf("%s: delivered %d messages, %d bytes; want some, of 1024 bytes each", r.Node, r.Delivered, r.Bytes)
		}
		if r.Delivered > rs[0].Sent {
			t.Errorf("%s: delivered %d in the window, more than the %d sent", r.Node, r.Delivered, rs[0].Sent)
		}
		if !(r.P50Us > 0 && r.P50Us <= r.P99Us && r.P99Us <= r.P999Us && r.P999Us < 10e6) {
			t.Errorf("%s: latency p50 %vµs p99 %vµs p99.9 %vµs: want 0 < p50 ≤ p99 ≤ p99.9 < 10 s", r.Node, r.P50Us, r.P99Us, r.P999Us)
		}
		// Both CPU figures are this process's, read a moment apart: the
		// agent's may trail the client's by a scheduler tick or two.
		if r.CPUWindowS < 0.9 || r.CPUS <= 0 || r.DaemonCPUS < 0.9*r.CPUS-0.05 {
			t.Errorf("%s: CPU %vs, agent %vs over %vs: want a window of about 1 s, CPU used, and the agent's pid (this process) about as much or more", r.Node, r.CPUS, r.DaemonCPUS, r.CPUWindowS)
		}
		if r.WindowS != 1 || r.ConfChanges != 0 {
			t.Errorf("%s: window %vs, %d view changes; want 1 s, 0", r.Node, r.WindowS, r.ConfChanges)
		}
		if i == 1 && r.Sent != 0 {
			t.Errorf("%s: a receiver sent %d messages", r.Node, r.Sent)
		}
	}
	ns, err := atollbench.ReadSamples(rs[0].Samples)
	if err != nil || uint64(len(ns)) != rs[0].Delivered {
		t.Errorf("samples file %q: %d samples, %v; want one per delivery (%d)", rs[0].Samples, len(ns), err, rs[0].Delivered)
	}
}

// TestClientLoadRate paces two senders at 200 msgs/s each: every member
// delivers both senders' messages, about 400 in the second.
func TestClientLoadRate(t *testing.T) {
	addr := startAgent(t)
	rs := runLoads(t,
		args(addr, "a", "-send", "-index", "0", "-rate", "200"),
		args(addr, "b", "-send", "-index", "1", "-rate", "200"))
	for _, r := range rs {
		t.Logf("%s: sent %d delivered %d p50 %.0fµs p99 %.0fµs", r.Node, r.Sent, r.Delivered, r.P50Us, r.P99Us)
		// Sent counts warm-up and window: 200 × 1.2 s; the window holds
		// about 400 deliveries, fewer only if the machine stalled.
		if r.Sent < 200 || r.Sent > 250 {
			t.Errorf("%s: sent %d at 200 msgs/s for 1.2 s; want 240", r.Node, r.Sent)
		}
		if r.Delivered < 200 || r.Delivered > rs[0].Sent+rs[1].Sent {
			t.Errorf("%s: delivered %d in the window; want about 400 (both senders' messages)", r.Node, r.Delivered)
		}
	}
}

func TestParseErrors(t *testing.T) {
	_, err := parse([]string{"-size", "8", "-rate", "-1", "-nodes", "0"}, io.Discard)
	for _, want := range []string{"-agent is required", "-size 8", "-rate -1", "-nodes 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse: %v; want it to name %q", err, want)
		}
	}
}

// TestNameInUse: a clientload whose name another session of the agent
// uses fails at once with the agent's refusal (name_in_use, naming the
// agent and the name) instead of retrying until --form-timeout as if the
// agent were unreachable; the session holding the name goes on.
func TestNameInUse(t *testing.T) {
	addr := startAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := client.Dial(ctx, addr, client.WithName("dup"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var stdout, stderr bytes.Buffer
	err = run(ctx, append(args(addr, "n1"), "-name", "dup", "-form-timeout", "1h"), &stdout, &stderr)
	if !errors.Is(err, client.ErrNameInUse) || !strings.Contains(err.Error(), `"dup"`) || !strings.Contains(err.Error(), "agent n1") ||
		!strings.Contains(err.Error(), "--name") || strings.Contains(err.Error(), "no agent") {
		t.Errorf("clientload as dup while another session has it: %v; want a name_in_use refusal naming dup, agent n1 and --name", err)
	}
	jctx, jcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer jcancel()
	if err := first.Join(jctx, "g"); err != nil || first.Err() != nil {
		t.Errorf("the session holding the name: join %v, session %v", err, first.Err())
	}
}

// TestPaceStopsAtWindowEnd: a paced sender whose send stalled past the
// end of the window does not send the messages that fell due meanwhile
// (it sent them all, after the reader had stopped receiving).
func TestPaceStopsAtWindowEnd(t *testing.T) {
	start := time.Now()
	end := start.Add(20 * time.Millisecond)
	var sent int
	pace(context.Background(), start, end, time.Millisecond, func(time.Time) bool {
		sent++
		if sent == 1 {
			time.Sleep(60 * time.Millisecond) // a MulticastWait held up by the ring
		}
		return true
	})
	if sent != 1 {
		t.Fatalf("%d messages sent, the first of them stalled past the end of the window; want 1", sent)
	}
}

// TestGenerateStopsAtWindowEnd: a sender whose MulticastWait waits for
// room that only the reader's Receive would give returns at the end of
// the window instead of waiting for ever (the reader has stopped by then;
// an apiab run hung so).
func TestGenerateStopsAtWindowEnd(t *testing.T) {
	sock := startAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, sock, client.WithName("stuck"), client.WithReceive())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Join(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	l := &load{c: config{node: "n1", group: "g", size: 1024}, cl: cl, rec: atollbench.NewRecorder("n1", io.Discard)}
	l.rec.Begin(time.Now(), 0, 0, 500*time.Millisecond, 0)
	done := make(chan uint64, 1)
	go func() { done <- l.generate(context.Background()) }()
	// Nobody receives: the agent's deliveries stay unread, the window fills
	// and MulticastWait waits for room.
	select {
	case n := <-done:
		if n == 0 {
			t.Fatal("sent nothing in the window")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sender still waits 10 s after the end of its 500 ms window, with nobody receiving")
	}
}

// procsAsked records the GOMAXPROCS that run asked for (setProcs): the tests
// run the load in their own process, whose threads they keep.
var (
	procsMu    sync.Mutex
	procsAsked []int
)

func TestMain(m *testing.M) {
	setProcs = func(n int) int {
		procsMu.Lock()
		procsAsked = append(procsAsked, n)
		procsMu.Unlock()
		return 0
	}
	os.Exit(m.Run())
}

// TestChooseProcs: one thread unless -procs says otherwise; GOMAXPROCS in
// the environment is kept unless -procs is given; -procs 0 leaves the
// runtime's default.
func TestChooseProcs(t *testing.T) {
	for _, tc := range []struct {
		flag    int
		flagSet bool
		env     string
		want    int
	}{
		{1, false, "", 1},
		{1, false, "2", 0},
		{3, true, "2", 3},
		{0, true, "", 0},
		{2, true, "", 2},
	} {
		if got := chooseProcs(tc.flag, tc.flagSet, tc.env); got != tc.want {
			t.Errorf("chooseProcs(%d, %v, %q) = %d, want %d", tc.flag, tc.flagSet, tc.env, got, tc.want)
		}
	}
	c, err := parse([]string{"-agent", "x"}, io.Discard)
	if err != nil || c.procs != 1 || c.procsSet {
		t.Errorf("no -procs: procs %d, given %v (%v); want 1, not given", c.procs, c.procsSet, err)
	}
	c, err = parse([]string{"-agent", "x", "-procs", "2"}, io.Discard)
	if err != nil || c.procs != 2 || !c.procsSet {
		t.Errorf("-procs 2: procs %d, given %v (%v); want 2, given", c.procs, c.procsSet, err)
	}
	if _, err := parse([]string{"-agent", "x", "-procs", "-1"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-procs -1") {
		t.Errorf("-procs -1: %v, want an error naming it", err)
	}
}

// TestRunSetsProcs: run sets the thread count it chose before it dials.
func TestRunSetsProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	procsMu.Lock()
	procsAsked = nil
	procsMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // run sets the threads first, then fails to dial
	_ = run(ctx, []string{"-agent", filepath.Join(t.TempDir(), "none.sock"), "-procs", "1", "-form-timeout", "1ms"}, io.Discard, io.Discard)
	procsMu.Lock()
	defer procsMu.Unlock()
	if len(procsAsked) != 1 || procsAsked[0] != 1 {
		t.Errorf("run set GOMAXPROCS %v, want [1]", procsAsked)
	}
}
