package gateway

import (
	"testing"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
)

// TestHandover drives a handover from a1 to a2 through gateway.Handover
// at the three nodes of a site, as the agent and gateway/hiersim do: only
// the old gateway drains; Stopped ends its term; at the release the new gateway alone starts a member and is
// the active gateway from then on, the others are not; a release of an
// epoch already applied changes nothing.
func TestHandover(t *testing.T) {
	conf := &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: 4}, ID: "r:4",
		Members: []localring.Member{{ID: "a1", Inc: 1}, {ID: "a2", Inc: 1}, {ID: "a3", Inc: 1}}}
	var hs []Handover
	for _, id := range []string{"a1", "a2", "a3"} {
		b, err := bridge.New(bridge.Config{Domain: "fed/test", Site: "a", Node: localring.NodeID(id)})
		if err != nil {
			t.Fatal(err)
		}
		b.LocalInstall(conf, id == "a1")
		hs = append(hs, Handover{B: b, Self: id})
	}
	for i, h := range hs {
		if drain := h.Agreed("a1"); drain != (i == 0) {
			t.Errorf("%s: Agreed says drain %v, want %v (only the old gateway drains)", h.Self, drain, i == 0)
		}
	}
	if !hs[0].B.Active() {
		t.Fatal("a1 stopped being the active gateway at the agreement: it drains until its member stopped")
	}
	hs[0].Stopped()
	if hs[0].B.Active() {
		t.Error("a1 is still the active gateway once its member stopped")
	}
	for i, h := range hs {
		start := h.Released("a2", 1)
		if start != (i == 1) || h.B.Active() != (i == 1) {
			t.Errorf("%s: Released says start %v, active %v; want both %v (only the new gateway)", h.Self, start, h.B.Active(), i == 1)
		}
	}
	if hs[2].Released("a3", 1); hs[2].B.Active() {
		t.Error("a3 became the active gateway on a release of an epoch already applied")
	}
}
