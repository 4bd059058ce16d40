package driver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/waittest"
	"github.com/atoll-gcs/atoll/localring"
)

// silent is a transport that sends nowhere and receives nothing.
type silent struct {
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *silent) MaxPacket() int                      { return 1400 }
func (s *silent) Send(localring.NodeID, []byte) error { return nil }
func (s *silent) SendAll([]byte) error                { return nil }
func (s *silent) Flush() error                        { return nil }
func (s *silent) Recv([]Packet) (int, error)          { <-s.closed; return 0, ErrClosed }
func (s *silent) Close() error                        { s.closeOnce.Do(func() { close(s.closed) }); return nil }
func (noStore) SaveRingSeq(uint64) error              { return nil }

type noStore struct{}

// header returns the two header bytes of a ring packet of type typ, with
// the wire version the core speaks (found through IsMessagePacket).
func header(t *testing.T, typ byte) []byte {
	for v := range 256 {
		if localring.IsMessagePacket([]byte{byte(v), 1}) {
			return []byte{byte(v), typ}
		}
	}
	t.Fatal("no wire version makes a message packet")
	return nil
}

// TestTokensAfterMessages: of the packets received by the time a pass
// starts, in one batch or several, the driver steps the tokens into the
// node after every other packet, and the others in the order they came.
func TestTokensAfterMessages(t *testing.T) {
	msg, tok := header(t, 1), header(t, 2)
	if !localring.IsToken(tok) || localring.IsToken(msg) {
		t.Fatal("IsToken does not tell a token from a message packet")
	}
	node, err := localring.New(localring.DefaultLAN("a"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Node: node, Transport: &silent{closed: make(chan struct{})}, Store: noStore{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	stepped := make(chan struct{})
	d.step = func(now time.Time, pkt []byte) error {
		order = append(order, string(pkt[2:]))
		if len(order) == 6 {
			close(stepped)
		}
		return nil
	}
	// Two batches wait before the loop's first pass: the token that came
	// first of all must still go in after the messages of the second.
	for _, batch := range [][]string{{"T1", "a", "b"}, {"c", "T2", "d"}} {
		b := <-d.free
		for i, p := range batch {
			h := msg
			if p[0] == 'T' {
				h = tok
			}
			b.ps[i].N = copy(b.ps[i].Buf, append(append([]byte(nil), h...), p...))
			b.ps[i].From = "b"
		}
		b.n = len(batch)
		d.rx <- b
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waittest.Recv(t, stepped, 30*time.Second, "the loop to step the six packets")
	cancel()
	if err := waittest.Recv(t, done, 30*time.Second, "Run to return after cancel"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(order); got != "[a b c d T1 T2]" {
		t.Fatalf("stepped %s, want [a b c d T1 T2]: messages received before a token go in before it", got)
	}
}
