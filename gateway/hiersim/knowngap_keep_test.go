//go:build knowngaps

// Known gap, kept as a reproduction that FAILS on purpose; it is built
// only with -tags knowngaps, so `go test ./...` and CI do not run it:
//
//	go test -tags knowngaps ./gateway/hiersim -run 'TestStrayRingHealsFirst' -v
//
// An active gateway cut off from its site's local ring and from every
// other site holds its federation member's rings of its site alone
// (gateway.Grace.Keep, the kept hold). If its site's ring is whole again
// while it is still cut off from every other site, the hold stays on:
// the site does not go on alone until a federation link heals, where a
// site cut off goes on alone after gateway.SoloGrace (bridge, "Not waited
// for", its known gap). Liveness only: every EVS check passes. When a fix
// lands, drop the build tag.
package hiersim

import (
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/topology"
)

// TestStrayRingHealsFirst runs FaultStrayGatewayRingFirst with the old
// gateway cut off from its site and from every other site for 3 s longer
// than gateway.SoloGrace (Options.strayCut: its grace Keep holds its
// member's ring of its site alone), then its site's ring whole again (the
// role back at it) and its federation links cut for SoloGrace + 3 s more
// (Outage), under every check of report: every node of the site must
// deliver client messages in a regular domain configuration of its site
// alone within SoloGrace and aloneSlack of the local heal
// (Result.AloneAfterHeal). On main none does at any of seeds 1-20 (the
// links heal first). Ending the held member and resuming the term with a
// new one once the ring holds every node it lost (attempt B, branch
// keepheal2-attemptB) met the bound at every seed (21.66-22.16 s) but
// broke EVS 6 and 9 at 9 of seeds 1-20: the new term, alone, delivers
// the other part's gateway's Ups in doubt in its own pending order, its
// predecessor taken to be its own held term (bridge, "The order of Ups in
// doubt is the predecessor's", its known gaps).
func TestStrayRingHealsFirst(t *testing.T) {
	parallel(t)
	f, err := topology.Load(topologyFile)
	if err != nil {
		t.Fatal(err)
	}
	grace := gateway.SoloGrace(federation.RingConfig(f, f.Plan().FederationDomains()[0]))
	bound := grace + aloneSlack
	log := openLog(t)
	eachSeed(*first, seedCount(), func(seed uint64) {
		o := Options{Topology: topologyFile, Log: log, Fault: FaultStrayGatewayRingFirst, strayCut: grace + 3*time.Second, Outage: grace + 3*time.Second, BridgeOnly: layerOff(t, FaultStrayGatewayRingFirst)}
		r, err := Run(seed, o)
		if err != nil {
			t.Error(err)
			return
		}
		report(t, o, r)
		for id, d := range r.AloneAfterHeal {
			if d < 0 || d > bound {
				t.Errorf("seed %d: %s delivered in no configuration of its site alone within %v of its local ring whole again (%v; -1: none to the end)", seed, id, bound, d)
			}
		}
	})
}

// aloneSlack is how long after gateway.SoloGrace from the local heal
// TestStrayRingHealsFirst lets the site take to go on alone: a
// resumption's local message, the new member's ring of its site alone,
// and the bridge's configurations (attempt B took 60-560 ms).
const aloneSlack = 3 * time.Second
