package bridge

import (
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
