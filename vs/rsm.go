package vs

import (
	"context"
	"fmt"
	"slices"

	"github.com/atoll-gcs/atoll/client"
)

// Machine is a deterministic state machine that an RSM replicates. The
// RSM calls its methods from Run only, one at a time.
type Machine interface {
	// Apply applies one operation. Given the same state and operation,
	// every replica must reach the same state.
	Apply(op []byte)
	// Snapshot and Restore give a joining replica the state (Transfer).
	Snapshot() []byte
	Restore(snapshot []byte) error
}

// RSM replicates a Machine over a group: Submit multicasts an operation
// Agreed (type TypeOp), and every replica applies the operations in the
// ring's one total order, so every replica that delivered the same
// operations holds the same state. A replica that joins gets the state
// by Transfer before it applies any operation; a replica that dies
// leaves with its session, and the others go on.
//
// An RSM owns its client's events: Run reads them until the session ends.
type RSM struct {
	c      *client.Client
	group  string
	m      Machine
	tr     *Transfer
	leader *Leader
	member chan struct{} // closed at the first view that lists the replica
	done   chan struct{} // closed when Run returns
}

// NewRSM returns the replica of m on group through c. onLeader, if not
// nil, is called from Run when the group's leader changes.
func NewRSM(c *client.Client, group string, m Machine, onLeader func(LeaderChange)) *RSM {
	r := &RSM{c: c, group: group, m: m, member: make(chan struct{}), done: make(chan struct{})}
	r.tr = NewTransfer(c, group, c.Name(), machineAdapter{m})
	r.leader = NewLeader(group, c.Name(), onLeader)
	return r
}

type machineAdapter struct{ m Machine }

func (a machineAdapter) Snapshot() []byte       { return a.m.Snapshot() }
func (a machineAdapter) Restore(s []byte) error { return a.m.Restore(s) }
func (a machineAdapter) Apply(msg *client.Message) {
	if msg.Type == TypeOp {
		a.m.Apply(msg.Payload)
	}
}

// Leader returns the tracker of the group's leader.
func (r *RSM) Leader() *Leader { return r.leader }

// Synced reports whether the replica holds the state: it is not waiting
// for a snapshot. It is safe to call from any goroutine.
func (r *RSM) Synced() bool { return r.tr.Synced() }

// Submit multicasts op to every replica, itself included; it is applied
// when it is delivered, in the group's total order. It waits until the
// replica is a member of the group (Run has seen the view that lists it),
// then returns once the operation is queued, waiting for room while the
// ring carries less than is offered (client.Client.MulticastWait), as long as ctx
// allows.
func (r *RSM) Submit(ctx context.Context, op []byte) error {
	select {
	case <-r.member:
	case <-r.done:
		return fmt.Errorf("vs: %s: the replica stopped before it joined", r.group)
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.c.MulticastWait(ctx, client.Agreed, TypeOp, []string{r.group}, op)
}

// Run joins the group, then applies what the client delivers until the
// session ends or ctx is done; call it once. It returns the session's
// end (c.Err()), ctx's error, or a state transfer's error.
func (r *RSM) Run(ctx context.Context) error {
	defer close(r.done)
	if err := r.c.Join(ctx, r.group); err != nil {
		return fmt.Errorf("vs: joining %s: %w", r.group, err)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-r.c.Events():
			if !ok {
				return r.c.Err()
			}
			if e.Kind == client.EventView {
				r.leader.Observe(e.View)
				if e.View.Group == r.group && slices.Contains(e.View.Members, r.c.Name()) {
					select {
					case <-r.member:
					default:
						close(r.member)
					}
				}
			}
			if err := r.tr.Handle(ctx, e); err != nil {
				return err
			}
		}
	}
}
