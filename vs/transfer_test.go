package vs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/vs"
)

// sim drives Transfers without an agent: it plays the group layer's part,
// handing every member the same views and messages in the same order, and
// holds the multicasts sent until the script delivers or drops them.
type sim struct {
	t       *testing.T
	ctx     context.Context
	members []string // the current view, oldest first
	state   map[string]*simMember
	queue   []*client.Message
	views   int
}

type simMember struct {
	tr *vs.Transfer
	st *logState
}

type simSender struct {
	s    *sim
	name string
}

func (m simSender) Multicast(_ context.Context, svc client.Service, typ uint16, groups []string, payload []byte) error {
	m.s.queue = append(m.s.queue, &client.Message{Sender: m.name, Groups: groups, Svc: svc, Type: typ, Payload: payload})
	return nil
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, ctx: context.Background(), state: map[string]*simMember{}}
}

func (s *sim) handle(name string, e client.Event) {
	m := s.state[name]
	if err := m.tr.Handle(s.ctx, e); err != nil {
		s.t.Fatalf("%s: %v", name, err)
	}
	m.st.mu.Lock()
	m.st.synced = m.tr.Synced()
	m.st.mu.Unlock()
}

// view installs the next regular view.
func (s *sim) view(reason client.Reason, joined, left []string) {
	s.views++
	next := slices.DeleteFunc(slices.Clone(s.members), func(m string) bool { return slices.Contains(left, m) })
	next = append(next, joined...)
	for _, j := range joined {
		s.state[j] = &simMember{st: &logState{}}
		s.state[j].tr = vs.NewTransfer(simSender{s, j}, "g", j, s.state[j].st)
	}
	s.members = next
	v := &client.View{Group: "g", ID: fmt.Sprintf("v%d", s.views), Members: next, Joined: joined, Left: left, Reason: reason}
	for _, m := range next {
		s.handle(m, client.Event{Kind: client.EventView, View: v})
	}
}

// say queues an application message from sender.
func (s *sim) say(sender, text string) {
	simSender{s, sender}.Multicast(s.ctx, client.Agreed, 1, []string{"g"}, []byte(text))
}

// drop discards the queued messages of sender (it died before the ring
// ordered them).
func (s *sim) drop(sender string) {
	s.queue = slices.DeleteFunc(s.queue, func(m *client.Message) bool { return m.Sender == sender })
}

// deliver delivers every queued message, and those their handling sends.
func (s *sim) deliver() {
	for len(s.queue) > 0 {
		m := s.queue[0]
		s.queue = s.queue[1:]
		for _, name := range s.members {
			s.handle(name, client.Event{Kind: client.EventMessage, Message: m})
		}
	}
}

// same checks that every member holds the state, the same log.
func (s *sim) same(want string) {
	s.t.Helper()
	for _, name := range s.members {
		if got := s.state[name].st.get(); got != want {
			s.t.Errorf("%s: log %q, want %q (synced %v)", name, got, want, s.state[name].tr.Synced())
		}
	}
}

// The donor dies before its snapshot is ordered: the next view makes the
// next oldest member with state the donor, and the joiner restores its
// snapshot, taken at that later cut, skipping what the cut covers.
func TestTransferDonorDies(t *testing.T) {
	s := newSim(t)
	s.view(client.ReasonJoin, []string{"a"}, nil)
	s.view(client.ReasonJoin, []string{"c"}, nil) // a sends c the (empty) state
	s.deliver()
	s.say("a", "1;")
	s.deliver()
	s.same("1;")
	s.view(client.ReasonJoin, []string{"b"}, nil) // a sends a snapshot
	if n := s.state["a"].tr.SnapshotsSent(); n != 2 {
		t.Fatalf("a sent %d snapshots, want 2 (for c, then for b)", n)
	}
	s.say("c", "2;")
	s.drop("a") // a dies: its snapshot is lost
	s.deliver() // b buffers "2;"
	if s.state["b"].tr.Synced() {
		t.Fatal("b synced without a snapshot")
	}
	s.view(client.ReasonDisconnect, nil, []string{"a"}) // c is the donor now
	if n := s.state["c"].tr.SnapshotsSent(); n != 1 {
		t.Fatalf("c sent %d snapshots, want 1", n)
	}
	s.say("b", "3;")
	s.deliver()
	s.same("1;2;3;")
}

// Joiners arrive one after another before the first one's snapshot is
// delivered; a joiner's snapshot comes after later views and messages;
// a joiner that got the state becomes the donor once the older members
// leave.
func TestTransferJoinersInARow(t *testing.T) {
	s := newSim(t)
	s.view(client.ReasonJoin, []string{"a"}, nil)
	s.say("a", "1;")
	s.deliver()
	s.view(client.ReasonJoin, []string{"b"}, nil)
	s.say("a", "2;")
	s.view(client.ReasonJoin, []string{"c", "d"}, nil)
	s.say("b", "3;")
	s.deliver()
	s.same("1;2;3;")
	s.view(client.ReasonLeave, nil, []string{"a"})
	s.view(client.ReasonJoin, []string{"e"}, nil)
	if n := s.state["b"].tr.SnapshotsSent(); n != 1 {
		t.Fatalf("b sent %d snapshots, want 1", n)
	}
	s.say("e", "4;")
	s.deliver()
	s.same("1;2;3;4;")
}

// Members that join together into an empty group all start from the
// empty state, and a merge (ReasonNetwork) makes no joiners.
func TestTransferNoDonor(t *testing.T) {
	s := newSim(t)
	s.view(client.ReasonJoin, []string{"a", "b"}, nil)
	s.say("a", "1;")
	s.deliver()
	s.same("1;")
	s.view(client.ReasonNetwork, []string{"x"}, nil)
	if !s.state["x"].tr.Synced() {
		t.Error("x, merged in, waits for a snapshot")
	}
	s.deliver()
	if n := s.state["a"].tr.SnapshotsSent(); n != 0 {
		t.Errorf("a sent %d snapshots at a merge", n)
	}
}
