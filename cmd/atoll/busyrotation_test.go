package main

import (
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// TestAgentBusyRotationDefault: `atoll agent` holds a fast, lightly
// loaded ring's token at its representative by default (--busy-rotation
// 1ms, defaultBusyRotation says why), and the default is valid with every
// ring timing the agent can run with: the ring refuses a busy rotation at
// or above half its token retransmit interval, so a default too long for
// one preset would keep the agent from starting there.
func TestAgentBusyRotationDefault(t *testing.T) {
	f := newAgentCmd().Flags().Lookup("busy-rotation")
	if f == nil {
		t.Fatal("atoll agent has no --busy-rotation flag")
	}
	if f.DefValue != time.Millisecond.String() || defaultBusyRotation != time.Millisecond {
		t.Errorf("--busy-rotation defaults to %s (defaultBusyRotation %v), want 1ms", f.DefValue, defaultBusyRotation)
	}
	for name, retransmit := range map[string]time.Duration{
		"lan preset":           localring.DefaultLAN("").TokenRetransmit,
		"cloud preset":         localring.DefaultCloud("").TokenRetransmit,
		"plan's floor":         topology.DeriveTimeouts(0, 0).Retransmit.D(),
		"plan of a 3-node LAN": topology.DeriveTimeouts(500*time.Microsecond, 200*time.Microsecond).Retransmit.D(),
	} {
		if defaultBusyRotation >= retransmit/2 {
			t.Errorf("%s: token retransmit %v: the default busy rotation %v is not below half of it", name, retransmit, defaultBusyRotation)
		}
	}
	// A ring accepts it.
	c := localring.DefaultLAN("a")
	c.BusyRotation = defaultBusyRotation
	if _, err := localring.New(c); err != nil {
		t.Errorf("a LAN ring refuses the default busy rotation: %v", err)
	}
}

// TestAgentIdleLingerDefault: `atoll agent --idle-linger` is 1 ms by
// default (defaultIdleLinger says why: a latency for CPU trade measured at
// that value), and a ring accepts the default and a longer setting.
func TestAgentIdleLingerDefault(t *testing.T) {
	f := newAgentCmd().Flags().Lookup("idle-linger")
	if f == nil {
		t.Fatal("atoll agent has no --idle-linger flag")
	}
	if f.DefValue != time.Millisecond.String() || defaultIdleLinger != time.Millisecond {
		t.Errorf("--idle-linger defaults to %s (defaultIdleLinger %v), want 1ms", f.DefValue, time.Duration(defaultIdleLinger))
	}
	for _, d := range []time.Duration{defaultIdleLinger, 5 * time.Millisecond} {
		c := localring.DefaultLAN("a")
		c.IdleLinger = d
		if _, err := localring.New(c); err != nil {
			t.Errorf("a LAN ring refuses an idle linger of %v: %v", d, err)
		}
	}
}
