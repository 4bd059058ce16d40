package agent

import (
	"errors"
	"fmt"
	"slices"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// Point-to-point messages across sites.
//
// A point-to-point message (client Send) is a group layer message like a
// multicast, ordered with its sender's messages in that layer's total
// order and delivered only to the named member (groups.Node.Send). To a
// member at this agent's site it goes through the site's group layer, as
// always. To a member at another site (the member's node, by the topology
// file, is at another site) it goes through the group layer of one
// federation domain that holds both sites: up through this site's active
// gateway, ordered by the domain's federation ring, and down at every
// site of the domain (the bridge brings every message down to every site
// of its domain; as a stub without its data to a site that neither sent
// it nor holds its recipient, unless the topology's federation.unneeded
// is full), where only the
// target member's agent hands it to its
// client; every agent of the domain traces it, as a site's agents trace a
// local point-to-point message.
//
// The domain is the first federation domain of the plan that holds both
// sites. The plan lists federation domains tightest class first, then by
// name, so it is the domain of the tightest latency class that spans the
// two sites: the one with the lowest predicted latency. It depends on the
// plan only, so every message from one site to another goes through the
// same domain: a sender's point-to-point messages to a member reach it in
// the order sent, and in that domain's order with the sender's multicasts
// to the domain's groups. They have no order with the sender's
// multicasts to groups of other domains (the site's own groups, or a
// looser class's domain), as messages of two domains have none.
//
// The member must be a member of a group that this agent can see: a group
// of any federation domain holding the member's site (the views of every
// such domain layer are checked, not only the chosen one's). No domain
// holding both sites: the message is refused with an error naming the
// sites, and the topology file needs a group spanning both. A Safe one is
// Safe across the domain, as a Safe multicast is.

// p2pRoute is where a point-to-point message goes (Agent.sendLayer).
type p2pRoute struct {
	layer *groups.Node
	// check says the layer checks that the member is in one of its groups
	// (false: another domain's views list it).
	check bool
	// domain and site are the federation domain and the member's site of
	// a message to another site ("" for the site's own layer).
	domain, site string
}

// sendLayer returns the route of a point-to-point message to member, or
// why the agent refuses it. Every service level crosses sites: a Safe
// message of a federation domain is delivered once every member of every
// site of the domain's configuration holds it (gateway/bridge).
func (a *Agent) sendLayer(member string) (p2pRoute, string) {
	local := p2pRoute{layer: a.g, check: true}
	if a.cfg.Federation == nil || a.cfg.Federation.File == nil {
		return local, ""
	}
	node, _, err := groups.SplitMember(member)
	if err != nil {
		return local, "" // the group layer says what is wrong with the name
	}
	site, _, ok := a.cfg.Federation.File.Node(string(node))
	if !ok || site.Name == a.cfg.Site {
		return local, ""
	}
	d := p2pDomain(a.cfg.Federation.Plan, a.cfg.Site, site.Name)
	var dl *domainLayer
	if d != nil {
		dl = a.domainNamed(d.Name)
	}
	if dl == nil {
		return p2pRoute{}, fmt.Sprintf("point-to-point message to %s refused: its node %s is at site %s, and no federation domain of the plan holds both site %s (this agent's) and site %s, so no order carries messages between them; give the topology file a group whose sites include both %s and %s, so that the planner forms a domain spanning them (atoll plan shows it), and restart the agents with that file",
			member, node, site.Name, a.cfg.Site, site.Name, a.cfg.Site, site.Name)
	}
	r := p2pRoute{layer: dl.g, check: true, domain: d.Name, site: site.Name}
	for _, o := range a.doms {
		if slices.Contains(o.d.Sites, site.Name) && o.g.HasMember(member) {
			r.check = false
			break
		}
	}
	return r, ""
}

// p2pDomain returns the federation domain of plan that orders the
// point-to-point messages between sites from and to: the first that
// holds both (the tightest class's, then by name); nil when none does.
func p2pDomain(plan *topology.Plan, from, to string) *topology.Domain {
	if plan == nil {
		return nil
	}
	for i := range plan.Domains {
		d := &plan.Domains[i]
		if d.Kind == topology.FederationDomain && slices.Contains(d.Sites, from) && slices.Contains(d.Sites, to) {
			return d
		}
	}
	return nil
}

// send sends a client's point-to-point message on its route.
func (a *Agent) send(r p2pRoute, client, to string, svc localring.Service, msgType uint16, payload []byte) (uint64, error) {
	if !r.check {
		return r.layer.SendUnchecked(client, to, svc, msgType, payload)
	}
	seq, err := r.layer.Send(client, to, svc, msgType, payload)
	if err != nil && r.domain != "" && errors.Is(err, groups.ErrNotMember) {
		err = fmt.Errorf("%w (point-to-point messages from site %s to site %s go through federation domain %s; the member must be in a group of a domain that spans site %s)", err, a.cfg.Site, r.site, r.domain, r.site)
	}
	return seq, err
}
