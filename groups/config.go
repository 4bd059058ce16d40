package groups

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/atoll-gcs/atoll/localring"
)

// Config configures a Node. Zero values mean the defaults.
type Config struct {
	// Node is this node's ring identity: the id and the incarnation of
	// the ring node whose events the Node consumes. Required.
	Node localring.Member

	// MaxMessageBytes is the largest ring payload the Node produces; it
	// must not exceed the ring's own limit (localring.Config
	// MaxMessageBytes). Multicasts whose encoding is larger fail with
	// ErrTooLarge; state-exchange reports are split to fit. Default
	// localring.MaxMessageBytes (1 MiB).
	MaxMessageBytes int

	// WindowMsgs bounds this node's group messages handed to the ring but
	// not yet sent by it. A small window keeps the ring's queue short, so
	// that few messages have to be sent again after a merge. Default 256.
	WindowMsgs int

	// MaxQueuedMsgs bounds the requests and messages accepted from local
	// clients and not yet sent by the ring; beyond it the client API
	// returns ErrBackpressure. Default 10,000.
	MaxQueuedMsgs int

	// AllViews makes the Node emit an EventView for every view of every
	// group, also for groups without local members. A node's trace must
	// hold every view for the EVS checker to judge it (a gap between two
	// views of a group looks like members leaving without a reason), so
	// agents that write --trace and tests set it. Default false: views
	// are emitted only when local members see them.
	AllViews bool

	// Yield, when set, is called every few hundred groups in the loops
	// whose work grows with the number of groups (the views and the state
	// exchange of a configuration change: about a second of CPU at
	// 100,000 groups), so that a caller can let other work run in the
	// middle of one Step (the agent lets its ring loop pass the token).
	// It must not call the Node. Default nil.
	Yield func()

	// ReuseMessages makes the Messages of the EventDeliver and EventSent
	// events of a Ready the Node's again once the caller Releases that
	// Ready: the Node reuses them (and the lists of groups and recipients
	// they hold) for later deliveries and multicasts, one allocation less
	// per delivered message and per message multicast. A
	// caller that sets it keeps no pointer into those events past
	// Release (the agent encodes each delivery into its clients' frames
	// at once). Default false: every Message stays the caller's.
	ReuseMessages bool
}

func (c *Config) setDefaults() {
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, localring.MaxMessageBytes)
	c.WindowMsgs = cmp.Or(c.WindowMsgs, 256)
	c.MaxQueuedMsgs = cmp.Or(c.MaxQueuedMsgs, 10000)
}

// minMessageBytes is the smallest MaxMessageBytes: room for a report of
// one group with one member and an ACL of full-length patterns.
const minMessageBytes = 64 << 10

// Validate checks the configuration (after defaults are applied).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("groups: "+format, args...)) }
	if c.Node.ID == "" {
		bad("Node.ID is empty: set it to the ring node's id")
	} else if len(c.Node.ID) > 255-1-MaxClientName {
		bad("node id %q is longer than %d bytes", c.Node.ID, 255-1-MaxClientName)
	}
	if c.MaxMessageBytes < minMessageBytes || c.MaxMessageBytes > localring.MaxMessageBytes {
		bad("MaxMessageBytes %d must be between %d and %d", c.MaxMessageBytes, minMessageBytes, localring.MaxMessageBytes)
	}
	if c.WindowMsgs < 1 {
		bad("WindowMsgs %d must be at least 1", c.WindowMsgs)
	}
	if c.MaxQueuedMsgs < 1 {
		bad("MaxQueuedMsgs %d must be at least 1", c.MaxQueuedMsgs)
	}
	return errors.Join(errs...)
}
