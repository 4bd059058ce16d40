package client_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
)

// BenchmarkLatency measures client-to-client latency: one client
// multicasts (Agreed, 64 bytes, the send time inside), another client of
// the group receives it, one message at a time. Over the agents' Unix
// sockets, with both clients on one agent (a ring of one) and on two
// agents of a ring of three (in-memory network). Reports p50 and p99 in
// microseconds.
//
//	go test -run XXX -bench Latency -benchtime 2000x ./client
func BenchmarkLatency(b *testing.B) {
	for _, tc := range []struct {
		name     string
		nodes    int
		from, to string
	}{
		{"ipc/ring=1", 1, "n1", "n1"},
		{"ipc/ring=3", 3, "n1", "n2"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := startBench(b, tc.nodes)
			ctx := context.Background()
			snd := c.benchDial(b, tc.from, "snd")
			rcv := c.benchDial(b, tc.to, "rcv")
			if err := rcv.Join(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			waitEvent(b, rcv, func(e client.Event) bool { return e.Kind == client.EventView })
			payload := make([]byte, 64)
			var lat []time.Duration
			for b.Loop() {
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				if err := snd.Multicast(ctx, client.Agreed, 0, []string{"bench"}, payload); err != nil {
					b.Fatal(err)
				}
				var sent int64
				waitEvent(b, rcv, func(e client.Event) bool {
					if e.Kind != client.EventMessage {
						return false
					}
					sent = int64(binary.BigEndian.Uint64(e.Message.Payload))
					return true
				})
				lat = append(lat, time.Since(time.Unix(0, sent)))
			}
			reportLatency(b, lat, "")
		})
	}
}

// BenchmarkJoin measures join latency: from Join to the view that lists
// the client, in a group with one other member, over the Unix socket of a
// ring of one and of a ring of three. Each iteration also leaves (until
// the self-leave arrives), which is not counted.
//
//	go test -run XXX -bench Join -benchtime 1000x ./client
func BenchmarkJoin(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("ring=%d", nodes), func(b *testing.B) {
			c := startBench(b, nodes)
			ctx := context.Background()
			other := c.benchDial(b, "n1", "other")
			if err := other.Join(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			waitEvent(b, other, func(e client.Event) bool { return e.Kind == client.EventView })
			go func() {
				for range other.Events() {
				}
			}()
			j := c.benchDial(b, c.ids[len(c.ids)-1], "joiner")
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				if err := j.Join(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
				waitEvent(b, j, func(e client.Event) bool { return e.Kind == client.EventView && len(e.View.Members) == 2 })
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if err := j.Leave(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
				waitEvent(b, j, func(e client.Event) bool { return e.Kind == client.EventLeft })
				b.StartTimer()
			}
			reportLatency(b, lat, "join-")
		})
	}
}

func startBench(b *testing.B, n int) *cluster {
	b.Helper()
	c := newCluster(b, n)
	for _, id := range c.ids {
		c.start(id, func(cfg *agent.Config) {
			cfg.TracePath = ""
			cfg.Logger = slog.New(slog.DiscardHandler)
		})
	}
	c.waitRing(c.ids)
	return c
}

func (c *cluster) benchDial(b *testing.B, id, name string, opts ...client.Option) *client.Client {
	b.Helper()
	cl, err := client.Dial(context.Background(), "unix://"+c.dir+"/"+id+"/"+agent.ClientSocketName, append(opts, client.WithName(name))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	return cl
}

func waitEvent(b *testing.B, c *client.Client, match func(client.Event) bool) {
	b.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				b.Fatalf("session ended: %v", c.Err())
			}
			if match(e) {
				return
			}
		case <-timeout:
			b.Fatal("no event within 10s")
		}
	}
}

func reportLatency(b *testing.B, lat []time.Duration, prefix string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.50), prefix+"p50-µs")
	b.ReportMetric(q(0.99), prefix+"p99-µs")
}

// BenchmarkFullLoad measures the latency from Multicast to delivery at
// full load: a ring of three agents (in-memory network), on each a client
// over the Unix socket that sends 1 KiB Agreed messages to a group as fast
// as the ring takes them (MulticastWait) and reads everything the group
// delivers. Each message carries the time just before the call that sent
// it; its sender measures the time to its delivery. Reports p50, p99 and
// p99.9 in microseconds, the same for the time the sender spent in the
// call (call-, waiting for room), and the messages delivered per second
// at one member. b.N is the number of messages per sender.
//
//	go test -run XXX -bench FullLoad -benchtime 20000x ./client
func BenchmarkFullLoad(b *testing.B) {
	c := startBench(b, 3)
	var addrs []string
	for _, id := range c.ids {
		addrs = append(addrs, "unix://"+c.dir+"/"+id+"/"+agent.ClientSocketName)
	}
	counters := func() (tokenRetransmits, rings, held uint64) {
		for _, id := range c.ids {
			st := c.agents[id].a.Status().Counters
			tokenRetransmits += st.TokenRetransmits
			rings += st.RingsInstalled
			held += st.ClientsHeld
		}
		return
	}
	tr0, r0, h0 := counters()
	fullLoad(b, addrs, len(addrs))
	tr, r, h := counters()
	// Token retransmissions and new rings are stalls of the ring: they
	// make the tail, not the queues.
	b.ReportMetric(float64(tr-tr0), "token-retransmits")
	b.ReportMetric(float64(r-r0), "rings")
	b.ReportMetric(float64(h-h0), "held-passes")
}

// BenchmarkFullLoadProcs is BenchmarkFullLoad with each agent an `atoll
// agent` process of its own, on UDP over loopback (unicast, no packet
// security); the clients run in the benchmark's process. It builds the
// atoll binary first, and runs only with ATOLL_BENCH=1;
// ATOLL_BENCH_AGENT_FLAGS adds flags to the agents' command lines
// (--send-queue-visits 1, say).
//
//	ATOLL_BENCH=1 go test -run XXX -bench FullLoadProcs -benchtime 20000x ./client
func BenchmarkFullLoadProcs(b *testing.B) {
	if os.Getenv("ATOLL_BENCH") != "1" {
		b.Skip("set ATOLL_BENCH=1 to run agents as processes")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "atoll")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/atoll").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var peers, nodes []string
	for i := 1; i <= 3; i++ {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		peers = append(peers, fmt.Sprintf("127.0.0.1:%d", port))
		nodes = append(nodes, fmt.Sprintf("{id: n%d, port: %d}", i, port))
	}
	topo := filepath.Join(dir, "topology.yaml")
	yaml := fmt.Sprintf("version: 1\ncluster: c\nsecurity: {mode: none}\nsites:\n  - name: s\n    bind: 127.0.0.1\n    unicast: [%s]\n    nodes: [%s]\n",
		strings.Join(peers, ", "), strings.Join(nodes, ", "))
	if err := os.WriteFile(topo, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	var addrs []string
	for i := 1; i <= 3; i++ {
		data := filepath.Join(dir, fmt.Sprintf("n%d", i))
		args := []string{"agent", "--config", topo, "--node", fmt.Sprintf("n%d", i), "--data-dir", data, "--insecure", "--log-level", "warn"}
		cmd := exec.Command(bin, append(args, strings.Fields(os.Getenv("ATOLL_BENCH_AGENT_FLAGS"))...)...)
		var stderr syncbuf.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			if b.Failed() || os.Getenv("AGENT_LOGS") != "" {
				b.Logf("agent n%d:\n%s", i, stderr.String())
			}
		})
		addrs = append(addrs, "unix://"+data+"/"+agent.ClientSocketName)
	}
	fullLoad(b, addrs, len(addrs))
}

// BenchmarkFullLoadOneSender is BenchmarkFullLoad with one sender: the
// client at the first agent sends as fast as the ring takes its messages,
// the clients at all three agents receive. Besides BenchmarkFullLoad's
// figures it reports the sender's token visits: msgs-per-visit (the
// messages its ring sent per token it accepted) and rotation-µs (the mean
// rotation), whose product with the rotations per second is the
// throughput.
//
//	go test -run XXX -bench FullLoadOneSender -benchtime 20000x ./client
func BenchmarkFullLoadOneSender(b *testing.B) {
	c := startBench(b, 3)
	var addrs []string
	for _, id := range c.ids {
		addrs = append(addrs, "unix://"+c.dir+"/"+id+"/"+agent.ClientSocketName)
	}
	sender := c.agents[c.ids[0]].a
	st0 := sender.Status()
	fullLoad(b, addrs, 1)
	st := sender.Status()
	if rot := st.TokenRotation.Count - st0.TokenRotation.Count; rot > 0 {
		b.ReportMetric(float64(st.Counters.MessagesSent-st0.Counters.MessagesSent)/float64(rot), "msgs-per-visit")
		b.ReportMetric(float64((st.TokenRotation.Sum-st0.TokenRotation.Sum).Microseconds())/float64(rot), "rotation-µs")
	}
}

// fullLoad runs the load of BenchmarkFullLoad through the agents at addrs,
// the clients at the first senders of them sending.
func fullLoad(b *testing.B, addrs []string, senders int) {
	ctx := context.Background()
	type member struct {
		cl      *client.Client
		lat     []time.Duration
		blocked []time.Duration
		got     int
	}
	var ms []*member
	for _, addr := range addrs {
		var cl *client.Client
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if cl, err = client.Dial(ctx, addr, client.WithName("load"), benchEventBuffer); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		if err := cl.Join(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, &member{cl: cl})
	}
	for _, m := range ms {
		waitEvent(b, m.cl, func(e client.Event) bool { return e.Kind == client.EventView && len(e.View.Members) == len(ms) })
	}
	n := b.N
	want := n * senders
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, m := range ms {
		wg.Go(func() { // the reader
			timeout := time.NewTimer(time.Minute)
			defer timeout.Stop()
			for m.got < want {
				select {
				case e, ok := <-m.cl.Events():
					if !ok {
						b.Errorf("session ended: %v", m.cl.Err())
						return
					}
					if e.Kind != client.EventMessage {
						continue
					}
					m.got++
					if e.Message.Sender == m.cl.Name() {
						sent := int64(binary.BigEndian.Uint64(e.Message.Payload))
						m.lat = append(m.lat, time.Since(time.Unix(0, sent)))
					}
				case <-timeout.C:
					b.Errorf("%s: %d of %d messages within a minute", m.cl.Name(), m.got, want)
					return
				}
			}
		})
		if i >= senders {
			continue
		}
		wg.Go(func() { // the sender
			payload := make([]byte, 1024)
			for range n {
				t0 := time.Now()
				if err := multicastBlocking(ctx, m.cl, payload); err != nil {
					b.Errorf("multicast: %v", err)
					return
				}
				m.blocked = append(m.blocked, time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var lat []time.Duration
	for _, m := range ms {
		lat = append(lat, m.lat...)
	}
	var blocked []time.Duration
	for _, m := range ms {
		blocked = append(blocked, m.blocked...)
	}
	reportLatency(b, blocked, "call-")
	reportLatency(b, lat, "")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[int(0.999*float64(len(lat)-1))].Nanoseconds())/1e3, "p99.9-µs")
	}
	b.ReportMetric(float64(want)/elapsed.Seconds(), "msgs/s")
}

var benchEventBuffer = client.WithEventBuffer(64)

// multicastBlocking sends payload, stamped with the time just before the
// call, waiting for room.
func multicastBlocking(ctx context.Context, cl *client.Client, payload []byte) error {
	binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
	return cl.MulticastWait(ctx, client.Agreed, 0, []string{"bench"}, payload)
}
