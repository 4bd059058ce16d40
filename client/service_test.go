package client

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// The client's service levels are the ring's, value for value.
func TestServiceMatchesRing(t *testing.T) {
	pairs := map[Service]localring.Service{Unreliable: localring.Unreliable, Reliable: localring.Reliable,
		FIFO: localring.FIFO, Causal: localring.Causal, Agreed: localring.Agreed, Safe: localring.Safe}
	for c, r := range pairs {
		if uint8(c) != uint8(r) || c.String() != r.String() {
			t.Errorf("client %v (%d) != ring %v (%d)", c, c, r, r)
		}
		if got, err := ParseService(r.String()); err != nil || got != c {
			t.Errorf("ParseService(%q) = %v, %v", r.String(), got, err)
		}
	}
	if _, err := ParseService("fast"); err == nil {
		t.Error("ParseService accepted an unknown level")
	}
}
