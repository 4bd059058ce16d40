package client_test

import (
	"testing"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/groups"
)

// TestReason: the client's reasons are the group layer's, whose numbers
// the protocol carries, with the same names; an unknown one, or none (a
// transitional view's), prints its number.
func TestReason(t *testing.T) {
	for _, c := range []struct {
		r    client.Reason
		g    groups.Reason
		name string
	}{
		{client.ReasonJoin, groups.ReasonJoin, "join"},
		{client.ReasonLeave, groups.ReasonLeave, "leave"},
		{client.ReasonDisconnect, groups.ReasonDisconnect, "disconnect"},
		{client.ReasonNetwork, groups.ReasonNetwork, "network"},
		{0, 0, "reason(0)"},
		{9, 9, "reason(9)"},
	} {
		if uint8(c.r) != uint8(c.g) || c.r.String() != c.name || c.g.String() != c.name {
			t.Errorf("client %d %q, groups %d %q, want the same number and name %q", c.r, c.r, c.g, c.g, c.name)
		}
		if b, _ := c.r.MarshalText(); string(b) != c.name {
			t.Errorf("MarshalText of %d = %q, want %q", c.r, b, c.name)
		}
	}
}
