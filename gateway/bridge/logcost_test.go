package bridge

import (
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/atoll-gcs/atoll/localring"
)

// BenchmarkRememberFull: a node's log keeping one more entry of the
// domain's stream once it holds Config.LogEntries (every Down a node
// applies after its first DefaultLogEntries: remember).
func BenchmarkRememberFull(b *testing.B) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a1"})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1024)
	seq := uint64(0)
	next := func() Entry {
		seq++
		return Entry{Pos: localring.DomainOrder{Seq: seq, Ring: 1}, Kind: EntryMessage, Svc: localring.Agreed, Payload: payload,
			Origin: Origin{Site: "b", ID: localring.MessageID{Sender: "b1", Inc: 1, Seq: seq}}}
	}
	for range s.cfg.LogEntries {
		s.remember(next())
	}
	b.Logf("Entry: %d bytes; log %d entries", unsafe.Sizeof(Entry{}), len(s.log))
	b.ReportAllocs()
	for b.Loop() {
		s.remember(next())
	}
	if len(s.log) != s.cfg.LogEntries || s.log[len(s.log)-1].Pos.Seq != seq || s.log[0].Pos.Seq != seq-uint64(s.cfg.LogEntries)+1 {
		b.Fatalf("log of %d entries from %v to %v; want the last %d, to %d", len(s.log), s.log[0].Pos, s.log[len(s.log)-1].Pos, s.cfg.LogEntries, seq)
	}
}

// pendingSite returns a site node whose pending Ups are n of its site's,
// of senders a1, a2 and a3 in turn (each sender's in its order), with
// payloads of 1 KiB.
func pendingSite(tb testing.TB, n int) *Site {
	tb.Helper()
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a1"})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		p := pendingUp{fedUp: fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: localring.NodeID(fmt.Sprintf("a%d", i%3+1)), Inc: 1, Seq: uint64(i/3 + 1)}},
			svc: localring.Agreed, payload: make([]byte, 1024)}}
		s.pending = append(s.pending, p)
		s.countPending(&s.pending[len(s.pending)-1], 1)
	}
	return s
}

// downOf is the Entry of the site's Up of sender with seq coming down.
func downOf(sender string, seq uint64) *Entry {
	return &Entry{Kind: EntryMessage, Svc: localring.Agreed, Origin: Origin{Site: "a", ID: localring.MessageID{Sender: localring.NodeID(sender), Inc: 1, Seq: seq}}}
}

// TestDonePendingInPlace: the oldest pending Up coming down leaves the
// others where they are (it moved each later one down one), and one
// coming down behind others of its sender, or out of pending's order,
// takes them along and keeps the others in their order.
func TestDonePendingInPlace(t *testing.T) {
	s := pendingSite(t, 9) // a1/1 a2/1 a3/1 a1/2 a2/2 a3/2 a1/3 a2/3 a3/3
	second := &s.pending[1]
	s.donePending(downOf("a1", 1))
	if len(s.pending) != 8 || &s.pending[0] != second {
		t.Errorf("after the oldest came down: %d pending, the first at %p; want 8, the second before it (%p) in its place", len(s.pending), &s.pending[0], second)
	}
	s.donePending(downOf("a3", 2)) // a3/1 and a3/2, not the oldest
	var got []string
	for i := range s.pending {
		got = append(got, s.pending[i].origin.ID.String())
	}
	want := []string{"a2/1/1", "a1/1/2", "a2/1/2", "a1/1/3", "a2/1/3", "a3/1/3"}
	if !slices.Equal(got, want) {
		t.Errorf("pending after a3/1/2 came down: %v; want %v", got, want)
	}
	if all, own := s.PendingBytes(); all != 6*1024 || own != 2*1024 {
		t.Errorf("PendingBytes %d, %d (own); want %d, %d", all, own, 6*1024, 2*1024)
	}
}

// BenchmarkDonePending: a node applying the Down of its site's oldest
// pending Up with 120 more pending, as at each node of atoll bench
// isolation's site a while its abc-global senders saturate.
func BenchmarkDonePending(b *testing.B) {
	s := pendingSite(b, 120)
	seq := map[string]uint64{}
	var i int
	b.ReportAllocs()
	for b.Loop() {
		sender := fmt.Sprintf("a%d", i%3+1)
		i++
		seq[sender]++
		s.donePending(downOf(sender, seq[sender]))
		p := pendingUp{fedUp: fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: localring.NodeID(sender), Inc: 1, Seq: seq[sender] + 40}},
			svc: localring.Agreed, payload: make([]byte, 1024)}}
		s.pending = append(s.pending, p)
		s.countPending(&s.pending[len(s.pending)-1], 1)
	}
	if len(s.pending) != 120 {
		b.Fatalf("%d pending; want 120", len(s.pending))
	}
}
