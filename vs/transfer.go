package vs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/atoll-gcs/atoll/client"
)

// Message types that package vs reserves; an application using Transfer,
// RSM or PubSub on a group uses other types there.
const (
	TypeSnapshot uint16 = 0xFFF0 // a state transfer (Transfer)
	TypeOp       uint16 = 0xFFF1 // an operation of an RSM
	TypePublish  uint16 = 0xFFF2 // a publication (PubSub)
)

// StateMachine is the application's state that Transfer keeps in step at
// every member. Transfer calls its methods from Handle only, one at a
// time.
type StateMachine interface {
	// Snapshot returns the state as it is now.
	Snapshot() []byte
	// Restore replaces the state with a snapshot.
	Restore(snapshot []byte) error
	// Apply applies a message of the group (never a TypeSnapshot one).
	Apply(m *client.Message)
}

// Multicaster sends multicasts: a *client.Client.
type Multicaster interface {
	Multicast(ctx context.Context, svc client.Service, msgType uint16, groups []string, payload []byte) error
}

// Transfer gives the members that join a group the state of the members
// already there, taken at the view's cut.
//
// # Protocol
//
// Every member feeds Handle the client's events in order. When a regular
// view adds members to a group that has members with state, the oldest
// member of the view that has state (the donor) takes a Snapshot at once,
// while handling the view, and multicasts it to the group (Agreed, type
// TypeSnapshot, tagged with the view's id). It has then applied exactly
// the messages delivered before the view, and none after: the snapshot is
// the state at the view's cut. The joiner applies nothing until it
// receives a snapshot tagged with a view it has seen: it buffers the
// views and messages that follow its join view, then Restores the
// snapshot and replays the events that followed the tagged view. Since
// every member delivers the same messages in the same order after a view
// (virtual synchrony), the joiner then holds the same state as every
// other member after the same messages.
//
// The members with state agree on who is still waiting for a snapshot
// (they all see the same views and the same snapshot messages); when the
// donor leaves before its snapshot is delivered, the next regular view
// makes the next oldest member with state the donor, and it sends a new
// snapshot for that view.
//
// # Limits
//
// A snapshot travels in one message, so it must fit in the agent's
// largest message (client.Client.MaxMessage). When every member with state
// leaves before a joiner gets a snapshot, the state is gone and the
// joiner waits (it never invents a state): a program that needs the
// state to survive keeps enough members. Only a view with ReasonJoin
// makes joiners: after a network partition heals, both sides keep the
// state they have, and state that they changed apart is not reconciled
// (that is the application's choice: a primary partition, a merge).
type Transfer struct {
	mc          Multicaster
	group, self string
	sm          StateMachine

	member  bool            // a regular view has listed this member
	synced  atomic.Bool     // this member has state
	pending map[string]bool // members waiting for a snapshot (when synced)
	buf     []client.Event  // the join view and what followed (when not synced)
	sent    int             // snapshots sent
}

// NewTransfer returns the state transfer of group for the member self
// (the client's Name), that multicasts with mc.
func NewTransfer(mc Multicaster, group, self string, sm StateMachine) *Transfer {
	return &Transfer{mc: mc, group: group, self: self, sm: sm, pending: map[string]bool{}}
}

// Synced reports whether this member has state: it was the first, or it
// has restored a snapshot.
func (t *Transfer) Synced() bool { return t.synced.Load() }

// SnapshotsSent returns how many snapshots this member sent as a donor.
func (t *Transfer) SnapshotsSent() int { return t.sent }

// Handle takes the client's next event. Events of other groups are
// ignored. It returns an error when a snapshot cannot be sent or
// restored.
func (t *Transfer) Handle(ctx context.Context, e client.Event) error {
	switch e.Kind {
	case client.EventView:
		if e.View.Group != t.group {
			return nil
		}
		return t.view(ctx, e)
	case client.EventMessage:
		if !slices.Contains(e.Message.Groups, t.group) || !t.member {
			return nil
		}
		return t.message(ctx, e)
	case client.EventLeft:
		if e.Group == t.group {
			t.member, t.pending, t.buf = false, map[string]bool{}, nil
			t.synced.Store(false)
		}
	}
	return nil
}

func (t *Transfer) view(ctx context.Context, e client.Event) error {
	v := e.View
	if !t.member {
		if v.Transitional || !slices.Contains(v.Members, t.self) {
			return nil
		}
		t.member = true
		if joins(v) && slices.Contains(v.Joined, t.self) {
			t.buf = []client.Event{e}
			return nil
		}
		t.synced.Store(true)
		return nil
	}
	if !t.synced.Load() {
		t.buf = append(t.buf, e)
		return nil
	}
	if v.Transitional {
		return nil
	}
	for m := range t.pending {
		if !slices.Contains(v.Members, m) {
			delete(t.pending, m)
		}
	}
	if joins(v) {
		for _, m := range v.Joined {
			t.pending[m] = true
		}
	}
	if len(t.pending) == 0 {
		return nil
	}
	i := slices.IndexFunc(v.Members, func(m string) bool { return !t.pending[m] })
	if i < 0 || v.Members[i] != t.self {
		return nil
	}
	s := snapshot{view: v.ID, pending: sortedKeys(t.pending), state: t.sm.Snapshot()}
	if err := t.mc.Multicast(ctx, client.Agreed, TypeSnapshot, []string{t.group}, s.append(nil)); err != nil {
		return fmt.Errorf("vs: sending the snapshot of %s for view %s: %w", t.group, v.ID, err)
	}
	t.sent++
	return nil
}

func (t *Transfer) message(ctx context.Context, e client.Event) error {
	m := e.Message
	if t.synced.Load() {
		if m.Type == TypeSnapshot {
			s, err := parseSnapshot(m.Payload)
			if err != nil {
				return err
			}
			for _, p := range s.pending {
				delete(t.pending, p)
			}
			return nil
		}
		t.sm.Apply(m)
		return nil
	}
	if m.Type != TypeSnapshot {
		t.buf = append(t.buf, e)
		return nil
	}
	s, err := parseSnapshot(m.Payload)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(t.buf, func(b client.Event) bool {
		return b.Kind == client.EventView && !b.View.Transitional && b.View.ID == s.view
	})
	if i < 0 || !slices.Contains(s.pending, t.self) {
		t.buf = append(t.buf, e) // a snapshot for others
		return nil
	}
	if err := t.sm.Restore(s.state); err != nil {
		return fmt.Errorf("vs: restoring the snapshot of %s for view %s: %w", t.group, s.view, err)
	}
	t.synced.Store(true)
	for _, p := range s.pending {
		t.pending[p] = true
	}
	rest := append(t.buf[i+1:], e)
	t.buf = nil
	for _, b := range rest {
		if err := t.Handle(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// joins reports whether a regular view adds joiners that need the state:
// members that joined (ReasonJoin, not a merge of partitions, whose
// members have state of their own) into a group that has a member with
// state to give.
func joins(v *client.View) bool {
	return v.Reason == client.ReasonJoin && len(v.Joined) > 0 &&
		slices.ContainsFunc(v.Members, func(m string) bool { return !slices.Contains(v.Joined, m) })
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// snapshot is a TypeSnapshot payload: the view id, the members it is for
// (every member waiting at the cut), and the state, each a uvarint
// length then the bytes.
type snapshot struct {
	view    string
	pending []string
	state   []byte
}

func (s *snapshot) append(b []byte) []byte {
	b = appendBytes(b, []byte(s.view))
	b = binary.AppendUvarint(b, uint64(len(s.pending)))
	for _, p := range s.pending {
		b = appendBytes(b, []byte(p))
	}
	return appendBytes(b, s.state)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

var errSnapshot = errors.New("vs: malformed snapshot message")

func parseSnapshot(b []byte) (snapshot, error) {
	var s snapshot
	view, b, ok := readBytes(b)
	if !ok {
		return s, errSnapshot
	}
	s.view = string(view)
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return s, errSnapshot
	}
	b = b[k:]
	for range n {
		var p []byte
		if p, b, ok = readBytes(b); !ok {
			return s, errSnapshot
		}
		s.pending = append(s.pending, string(p))
	}
	if s.state, b, ok = readBytes(b); !ok || len(b) != 0 {
		return s, errSnapshot
	}
	return s, nil
}

func readBytes(b []byte) (p, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, b, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}
