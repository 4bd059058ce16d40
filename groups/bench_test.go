package groups

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// loop drives one Node as a ring of its own node would: every message it
// submits is sent and delivered at once. Deliveries from other nodes are
// injected with remote.
type loop struct {
	tb      testing.TB
	g       *Node
	conf    *localring.Configuration
	msgSeq  uint64
	pktSeq  uint64
	deliv   int // ring deliveries so far
	events  int
	lastRem uint64
}

func newLoop(tb testing.TB, cfg Config) *loop {
	cfg.Node = localring.Member{ID: "n1", Inc: 1}
	g, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ring := localring.RingID{Seq: 4, Rep: "n1"}
	// The ring also holds n2 and n3, which come from other rings: the
	// node exchanges (empty) states with them first.
	ms := []localring.Member{{ID: "n1", Inc: 1}, {ID: "n2", Inc: 1}, {ID: "n3", Inc: 1}}
	l := &loop{tb: tb, g: g, conf: &localring.Configuration{ID: "r:4:n1", Kind: localring.Regular, Ring: ring, Members: ms}}
	g.Step(localring.Event{Kind: localring.EventInstall, Conf: &localring.Configuration{ID: "t:4:n1/0:n1", Kind: localring.Transitional, Ring: ring, Members: ms[:1]}})
	g.Step(localring.Event{Kind: localring.EventInstall, Conf: l.conf})
	l.flush()
	// n2 and n3 report empty states.
	for _, id := range []localring.NodeID{"n2", "n3"} {
		w := wireMsg{kind: kindReport, rep: &report{conf: l.conf.ID, last: true}}
		l.deliver(localring.Member{ID: id, Inc: 1}, w.append(nil), localring.Agreed)
	}
	if !g.Synced() {
		tb.Fatal("loop: not synced")
	}
	l.g.Ready()
	return l
}

func (l *loop) deliver(from localring.Member, payload []byte, svc localring.Service) {
	l.pktSeq++
	l.deliv++
	l.g.Step(localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{
		ID: localring.MessageID{Sender: from.ID, Inc: from.Inc, Seq: l.pktSeq}, Svc: svc, Payload: payload,
		Conf: l.conf.ID, Order: localring.Order{Ring: l.conf.Ring.Seq, Seq: l.pktSeq},
	}})
}

// flush sends and delivers everything the node submitted, and drops its
// events (counting them).
func (l *loop) flush() {
	for {
		rd := l.g.Ready()
		l.events += len(rd.Events)
		if len(rd.Submits) == 0 {
			return
		}
		for _, s := range rd.Submits {
			l.msgSeq++
			m := localring.Message{ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: s.Svc, Payload: s.Payload, Conf: l.conf.ID}
			l.g.Step(localring.Event{Kind: localring.EventSend, Msg: m})
			l.deliver(localring.Member{ID: "n1", Inc: 1}, s.Payload, s.Svc)
		}
	}
}

// remoteJoin delivers a join of client on node from.
func (l *loop) remoteJoin(from localring.Member, client, group string) {
	w := wireMsg{kind: kindJoin, epoch: l.g.epoch, seq: l.lastRem, client: client, group: group}
	l.lastRem++
	l.deliver(from, w.append(nil), localring.Agreed)
	l.events += len(l.g.Ready().Events)
}

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkJoin measures a join in a node that already has 100,000
// groups: from the request to the view, one ring delivery (the join's
// own; reported as deliveries/join).
func BenchmarkJoin(b *testing.B) {
	l := newLoop(b, Config{})
	n2 := localring.Member{ID: "n2", Inc: 1}
	for i := 0; i < 100000; i++ {
		l.remoteJoin(n2, "c"+strconv.Itoa(i%100), "base-"+strconv.Itoa(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	d0 := l.deliv
	for i := 0; i < b.N; i++ {
		if err := l.g.Join("c", "bench-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		l.flush()
	}
	b.ReportMetric(float64(l.deliv-d0)/float64(b.N), "deliveries/join")
}

// BenchmarkMemory100kGroups measures the memory of 100,000 groups of
// three members each (one on this node, two on others) and of one client
// that is in 1,000 of them.
func BenchmarkMemory100kGroups(b *testing.B) {
	const groups = 100000
	n2, n3 := localring.Member{ID: "n2", Inc: 1}, localring.Member{ID: "n3", Inc: 1}
	var perGroup, perClient float64
	for it := 0; it < b.N; it++ {
		before := heapBytes()
		l := newLoop(b, Config{})
		for i := 0; i < groups; i++ {
			g := "group-" + strconv.Itoa(i)
			l.remoteJoin(n2, "c"+strconv.Itoa(i%1000), g)
			l.remoteJoin(n3, "d"+strconv.Itoa(i%1000), g)
			if i >= 1000 {
				l.remoteJoin(l.g.me.m, "e"+strconv.Itoa(i%1000), g)
			}
		}
		mid := heapBytes()
		for i := 0; i < 1000; i++ {
			if err := l.g.Join("busy", "group-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
			l.flush()
		}
		after := heapBytes()
		perGroup += float64(mid-before) / groups
		perClient += float64(after - mid)
		runtime.KeepAlive(l)
	}
	b.ReportMetric(perGroup/float64(b.N), "bytes/group")
	b.ReportMetric(perClient/float64(b.N)/1000, "bytes/membership")
}

// BenchmarkMulticast100Groups delivers one multicast addressed to 100
// groups, each with two local members and one remote one.
func BenchmarkMulticast100Groups(b *testing.B) {
	l := newLoop(b, Config{})
	n2 := localring.Member{ID: "n2", Inc: 1}
	dst := make([]string, 100)
	for i := range dst {
		dst[i] = "g" + strconv.Itoa(i)
		l.remoteJoin(l.g.me.m, "a"+strconv.Itoa(i%10), dst[i])
		l.remoteJoin(l.g.me.m, "b"+strconv.Itoa(i%7), dst[i])
		l.remoteJoin(n2, "r", dst[i])
	}
	w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: 1, client: "r", groups: dst, data: make([]byte, 1024)}
	payload := w.append(nil)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	var to int
	for i := 0; i < b.N; i++ {
		l.deliver(n2, payload, localring.Agreed)
		rd := l.g.Ready()
		to = len(rd.Events[0].To)
	}
	if to != 17 {
		b.Fatalf("delivered to %d local clients, want 17", to)
	}
}

// BenchmarkMulticastSend measures the sending side of a multicast to 100
// groups: encoding, queueing and the decision at send time.
func BenchmarkMulticastSend(b *testing.B) {
	l := newLoop(b, Config{})
	dst := make([]string, 100)
	for i := range dst {
		dst[i] = "g" + strconv.Itoa(i)
	}
	payload := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.g.Multicast("c", localring.Agreed, 1, dst, payload); err != nil {
			b.Fatal(err)
		}
		l.flush()
	}
}

// BenchmarkMerge measures a state exchange that merges two halves of a
// ring with 10,000 groups each.
func BenchmarkMerge(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newTestRingCfg(b, Config{}, "a", "b")
		r.form([]string{"a"}, []string{"b"})
		for _, id := range []string{"a", "b"} {
			tn := r.node(id)
			for k := 0; k < 10000; k++ {
				tn.must(tn.g.Join("c"+strconv.Itoa(k%100), id+"-"+strconv.Itoa(k)))
			}
			r.collect(tn)
		}
		r.run()
		b.StartTimer()
		r.form([]string{"a", "b"})
		r.run()
	}
}

// TestDeliverAllocs bounds the allocations of delivering a multicast of a
// remote client that is a member, to a group with a local member, as a
// driver does it (Step, Ready, Release): the Message, its Groups and its
// To. It was 6 when the client's name and "node:client" were made for
// each message and each Ready allocated its events.
func TestDeliverAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	l := newLoop(t, Config{})
	n2 := localring.Member{ID: "n2", Inc: 1}
	l.remoteJoin(l.g.me.m, "a", "g")
	l.remoteJoin(n2, "r", "g")
	w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: 1, client: "r", groups: []string{"g"}, data: make([]byte, 1024)}
	payload := w.append(nil)
	allocs := testing.AllocsPerRun(1000, func() {
		l.deliver(n2, payload, localring.Agreed)
		rd := l.g.Ready()
		if len(rd.Events) != 1 || len(rd.Events[0].To) != 1 || rd.Events[0].Msg.Sender != "n2:r" {
			t.Fatalf("events %+v, want the delivery to a", rd.Events)
		}
		l.g.Release(rd)
	})
	if allocs > 3 {
		t.Errorf("%.1f allocations per delivery, want at most 3", allocs)
	}
}

// TestMulticastAllocs bounds the allocations of a multicast of a local
// client that is a member, from Multicast to the EventSent, as a driver
// does it (Ready, Release): the copy of its groups, the Message, the
// encoded message and its place in the queue. It was 6 when the sender's
// name was made for each message and the EventSent copied the Message.
func TestMulticastAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	l := newLoop(t, Config{})
	l.remoteJoin(l.g.me.m, "a", "g")
	groups, payload := []string{"g"}, make([]byte, 1024)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := l.g.Multicast("a", localring.Agreed, 1, groups, payload); err != nil {
			t.Fatal(err)
		}
		rd := l.g.Ready()
		if len(rd.Submits) != 1 {
			t.Fatalf("submits %+v, want the message", rd.Submits)
		}
		l.msgSeq++
		m := localring.Message{ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: localring.Agreed, Payload: rd.Submits[0].Payload, Conf: l.conf.ID}
		l.g.Release(rd)
		l.g.Step(localring.Event{Kind: localring.EventSend, Msg: m})
		rd = l.g.Ready()
		if len(rd.Events) != 1 || rd.Events[0].Kind != EventSent || rd.Events[0].Msg.Sender != "n1:a" {
			t.Fatalf("events %+v, want the EventSent", rd.Events)
		}
		l.g.Release(rd)
	})
	if allocs > 4 {
		t.Errorf("%.1f allocations per multicast, want at most 4", allocs)
	}
}

// BenchmarkNeeds measures Node.Needs for a multicast from another node,
// to one group and to 100 groups of three members each (two local, one
// at n2), asked for a site that has none of them: the worst case, every
// member looked at. BenchmarkMulticast100Groups is the delivery of the
// same payload to 100 groups.
func BenchmarkNeeds(b *testing.B) {
	for _, k := range []int{1, 100} {
		b.Run(strconv.Itoa(k)+"groups", func(b *testing.B) {
			l := newLoop(b, Config{})
			n2 := localring.Member{ID: "n2", Inc: 1}
			dst := make([]string, k)
			for i := range dst {
				dst[i] = "g" + strconv.Itoa(i)
				l.remoteJoin(l.g.me.m, "a"+strconv.Itoa(i%10), dst[i])
				l.remoteJoin(l.g.me.m, "b"+strconv.Itoa(i%7), dst[i])
				l.remoteJoin(n2, "r", dst[i])
			}
			w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: 1, client: "r", groups: dst, data: make([]byte, 1024)}
			payload := w.append(nil)
			at := func(id localring.NodeID) bool { return id == "n3" }
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if l.g.Needs(payload, n2.ID, at) {
					b.Fatal("n3 has no member")
				}
			}
		})
	}
}

// BenchmarkPipeline measures the group layer's work per message at full
// load, as at an agent whose client sends as fast as the ring takes its
// messages: the node keeps queued messages accepted and handed to the
// ring but not yet sent (the agent's send-queue bound is
// SendQueueVisits × MaxPacketsPerVisit, 100 by default), and each round
// accepts one more multicast of 1 KiB, the ring sends and delivers the
// oldest, and it delivers a message of each of two other nodes: every
// message goes to a group with a member at this node. queued=1 is the
// same work with no queue. ns/op and allocs/op are per round (one own
// message, three deliveries). The reuse cases set Config.ReuseMessages,
// as the agent does.
//
//	go test ./groups -run '^$' -bench Pipeline -benchmem
func BenchmarkPipeline(b *testing.B) {
	for _, tc := range []struct {
		queued int
		reuse  bool
	}{{1, false}, {100, false}, {1, true}, {100, true}} {
		queued := tc.queued
		name := fmt.Sprintf("queued=%d", queued)
		if tc.reuse {
			name = "reuse/" + name
		}
		b.Run(name, func(b *testing.B) {
			l := newLoop(b, Config{ReuseMessages: tc.reuse})
			n2, n3 := localring.Member{ID: "n2", Inc: 1}, localring.Member{ID: "n3", Inc: 1}
			if err := l.g.Join("c", "g"); err != nil {
				b.Fatal(err)
			}
			l.flush()
			l.remoteJoin(n2, "c", "g")
			l.remoteJoin(n3, "c", "g")
			payload := make([]byte, 1024)
			groups := []string{"g"}
			w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: 1, client: "c", groups: groups, data: payload}
			remote := w.append(nil) // the ring's copy at a receiver: not the group layer's
			var ring [][]byte       // handed to the ring, not yet sent: in order
			round := func() {
				if _, err := l.g.Multicast("c", localring.Agreed, 1, groups, payload); err != nil {
					b.Fatal(err)
				}
				rd := l.g.Ready()
				for _, s := range rd.Submits {
					ring = append(ring, s.Payload)
				}
				l.g.Release(rd)
				for len(ring) > queued-1 {
					p := ring[0]
					ring = ring[1:]
					l.msgSeq++
					l.g.Step(localring.Event{Kind: localring.EventSend, Msg: localring.Message{
						ID: localring.MessageID{Sender: "n1", Inc: 1, Seq: l.msgSeq}, Svc: localring.Agreed, Payload: p, Conf: l.conf.ID}})
					l.deliver(l.g.me.m, p, localring.Agreed)
				}
				l.deliver(n2, remote, localring.Agreed)
				l.deliver(n3, remote, localring.Agreed)
				rd = l.g.Ready()
				l.events += len(rd.Events)
				l.g.Release(rd)
			}
			for range queued + 10 { // fill the queue
				round()
			}
			if len(ring) != queued-1 || l.g.Pending() != queued-1 {
				b.Fatalf("%d messages in the ring, %d pending, want %d", len(ring), l.g.Pending(), queued-1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				round()
			}
		})
	}
}
