package evs

import (
	"strconv"
	"strings"
)

// ringID is a parsed configuration id in the convention of Atoll's rings:
//
//	r:<ringseq>:<repnode>                          a regular configuration
//	t:<ringseq>:<repnode>/<oldringseq>:<oldrepnode> a transitional one
//
// A transitional id names the regular configuration it leads into first and
// the one it comes from second. Ids in any other form are valid too; they
// just get no numeric checks (ok is false).
type ringID struct {
	ok     bool
	trans  bool
	seq    uint64
	rep    string
	oldSeq uint64
	oldRep string
}

func parseConfID(s string) ringID {
	switch {
	case strings.HasPrefix(s, "r:"):
		seq, rep, ok := parseRing(s[2:])
		return ringID{ok: ok, seq: seq, rep: rep}
	case strings.HasPrefix(s, "t:"):
		next, old, found := strings.Cut(s[2:], "/")
		if !found {
			return ringID{}
		}
		seq, rep, ok1 := parseRing(next)
		oldSeq, oldRep, ok2 := parseRing(old)
		return ringID{ok: ok1 && ok2, trans: true, seq: seq, rep: rep, oldSeq: oldSeq, oldRep: oldRep}
	}
	return ringID{}
}

// parseRing parses "<ringseq>:<repnode>".
func parseRing(s string) (uint64, string, bool) {
	num, rep, found := strings.Cut(s, ":")
	if !found || rep == "" {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return seq, rep, true
}

// sameRing reports whether the ring parts (seq, rep) of two parsed ids match.
func sameRing(seq uint64, rep string, seq2 uint64, rep2 string) bool {
	return seq == seq2 && rep == rep2
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
