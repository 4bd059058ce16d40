package transport_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/wanem"
)

// TestRingOverCongestedPath: a federation ring of three sites whose window
// is sized from a declared 50 Mbit/s, over paths that carry 2 Mbit/s with
// 1 % loss (40 ms RTT), saturated by every site for 8 s, keeps its first
// configuration and loses no token, both also while its queues drain in
// the 5 s after the load, drops nothing in its send queues, and
// delivers. Before the transport kept the ring's control packets apart
// from its messages and the driver bounded the node's sending by the
// transport's backlog, the window overflowed the send queues, the token
// waited behind seconds of messages and the ring re-formed again and
// again. Before stream mode sent tokens as datagrams, a token whose QUIC
// packet was lost in a burst of tail drops (QUIC's slow start overflowing
// the paths' 100 ms queues when the saturation starts) arrived only when
// QUIC had repaired it, up to 0.48 s later, with every copy the ring
// resent held behind it, and the token timeout (504 ms) fired; and
// before runRing submitted in batches, its first pass held each driver
// 0.65-0.7 s on a loaded machine. runRing logs the token's hops before
// each loss, and runs again when every loss followed a stall of the whole
// process (see below). Until the losses of the drain were counted, a run
// that re-formed then failed with "lost its token 0 times and installed 1
// new configurations", its loss neither logged nor judged.
func TestRingOverCongestedPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a ring over emulated WAN paths for about 20 s")
	}
	if raceEnabled {
		t.Skip("judges token losses in real time, which the race detector's slowdown distorts; go test without -race runs it")
	}
	const capBits = 2_000_000
	path := wanem.Params{Delay: 20 * time.Millisecond, Loss: 0.01, BitsPerSec: capBits}
	// A run whose every token loss came within a token timeout of a stall
	// of the whole test process (the machine gave it no CPU for 100 ms or
	// more, at once or in all over the token timeout before the loss:
	// runRing's scheduling probe, ringTap.starvedLosses) judges the
	// machine, not the ring: it runs again, up to three runs. A loss
	// without such stalls fails at once; so do three starved runs.
	const attempts = 3
	var r ringResult
	for i := 1; ; i++ {
		r = runRing(t, transport.ModeStreams, 1, path, 50_000_000, 8*time.Second, 0)
		if r.tokenLost == 0 || r.starvedLosses < r.tokenLost {
			break
		}
		if i == attempts {
			t.Errorf("in each of %d runs every token loss followed a stall of the whole test process: the machine is too loaded to judge the ring", attempts)
			break
		}
		t.Logf("run %d: each of its %d token losses followed a stall of the whole test process (logged above); running again", i, r.tokenLost)
	}
	rate := r.rate(2*time.Second, 8*time.Second)
	t.Logf("delivered %.0f msgs/s everywhere, %d token losses, %d new configurations, %d packets dropped by send queues", rate, r.tokenLost, r.reconfigs, r.queueDrops)
	if r.tokenLost != 0 || r.reconfigs != 0 {
		t.Errorf("the ring lost its token %d times and installed %d new configurations; want none", r.tokenLost, r.reconfigs)
	}
	if r.queueDrops != 0 {
		t.Errorf("the transports dropped %d packets from full send queues; want none", r.queueDrops)
	}
	// Each site's messages cross its own 2 Mbit/s paths: the ring can
	// carry about 3 × 250 messages of 1000 bytes per second. Ask for a
	// tenth of it, which a loaded machine still makes.
	if min := 0.1 * 3 * capBits / 8 / ringMsgBytes; rate < min {
		t.Errorf("delivered %.0f msgs/s everywhere, want at least %.0f", rate, min)
	}
}

// TestRingUDP runs a ring of three sites in ModeUDP through emulated
// paths of 20 ms RTT, 1 % loss and 20 Mbit/s, the bandwidth declared
// right, each site submitting 20 messages/s for 4 s: the ring packets
// travel in sealed datagrams, none of those is refused (the network
// duplicates nothing here), the members' traces pass the EVS checker as
// a quiescent run, the three sites end in one ring, and a ring that kept
// its configuration delivered every message at every site.
//
// Delivery everywhere is asserted only when the ring kept its
// configuration: that is all EVS promises (EVS.md 3, 4). With this
// ring's 252 ms token timeout a stall of the test process past it (at
// load 20, in one run, the three drivers had no pass for 275-399 ms and
// the scheduling probe for 135 and 160 ms, and all three lost the
// token at once) makes the
// members lose the token and form rings of fewer sites before they merge
// again; a message sent in such a ring is delivered only by its members
// (and one a site sent just before the split, only by the sites that
// received it and went on together), and the test counted them as lost:
// 172 of 243 delivered everywhere (that run kept no trace; with site c
// cut off for 1 s of the load instead, 172 of 243 and 184 of 249 were,
// and the traces passed the EVS checker). Where the
// ring splits, the EVS checker holds the members to what EVS promises
// instead: self-delivery, the same messages at members that go on
// together (so every message everywhere when all three go on together),
// Safe and order.
func TestRingUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a ring over emulated WAN paths for about 12 s")
	}
	const capBits = 20_000_000
	path := wanem.Params{Delay: 10 * time.Millisecond, Loss: 0.01, BitsPerSec: capBits}
	r := runRing(t, transport.ModeUDP, 0, path, capBits, 4*time.Second, 20)
	t.Logf("%d messages submitted, %d delivered everywhere, p50 %.0f ms, p99 %.0f ms; %d sealed datagrams sent, %d refused; %d token losses, %d new configurations",
		r.submitted, len(r.lat), r.pct(50), r.pct(99), r.ringSent, r.ringRefused, r.tokenLost, r.reconfigs)
	if r.submitted == 0 || len(r.lat) == 0 {
		t.Errorf("%d of %d messages delivered everywhere", len(r.lat), r.submitted)
	}
	if vs := evs.Check(r.trace, evs.Options{Quiescent: true}); len(vs) > 0 {
		var b strings.Builder
		evs.Report(&b, vs)
		t.Errorf("EVS violations in the members' traces (%d events):\n%s", len(r.trace), b.String())
	}
	if !r.oneRing {
		t.Errorf("the three sites were not in one ring 5 s after the load ended")
	}
	if r.reconfigs == 0 && len(r.lat) != r.submitted {
		t.Errorf("%d of %d messages delivered everywhere by a ring that kept its configuration", len(r.lat), r.submitted)
	}
	if r.ringSent == 0 {
		t.Errorf("no sealed datagram sent: the ring packets went over QUIC")
	}
	if r.ringRefused != 0 {
		t.Errorf("%d sealed datagrams refused", r.ringRefused)
	}
}
