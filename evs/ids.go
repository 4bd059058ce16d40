package evs

import (
	"cmp"
	"strconv"
	"strings"
)

// ringID is a parsed configuration id in one of the conventions whose ids
// name the regular configurations around them, which 2.3 checks
// (checkRingIDs). Atoll's rings:
//
//	r:<ringseq>:<repnode>                          a regular configuration
//	t:<ringseq>:<repnode>/<oldringseq>:<oldrepnode> a transitional one
//
// A transitional id names the regular configuration it leads into first and
// the one it comes from second; ring sequence numbers order regular ones.
// A federation domain's stream at a site (gateway/bridge) has these and
// two more transitional forms:
//
//	site:<site>:t:<ring>/<oldring>[~<hash>]  one with the site alone in it
//	                                        (transID, aloneTransID; ~ and
//	                                        the hash name Ups in doubt)
//	fed:t:<ring>/<oldring>><regular id>     the federation's, where rings
//	                                        that did not settle came
//	                                        between: it leads into the
//	                                        regular configuration after ">"
//
// The node-level configurations of a federation domain (gateway/domconf)
// are numbered by domain positions "<seq>@<ring>" (localring.DomainOrder,
// ordered by seq, then ring):
//
//	dr:<pos>/<federation conf id>                 a regular configuration
//	dt:<pos>/<federation conf id>/<previous id>   a transitional one from
//	                                              the regular configuration
//	                                              <previous id> into
//	                                              dr:<pos>/<federation conf id>
//	dt:<pos>/<previous id>/<node>                 a node that left
//	                                              <previous id> alone at
//	                                              <pos>; it does not name
//	                                              the configuration it
//	                                              leads into
//
// The last form's <pos> is where the node left in its own stream, not a
// place in the numbering of the regular ones: a node that leaves at the
// bridge's transitional entry, which comes before a continuing entry held
// behind a Safe message (bridge Entry.HeldBehind), opens the round where
// the sites that had that entry first open it, and installs the regular
// configuration named after the held entry's place, below <pos>
// (gateway/domconf TestChangeAfterTransitionalCompletes: b-1 installs
// dt:14@103/dr:4@101/r:101:a+b/b-1, then dr:11@103/r:103). It gets the
// check of where it comes from only.
//
// Ids in any other form are valid too; they just get no checks of 2.3
// beyond alternation (ok is false).
type ringID struct {
	ok    bool
	trans bool
	// reg is, for a regular id, the configuration itself; for a
	// transitional one, the regular configuration it leads into, where
	// the id names it (zero for dt:<pos>/<previous id>/<node>).
	reg confRef
	// old is, for a transitional id, the regular configuration it comes
	// from.
	old confRef
}

// confRef names a regular configuration: its id (as the convention writes
// it) and its place in the convention's numbering.
type confRef struct {
	id    string
	num   numbering
	place [2]uint64 // ring sequence number; or domain position's seq, ring
}

// numbering is the order a convention's ids give regular configurations.
type numbering int8

const (
	noNumbering  numbering = iota
	ringSeqs               // r:<ringseq>:<repnode>: place[0] is the ring sequence number
	domainPlaces           // dr:<seq>@<ring>/...: place is (seq, ring)
)

// compare returns -1, 0 or +1 as r's place is before, at or after q's, and
// false where they are not numbered alike.
func (r confRef) compare(q confRef) (int, bool) {
	if r.num == noNumbering || r.num != q.num {
		return 0, false
	}
	if c := cmp.Compare(r.place[0], q.place[0]); c != 0 {
		return c, true
	}
	return cmp.Compare(r.place[1], q.place[1]), true
}

func parseConfID(s string) ringID {
	switch {
	case strings.HasPrefix(s, "r:"):
		ref, ok := parseRingRef(s[2:])
		return ringID{ok: ok, reg: ref}
	case strings.HasPrefix(s, "t:"):
		next, old, found := strings.Cut(s[2:], "/")
		if !found {
			return ringID{}
		}
		nextRef, ok1 := parseRingRef(next)
		oldRef, ok2 := parseRingRef(old)
		return ringID{ok: ok1 && ok2, trans: true, reg: nextRef, old: oldRef}
	case strings.HasPrefix(s, "site:"):
		_, t, found := strings.Cut(s[len("site:"):], ":t:")
		t, doubt, inDoubt := strings.Cut(t, "~")
		if !found || inDoubt && !isHex(doubt) {
			return ringID{}
		}
		return parseConfID("t:" + t)
	case strings.HasPrefix(s, "fed:"):
		t, next, found := strings.Cut(s[len("fed:"):], ">")
		if !found {
			return ringID{}
		}
		fed, reg := parseConfID(t), parseConfID(next)
		if !fed.ok || !fed.trans || !reg.ok || reg.trans {
			return ringID{}
		}
		return ringID{ok: true, trans: true, reg: reg.reg, old: fed.old}
	case strings.HasPrefix(s, "dr:"):
		pos, fed, found := strings.Cut(s[len("dr:"):], "/")
		place, ok := parsePosition(pos)
		if !found || !ok || fed == "" {
			return ringID{}
		}
		return ringID{ok: true, reg: confRef{id: s, num: domainPlaces, place: place}}
	case strings.HasPrefix(s, "dt:"):
		pos, rest, found := strings.Cut(s[len("dt:"):], "/")
		if _, ok := parsePosition(pos); !found || !ok {
			return ringID{}
		}
		if strings.HasPrefix(rest, "dr:") {
			// dt:<pos>/<previous id>/<node>
			i := strings.LastIndexByte(rest, '/')
			old := parseConfID(rest[:max(i, 0)])
			if i < 0 || i == len(rest)-1 || !old.ok || old.trans || old.reg.num != domainPlaces {
				return ringID{}
			}
			return ringID{ok: true, trans: true, old: old.reg}
		}
		// dt:<pos>/<federation conf id>/<previous id>
		fed, prev, found := strings.Cut(rest, "/dr:")
		next, old := parseConfID("dr:"+pos+"/"+fed), parseConfID("dr:"+prev)
		if !found || !next.ok || !old.ok {
			return ringID{}
		}
		return ringID{ok: true, trans: true, reg: next.reg, old: old.reg}
	}
	return ringID{}
}

// parseRingRef parses "<ringseq>:<repnode>" into the regular configuration
// r:<ringseq>:<repnode>.
func parseRingRef(s string) (confRef, bool) {
	num, rep, found := strings.Cut(s, ":")
	if !found || rep == "" {
		return confRef{}, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return confRef{}, false
	}
	return confRef{id: "r:" + strconv.FormatUint(seq, 10) + ":" + rep, num: ringSeqs, place: [2]uint64{seq}}, true
}

// parsePosition parses a domain position "<seq>@<ring>".
func parsePosition(s string) ([2]uint64, bool) {
	a, b, found := strings.Cut(s, "@")
	seq, err1 := strconv.ParseUint(a, 10, 64)
	ring, err2 := strconv.ParseUint(b, 10, 64)
	if !found || err1 != nil || err2 != nil {
		return [2]uint64{}, false
	}
	return [2]uint64{seq, ring}, true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// parseMsgID splits a message id "sender/inc/seq" into its sender process.
// The sender may itself contain slashes; the last two parts are numbers.
func parseMsgID(s string) (Proc, bool) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return Proc{}, false
	}
	if _, err := strconv.ParseUint(s[i+1:], 10, 64); err != nil {
		return Proc{}, false
	}
	p, err := ParseProc(s[:i])
	if err != nil || p.Node == "" {
		return Proc{}, false
	}
	return p, true
}

// level is a service level, ordered by strength.
type level int8

const (
	lvUnknown level = iota - 1
	lvUnreliable
	lvReliable
	lvFIFO
	lvCausal
	lvAgreed
	lvSafe
)

func levelOf(svc string) level {
	switch svc {
	case SvcUnreliable:
		return lvUnreliable
	case SvcReliable:
		return lvReliable
	case SvcFIFO:
		return lvFIFO
	case SvcCausal:
		return lvCausal
	case SvcAgreed:
		return lvAgreed
	case SvcSafe:
		return lvSafe
	}
	return lvUnknown
}
