package hiersim

import (
	"slices"

	"github.com/atoll-gcs/atoll/localring"
)

// fedApart finds where the federation ring itself split among members
// that stayed: a member came into a regular configuration through a
// transitional configuration without another member, of the same
// incarnation, that was in its regular configuration before and is in
// the new one. The two went on in different configurations in between
// (one installed a ring the other never did: the other's recovery lost
// its token), and each counts as failed in the other's (EVS 2.4): a
// partition and a merge of the federation, whatever the regular
// configurations' members. A site whose gateway failed over comes back
// with a newer incarnation of its member, so a failover alone is none.
type fedApart struct {
	last map[localring.Member]*fedSeen
}

// fedSeen is what one federation member installed last: its last regular
// configuration's members, and those of the transitional configuration
// after it (nil before one).
type fedSeen struct {
	reg, trans []localring.Member
}

// install notes member m's installation of c, and returns, for a regular
// configuration, the members it was apart from on its way into c (see
// fedApart); nil for none.
func (a *fedApart) install(m localring.Member, c *localring.Configuration) []localring.Member {
	if a.last == nil {
		a.last = make(map[localring.Member]*fedSeen)
	}
	seen := a.last[m]
	if seen == nil {
		seen = &fedSeen{}
		a.last[m] = seen
	}
	if c.Kind == localring.Transitional {
		seen.trans = slices.Clone(c.Members)
		return nil
	}
	var apart []localring.Member
	if seen.trans != nil {
		for _, x := range seen.reg {
			if x != m && !slices.Contains(seen.trans, x) && slices.Contains(c.Members, x) {
				apart = append(apart, x)
			}
		}
	}
	seen.reg, seen.trans = slices.Clone(c.Members), nil
	return apart
}
