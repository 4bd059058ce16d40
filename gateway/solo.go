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
// ring: the other sites deliver those Ups there. Joining them within the
// grace, the site catches up from their answer (hiersim
// TestCutAsGatewayDiesWithinGrace, TestCrashThenLongStall), and a
// failover whose new member joins them before a ring without the site
// settles changes no configuration (gateway/bridge, "Failover without a
// configuration change"): a ring of the site alone, formed first while
// its new member looks for the others, would make every failover a
// partition and a merge of the site.
// After the grace the site goes on alone, a partition of it: waiting on
// would keep a site cut off as its gateway died out of the domain for as
// long as it is cut off (EVS.md 2.5; internal/sites
// TestFailoverKeepsConfiguration). The grace is no safety bound: a term
// that leaves the domain's configuration before it learned the fate of
// the Ups its predecessor may have submitted delivers them in its site's
// transitional configuration, without a domain position, and submits
// none of them (gateway/bridge Entry.InDoubt, "Catch-up, and the bound";
// hiersim TestCutAsGatewayDies: a site cut off for 30 s as its gateway
// dies, which broke EVS 6 and 1.3 at 97 of seeds 1-100 while the term
// submitted them again in its ring alone).
func SoloGrace(c localring.Config) time.Duration {
	return soloGraceRounds * (c.MergeTimeout + c.ConsensusTimeout + c.TokenTimeout)
}
