package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// Gateway handover on demand. Any node of a site may ask: it checks the
// request against its own view of the role (federation.Role.Check) and
// submits it on the local ring (federation.EncodeHandover). Every node of
// the configuration applies it at its delivery, the same point of the
// agreed stream everywhere (domainsLocalEvent): if the old gateway is
// still active then, the handover is agreed; the old gateway submits no
// more Ups to the federation ring (bridge Site.Handover) and stops its
// federation ring member gracefully, numbering and injecting what the
// member still delivers, so that the site learns the fate of every Up it
// submitted; once the member stopped, it submits the release. At the
// release's delivery the role moves (federation.Role.Release): the new
// gateway starts its member with a higher incarnation, and the bridge
// takes the change as at a configuration install (bridge Site.Release).
// The node that asked answers its caller once it applied the release.

// HandoverReply is the outcome of an agreed handover
// (POST /v1/federation/{domain}/handover).
type HandoverReply struct {
	Domain string `json:"domain"`
	Site   string `json:"site"`
	// From and To are the gateways the role moved from and to.
	From string `json:"from"`
	To   string `json:"to"`
	// LocalRing is the local ring configuration it was agreed in, Epoch
	// the number of handovers agreed in it so far, and Incarnation the
	// new gateway's federation incarnation (federation.Incarnation).
	LocalRing   string `json:"local_ring"`
	Epoch       int    `json:"epoch"`
	Incarnation uint64 `json:"incarnation"`
	// Agreed is true once the handover took effect (the local ring
	// delivered the old gateway's release); false when it had not when
	// the wait ended (202): Note says how to watch for it.
	Agreed bool   `json:"agreed"`
	Note   string `json:"note"`
}

// HandoverRequest is the optional body of POST
// /v1/federation/{domain}/handover.
type HandoverRequest struct {
	// To names the gateway to hand the role to; empty: the next gateway
	// in the plan's takeover order after the active one that is in the
	// local ring.
	To string `json:"to,omitempty"`
}

// HandoverWait is how long Handover waits for the local ring to agree
// before it answers that the request is on its way (Agreed false): below
// the admin client's 5 s timeout. A ring agrees in milliseconds; a
// membership change under way can hold it longer.
const HandoverWait = 3 * time.Second

// handovers are a node's requests waiting for their delivery (group loop).
type handovers struct {
	nonce uint64
	wait  map[uint64]chan handoverOutcome
}

type handoverOutcome struct {
	reply HandoverReply
	err   error
}

// domainNamed returns the layer of the site's federation domain name.
func (a *Agent) domainNamed(name string) *domainLayer {
	for _, dl := range a.doms {
		if dl.d.Name == name {
			return dl
		}
	}
	return nil
}

// Handover moves the site's active gateway role for domain to gateway
// to (empty: the next in takeover order that is in the local ring) by an
// agreed message of the local ring, and returns once this node applied
// the release that makes it take effect, or after HandoverWait with
// Agreed false. Refusals wrap
// federation.ErrHandoverRefused (or ErrNotFound for a domain the site is
// not in) and say what to do.
func (a *Agent) Handover(ctx context.Context, domain, to string) (HandoverReply, error) {
	var ch chan handoverOutcome
	var reply HandoverReply
	var ferr error
	err := a.onLoop(ctx, func() {
		dl := a.domainNamed(domain)
		if dl == nil {
			var names []string
			for _, d := range a.doms {
				names = append(names, d.d.Name)
			}
			ferr = fmt.Errorf("%w: %q is not a federation domain of site %s (its domains: %s); see `atoll inspect federation`", ErrNotFound, domain, a.cfg.Site, orNone(names))
			return
		}
		from, target, err := dl.role.Check(to)
		if err != nil {
			ferr = err
			return
		}
		if a.hov.wait == nil {
			// Nonces of this incarnation start at its number: a request
			// of an earlier incarnation is never taken for one of this.
			a.hov.wait, a.hov.nonce = map[uint64]chan handoverOutcome{}, a.self.Inc
		}
		a.hov.nonce++
		ch = make(chan handoverOutcome, 1)
		a.hov.wait[a.hov.nonce] = ch
		a.gl.queue = append(a.gl.queue, groups.Submit{Svc: localring.Agreed, Payload: federation.EncodeHandover(federation.HandoverRequest{
			Domain: domain, From: from, To: target, Requester: a.cfg.Node, Nonce: a.hov.nonce}), Class: dl.send})
		reply = HandoverReply{Domain: domain, Site: a.cfg.Site, From: from, To: target}
		a.log.Info("gateway handover requested: submitted to the local ring", "domain", domain, "from", from, "to", target)
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return HandoverReply{}, err
	}
	t := time.NewTimer(HandoverWait)
	defer t.Stop()
	select {
	case out := <-ch:
		return out.reply, out.err
	case <-t.C:
	case <-ctx.Done():
	case <-a.done:
		return HandoverReply{}, ErrStopped
	}
	reply.Note = fmt.Sprintf("the handover has not taken effect yet (the local ring has not agreed on it, or %s still drains its federation ring member); it takes effect if %s is still the active gateway when the ring agrees: watch with `atoll inspect federation --watch` or `atoll inspect events --watch`", reply.From, reply.From)
	return reply, nil
}

// handoverDelivered applies a handover or release message the local ring
// delivered (group loop): at every node, at this point of the stream.
func (a *Agent) handoverDelivered(m *localring.Message) {
	h, err := federation.DecodeHandover(m.Payload)
	if err != nil {
		a.log.Warn("malformed gateway handover message ignored", "from", string(m.ID.Sender), "err", err)
		return
	}
	dl := a.domainNamed(h.Domain)
	switch {
	case (h.Release || h.Resume) && string(m.ID.Sender) != h.From, !h.Release && !h.Resume && string(m.ID.Sender) != h.Requester:
		a.log.Warn("gateway handover message ignored: its sender is not the node it names", "from", string(m.ID.Sender), "domain", h.Domain, "release", h.Release)
	case dl == nil:
		a.answerHandover(h, handoverOutcome{err: fmt.Errorf("%w: %q is not a federation domain of site %s; see `atoll inspect federation`", ErrNotFound, h.Domain, a.cfg.Site)})
	case h.Release:
		a.releaseDelivered(dl, h)
	case h.Resume:
		if err := dl.role.Resume(h); err != nil {
			a.log.Info("gateway term resumption ignored", "domain", h.Domain, "gateway", h.From, "reason", err)
			return
		}
		local, epoch := dl.role.Term()
		a.log.Info("the active gateway resumes its term: a new federation ring member", "domain", h.Domain, "gateway", h.From, "local_ring", localring.RegularConfID(local), "epoch", epoch)
		a.fed.roleChanged(dl.d.Name, dl.role)
		if (gateway.Handover{B: dl.b, Self: a.cfg.Node}).Released(h.From, uint64(epoch)) {
			a.startSolo(dl, false)
		}
		a.domainOutput(dl)
	default:
		if err := dl.role.Handover(h); err != nil {
			a.log.Info("gateway handover not agreed", "domain", h.Domain, "from", h.From, "to", h.To, "requested_by", h.Requester, "reason", err)
			a.answerHandover(h, handoverOutcome{err: err})
			return
		}
		a.log.Info("gateway handover agreed: the active gateway drains its federation ring member, then the role moves", "domain", h.Domain, "from", h.From, "to", h.To, "requested_by", h.Requester)
		drain := gateway.Handover{B: dl.b, Self: a.cfg.Node}.Agreed(h.From)
		a.domainOutput(dl)
		if !drain {
			return
		}
		if run := a.fed.drain(dl.d.Name); run != nil {
			dl.draining = run // released once it stopped (takeFederation)
		} else {
			a.submitRelease(dl, h) // no member runs here: nothing to drain
		}
	}
}

// submitRelease submits the release of handover h (group loop).
func (a *Agent) submitRelease(dl *domainLayer, h federation.HandoverRequest) {
	h.Release = true
	a.gl.queue = append(a.gl.queue, groups.Submit{Svc: localring.Agreed, Payload: federation.EncodeHandover(h), Class: dl.send})
	a.log.Info("gateway handover: the federation ring member stopped, releasing the role", "domain", h.Domain, "to", h.To)
}

// releaseDelivered moves the role at the release of a handover (group loop).
func (a *Agent) releaseDelivered(dl *domainLayer, h federation.HandoverRequest) {
	if err := dl.role.Release(h); err != nil {
		a.log.Info("gateway handover release ignored", "domain", h.Domain, "from", h.From, "to", h.To, "reason", err)
		a.answerHandover(h, handoverOutcome{err: err})
		return
	}
	local, epoch := dl.role.Term()
	_, rank, _ := dl.role.Active()
	inc, _ := dl.role.Incarnation(rank)
	r := HandoverReply{Domain: h.Domain, Site: a.cfg.Site, From: h.From, To: h.To, LocalRing: localring.RegularConfID(local),
		Epoch: epoch, Incarnation: inc, Agreed: true,
		Note: "the federation ring re-forms with " + h.To + "'s member (site " + a.cfg.Site + " leaves the domain's configuration and joins it again, as at a failover): watch with `atoll inspect federation --watch`"}
	a.log.Info("gateway handover took effect: the site's active gateway moved", "domain", h.Domain, "from", h.From, "to", h.To,
		"requested_by", h.Requester, "local_ring", r.LocalRing, "epoch", epoch, "incarnation", inc)
	a.evlog.add(time.Now(), MembershipEvent{Kind: EventHandover, Ring: r.LocalRing, Member: h.To,
		Reason: fmt.Sprintf("domain %s: from %s to %s, requested at %s", h.Domain, h.From, h.To, h.Requester)})
	a.fed.roleChanged(dl.d.Name, dl.role)
	if (gateway.Handover{B: dl.b, Self: a.cfg.Node}).Released(h.To, uint64(epoch)) {
		a.startSolo(dl, false)
	}
	a.domainOutput(dl)
	a.answerHandover(h, handoverOutcome{reply: r})
}

// answerHandover gives the outcome of a request of this node to its
// caller.
func (a *Agent) answerHandover(h federation.HandoverRequest, out handoverOutcome) {
	if h.Requester != a.cfg.Node {
		return
	}
	if ch, ok := a.hov.wait[h.Nonce]; ok {
		delete(a.hov.wait, h.Nonce)
		ch <- out
	}
}

// drained handles the end of a draining federation ring member (group loop):
// the release of the handover; or, when a configuration change ended the
// handover and this node stayed the active gateway, a resumption: its
// gateway term ended with the member, and a new one starts (a new member,
// a Have phase) where every node applies the resumption (Role.Resume).
func (a *Agent) drained(dl *domainLayer) {
	dl.draining = nil
	gateway.Handover{B: dl.b, Self: a.cfg.Node}.Stopped()
	p, pending := dl.role.Pending()
	gw, _, ok := dl.role.Active()
	switch {
	case pending && p.From == a.cfg.Node:
		a.submitRelease(dl, p)
	case ok && gw == a.cfg.Node:
		a.submitResume(dl)
		a.log.Warn("a local ring configuration change ended the gateway handover while this gateway drained its federation ring member, and it stayed active: it resumes with a new member", "domain", dl.d.Name)
	}
	a.domainOutput(dl)
}

// submitResume submits this node's resumption of its gateway term
// (Role.Resume) on the local ring (group loop).
func (a *Agent) submitResume(dl *domainLayer) {
	a.hov.nonce++
	r := federation.HandoverRequest{Resume: true, Domain: dl.d.Name, From: a.cfg.Node, To: a.cfg.Node, Requester: a.cfg.Node, Nonce: a.hov.nonce}
	a.gl.queue = append(a.gl.queue, groups.Submit{Svc: localring.Agreed, Payload: federation.EncodeHandover(r), Class: dl.send})
}

// resumeFenced handles the end of this node's federation ring member,
// fenced by incarnation by of its own site's member, once no member runs
// here (group loop). If the local ring still makes this node the active
// gateway, with no handover under way, the fencer is another gateway of
// the site that was active in an older configuration: in a part of a
// split local ring, whose incarnation the other sites heard of, while
// this node's member went on with an incarnation from before the split
// (the merged ring kept this node active, and a node that stays active
// keeps its member). This
// node resumes at once with the next epoch (Role.Resume), whose
// incarnation is above the fencer's (the ring the parts merged into has
// a higher sequence number than either part's): without it, the site had
// no gateway in the domain until its local ring changed again, and its
// clients' Flush waited that long. A fencer that is not below the
// resumed incarnation speaks for the site from a newer configuration
// (its ring is split, and the other part is newer): this node does not
// resume, and two members of the site never fence each other in turn. So
// does a fencer that became active in a configuration numbered like this
// node's (as gateway/hiersim's resumeFenced: another node active in a
// configuration not older): a site's ring split cleanly into two parts
// numbers both parts' rings alike, and comparing the incarnations, each
// gateway's resumed one (the next epoch) was above the other's: they took
// the role from each other, one federation membership round each, until
// the epochs ran out (tests/fednetns TestOutrankedNetns's
// split, before: a-1 resumed 28 times in the 23 s after it, epochs 1 to
// 28 of r:8:a-1, each time fenced by a-2's member of r:8:a-2). The older or
// equally old part waits, and the part of at least half of the site takes
// the role back after gateway.OutrankedGrace (reformOutranked). One
// resumption per term: a second fenced member of the same term waits for
// the first one's.
func (a *Agent) resumeFenced(dl *domainLayer, by uint64) {
	gw, rank, ok := dl.role.Active()
	if !ok || gw != a.cfg.Node {
		return // another node is active: roleChanged fenced this member
	}
	local, epoch := dl.role.Term()
	if _, pending := dl.role.Pending(); pending || dl.draining != nil {
		return // the handover moves the role, or a configuration change ends it (drained)
	}
	if dl.resumed.local == local && dl.resumed.epoch == epoch {
		return
	}
	next, err := federation.Incarnation(local, epoch+1, rank)
	switch {
	case err != nil:
		a.log.Warn("this gateway's federation ring member was fenced by another of its site's, and it cannot resume in this local ring configuration; it starts again at the next configuration that makes it active", "domain", dl.d.Name, "superseded_by", by, "local_ring", localring.RegularConfID(local), "reason", err)
		return
	case federation.IncarnationSeq(by) >= local.Seq:
		a.log.Warn("this gateway's federation ring member was fenced by a newer one of its site while its local ring still makes it active (the site's local ring is split, and the other part's configuration is not older); it starts again at the next configuration that makes it active, or has its local ring form again after the outranked grace", "domain", dl.d.Name, "superseded_by", by, "local_ring", localring.RegularConfID(local), "grace", gateway.OutrankedGrace)
		dl.outranked.local, dl.outranked.above, dl.outranked.until = local, federation.IncarnationSeq(by), time.Now().Add(gateway.OutrankedGrace)
		return
	}
	dl.resumed.local, dl.resumed.epoch = local, epoch
	a.submitResume(dl)
	a.log.Warn("this gateway's federation ring member was fenced by another gateway of its site that was active in an older local ring configuration, and its local ring still makes it active: it resumes with a new member", "domain", dl.d.Name, "superseded_by", by, "local_ring", localring.RegularConfID(local), "epoch", epoch+1, "incarnation", next)
}

// resumeHealed ends this node's federation member of dl, which a grace
// Keep started holds (gateway.Grace.Healed: the site's local ring holds
// every node it lost, and this node is still its active gateway), and
// resumes the term with a new member (group loop): the new term catches
// up if it joins another site within its grace, and the site goes on
// alone after it, instead of staying held until a federation link heals.
func (a *Agent) resumeHealed(dl *domainLayer) {
	if _, pending := dl.role.Pending(); pending || dl.draining != nil {
		return // the handover moves the role, or a configuration change ends it (drained)
	}
	dl.grace.Stop()
	a.fed.stop(dl.d.Name)
	dl.b.ResumeHeld()
	gateway.Handover{B: dl.b, Self: a.cfg.Node}.Stopped()
	local, epoch := dl.role.Term()
	dl.resumed.local, dl.resumed.epoch = local, epoch
	a.submitResume(dl)
	a.log.Warn("this gateway's local ring holds every node of its site it lost, while its federation ring member, held, reaches no other site: it resumes with a new member, and the site goes on alone in the domain if that member reaches no other site within its grace", "domain", dl.d.Name, "local_ring", localring.RegularConfID(local), "epoch", epoch+1)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
