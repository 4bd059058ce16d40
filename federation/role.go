package federation

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// ErrHandoverRefused is wrapped by every refusal of a handover (Role.Check,
// Role.Handover): the error says why and what to do.
var ErrHandoverRefused = errors.New("handover refused")

// Role is the choice of one site's active gateway for one federation
// domain, as every node of the site computes it from its local ring's
// configurations and agreed deliveries (see the package documentation,
// "Handover"). It is a pure state machine: feed it every configuration
// the local ring installs (Install) and every handover it delivers
// (Handover), in the ring's order.
type Role struct {
	d    *topology.Domain
	site string
	gws  []string // the site's gateways, takeover order (Active, then Standby)

	ring     localring.RingID // the current configuration
	members  []string         // its members; sorted
	regular  bool             // the last configuration installed is regular
	trans    []string         // the members of the transitional configuration before it; sorted
	override string           // the node a handover made active, "" for the plan's order
	epoch    int              // handovers agreed in the current regular configuration
	pending  *HandoverRequest // a handover agreed and not released yet

	active string
	rank   int
	ok     bool
}

// NewRole returns the role of site in federation domain d, before any
// configuration.
func NewRole(d *topology.Domain, site string) *Role {
	r := &Role{d: d, site: site}
	for _, g := range d.Gateways {
		if g.Site == site && g.Active != "" {
			r.gws = append([]string{g.Active}, g.Standby...)
		}
	}
	return r
}

// Install is a configuration of the site's local ring, transitional or
// regular. A regular configuration starts epoch 0 and decides the active
// gateway again: a handover's choice holds while its node stays in the
// ring and every member of the new configuration comes from the previous
// one together (the transitional configuration before it has the same
// members: they all applied the same handovers, EVS); otherwise (a node
// joined, a merge, the node left) the plan's takeover order applies. A
// node that joins knows nothing of earlier handovers, and this rule does
// not need it to. It reports whether the active gateway changed.
func (r *Role) Install(c *localring.Configuration) (changed bool) {
	ids := c.MemberIDs()
	slices.Sort(ids)
	if c.Kind != localring.Regular {
		r.regular, r.trans = false, ids
		return false
	}
	together := r.trans != nil && slices.Equal(r.trans, ids)
	r.ring, r.members, r.regular, r.trans, r.epoch, r.pending = c.Ring, ids, true, nil, 0, nil
	if !together || !slices.Contains(ids, r.override) {
		r.override = ""
	}
	return r.decide()
}

// decide computes the active gateway; it reports whether it changed.
func (r *Role) decide() bool {
	was, wasOK := r.active, r.ok
	r.active, r.rank, r.ok = ActiveGateway(r.d, r.site, r.members)
	if r.override != "" {
		r.active, r.rank, r.ok = r.override, slices.Index(r.gws, r.override), true
	}
	return r.active != was || r.ok != wasOK
}

// Active returns the site's active gateway and its rank in the site's
// gateway list; ok is false when none of the site's gateways is in the
// ring.
func (r *Role) Active() (node string, rank int, ok bool) { return r.active, r.rank, r.ok }

// Term returns what a gateway that becomes active now becomes active in:
// the current regular configuration and the handovers agreed in it so far
// (Incarnation's local and epoch).
func (r *Role) Term() (local localring.RingID, epoch int) { return r.ring, r.epoch }

// Incarnation returns the incarnation of a gateway that becomes active
// now at rank (Incarnation over Term).
func (r *Role) Incarnation(rank int) (uint64, error) { return Incarnation(r.ring, r.epoch, rank) }

// Gateways returns the site's gateways of the domain in takeover order.
func (r *Role) Gateways() []string { return slices.Clone(r.gws) }

// Check says whether a handover of the role to node to (empty: the next
// gateway in takeover order after the active one, wrapping around, that is
// in the ring) can be asked for now, and returns the active gateway and
// the target. A refusal wraps ErrHandoverRefused and says what to do.
func (r *Role) Check(to string) (from, target string, err error) {
	refuse := func(format string, a ...any) (string, string, error) {
		return "", "", fmt.Errorf("%w: domain %s, site %s: %s", ErrHandoverRefused, r.d.Name, r.site, fmt.Sprintf(format, a...))
	}
	switch {
	case r.members == nil || !r.regular:
		return refuse("this node's local ring is forming or changing; retry once `atoll status` shows it operational")
	case !r.ok:
		return refuse("none of the site's gateways (%s) is in the local ring; start one of their agents", strings.Join(r.gws, ", "))
	case r.pending != nil:
		return refuse("a handover from %s to %s is under way (%s drains its federation ring member); ask again once it took effect", r.pending.From, r.pending.To, r.pending.From)
	case r.epoch >= MaxEpoch:
		return refuse("%d handovers were agreed in local ring configuration r:%s, the most one configuration takes; the next configuration change allows more", MaxEpoch, r.ring)
	}
	if to == "" {
		i := slices.Index(r.gws, r.active)
		for k := 1; k < len(r.gws); k++ {
			if g := r.gws[(i+k)%len(r.gws)]; slices.Contains(r.members, g) {
				return r.active, g, nil
			}
		}
		return refuse("the site has no other gateway in its local ring than the active one, %s (gateways in takeover order: %s); start a standby's agent, or list another gateway in the topology file's gateways of site %s", r.active, strings.Join(r.gws, ", "), r.site)
	}
	switch {
	case to == r.active:
		return refuse("%s is the active gateway already", to)
	case !slices.Contains(r.gws, to):
		return refuse("%s is not a gateway of the site for this domain (its gateways: %s)", to, strings.Join(r.gws, ", "))
	case !slices.Contains(r.members, to):
		return refuse("gateway %s is not in the local ring (members: %s); start its agent, or name another gateway", to, strings.Join(r.members, ", "))
	}
	return r.active, to, nil
}

// Handover applies a handover the local ring delivered: if from is still
// the active gateway, to may take the role (Check) and the configuration
// is regular, the handover is agreed at this point of the site's stream
// (every member decides alike) and under way: from stays active while it
// drains its federation ring member, until the release (Release). It
// returns the refusal otherwise (a configuration change or another
// handover came first), and changes nothing.
func (r *Role) Handover(h HandoverRequest) error {
	if r.regular && r.ok && r.active != h.From {
		return fmt.Errorf("%w: domain %s, site %s: the role moved to %s before this handover from %s was agreed; ask again if %s should still hand it over", ErrHandoverRefused, r.d.Name, r.site, r.active, h.From, r.active)
	}
	if h.To == "" || h.Release || h.Resume {
		return fmt.Errorf("%w: domain %s, site %s: the request names no gateway to hand the role to", ErrHandoverRefused, r.d.Name, r.site)
	}
	if _, _, err := r.Check(h.To); err != nil {
		return err
	}
	r.epoch++
	r.pending = &h
	return nil
}

// Pending returns the handover under way, if any.
func (r *Role) Pending() (HandoverRequest, bool) {
	if r.pending == nil {
		return HandoverRequest{}, false
	}
	return *r.pending, true
}

// Release applies the release of the handover under way that the local
// ring delivered (the old gateway's federation ring member has stopped):
// the role moves to the new gateway at this point of the stream, with
// incarnation Incarnation(rank) of the handover's epoch. A release of
// another handover (a configuration change ended it) is refused.
func (r *Role) Release(h HandoverRequest) error {
	p := r.pending
	if p == nil || !r.regular || p.From != h.From || p.To != h.To || p.Requester != h.Requester || p.Nonce != h.Nonce {
		return fmt.Errorf("%w: domain %s, site %s: the release of the handover from %s to %s came after a configuration change that ended it; the role is %s's", ErrHandoverRefused, r.d.Name, r.site, h.From, h.To, r.active)
	}
	r.pending = nil
	r.override = p.To
	if def, _, _ := ActiveGateway(r.d, r.site, r.members); def == p.To {
		r.override = "" // the plan's order gives it
	}
	r.active, r.rank, r.ok = p.To, slices.Index(r.gws, p.To), true
	return nil
}

// Resume applies a resumption the local ring delivered: the active
// gateway h.From, whose federation ring member stopped while it stayed
// active (for a handover that a configuration change then ended, or
// fenced by a gateway of its site that was active in an older
// configuration: see the package documentation, "Fencing"), starts a new
// term at this point of the stream, with the next epoch (its incarnation
// is Incarnation(rank) from here). Refused when h.From is not the active
// gateway, a handover is under way, or the epochs of the configuration
// are spent (the next configuration starts a member anyway).
func (r *Role) Resume(h HandoverRequest) error {
	switch {
	case !r.regular || !r.ok || r.active != h.From || r.pending != nil:
		return fmt.Errorf("%w: domain %s, site %s: %s resumes its gateway term, but the role is %s's here (handover under way: %v)", ErrHandoverRefused, r.d.Name, r.site, h.From, r.active, r.pending != nil)
	case r.epoch >= MaxEpoch:
		return fmt.Errorf("%w: domain %s, site %s: %d handovers were agreed in local ring configuration r:%s; %s resumes at the next configuration", ErrHandoverRefused, r.d.Name, r.site, MaxEpoch, r.ring, h.From)
	}
	r.epoch++
	return nil
}

// HandoverRequest is the local ring message that asks every node of a
// site to move domain Domain's gateway role from From to To
// (EncodeHandover), or, with Release, the old gateway's message that its
// federation ring member stopped and the role moves now, or, with Resume,
// the active gateway's message that it starts a new term (Role.Resume).
// Requester and
// Nonce name the request, so that the node that asked learns its outcome
// when the ring delivers it.
type HandoverRequest struct {
	Release, Resume  bool
	Domain, From, To string
	Requester        string
	Nonce            uint64
}

// handoverMagic starts a handover message: distinct from the first byte
// of group (0xA7) and bridge (0xB1…) messages.
var handoverMagic = []byte{0xC1, 'h', 'o', 'v'}

// EncodeHandover returns the local ring message of a handover request or
// release.
func EncodeHandover(h HandoverRequest) []byte {
	b := slices.Clone(handoverMagic)
	switch {
	case h.Release:
		b = append(b, 2)
	case h.Resume:
		b = append(b, 3)
	default:
		b = append(b, 1)
	}
	for _, s := range []string{h.Domain, h.From, h.To, h.Requester} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return binary.AppendUvarint(b, h.Nonce)
}

// IsHandover reports whether a local ring payload is a handover message.
func IsHandover(p []byte) bool {
	return len(p) >= len(handoverMagic) && string(p[:len(handoverMagic)]) == string(handoverMagic)
}

// DecodeHandover decodes a handover message (IsHandover).
func DecodeHandover(p []byte) (HandoverRequest, error) {
	if !IsHandover(p) {
		return HandoverRequest{}, errors.New("federation: not a handover message")
	}
	b := p[len(handoverMagic):]
	if len(b) == 0 || b[0] < 1 || b[0] > 3 {
		return HandoverRequest{}, errors.New("federation: malformed handover message (kind)")
	}
	release, resume := b[0] == 2, b[0] == 3
	b = b[1:]
	var f [4]string
	for i := range f {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return HandoverRequest{}, errors.New("federation: malformed handover message (a name's length)")
		}
		f[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	nonce, k := binary.Uvarint(b)
	if k <= 0 || k != len(b) {
		return HandoverRequest{}, errors.New("federation: malformed handover message (nonce or trailing bytes)")
	}
	return HandoverRequest{Release: release, Resume: resume, Domain: f[0], From: f[1], To: f[2], Requester: f[3], Nonce: nonce}, nil
}
