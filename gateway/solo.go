package gateway

import (
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// soloGraceRounds is SoloGrace in membership rounds of the federation
// ring: a member that starts joins the other sites' ring within one or
// two when they are reachable.
const soloGraceRounds = 4

// SoloGrace is how long a gateway term's new federation member, started
// by a failover, a handover or a resumption once the domain's stream has
// started, keeps its rings of its site alone out of the bridge (the
// agent's startsAlone; gateway/hiersim's driver does the same):
// soloGraceRounds membership rounds (merge, consensus and token timeouts)
// of the ring's settings c. Until it has joined another site, a new term
// cannot learn what its predecessor's member got ordered in the last
// ring: the other sites deliver those Ups there, and a ring of its site
// alone would order them again at other places (hiersim
// TestCrashThenLongStall). After the grace the site goes on alone, a
// partition of it: waiting on would keep a site cut off as its gateway
// died out of the domain for as long as it is cut off (EVS.md 2.5;
// internal/sites TestFailoverKeepsConfiguration). Known gap: what it then
// orders of the Ups its predecessor's member got ordered is ordered a
// second time, at other places than the other sites delivered them
// (gateway/bridge, "Catch-up, and the bound"). hiersim
// TestKnownCutAsGatewayDies (ATOLL_KNOWN_BUGS=1) produces it: a site cut
// off from every other site for 30 s as its gateway dies breaks EVS at
// 97 of seeds 1-100 (the site's Ups, its killed gateway's node's
// orphans and its live nodes', at two domain positions, EVS 6; its live
// nodes' told sent in its ring alone and delivered by the others in
// their transitional configuration, 1.3); cut off for 10 s, within the
// grace, it holds
// (TestCutAsGatewayDiesWithinGrace).
func SoloGrace(c localring.Config) time.Duration {
	return soloGraceRounds * (c.MergeTimeout + c.ConsensusTimeout + c.TokenTimeout)
}
