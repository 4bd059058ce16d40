package groups

import "fmt"

// Limits on ACLs.
const (
	// MaxACLPatterns is the most patterns one list of an ACL may hold.
	MaxACLPatterns = 64
	// MaxPattern is the longest pattern, in bytes.
	MaxPattern = 255
)

// ACL says who may join a group, send to it, and change its ACL. Each
// list holds patterns of member names ("node:client"): '*' matches any
// run of characters (also none), '?' any one character, anything else
// itself. An empty list allows everyone, so a group without an ACL is
// open, as in Spread: anyone may join and anyone, member or not, may send.
//
// ACLs are group state like memberships: set by a ring-ordered request
// (Node.SetACL) and checked when a join or a message is delivered, at
// every node, against the ACL in force at that point of the ring's order,
// so that all nodes decide alike.
type ACL struct {
	Join  []string // who may join
	Send  []string // who may multicast to the group
	Admin []string // who may change the ACL
}

// MayJoin reports whether member may join a group with this ACL.
func (a *ACL) MayJoin(member string) bool { return allowed(a.Join, member) }

// MaySend reports whether member may multicast to a group with this ACL.
func (a *ACL) MaySend(member string) bool { return allowed(a.Send, member) }

// MayAdmin reports whether member may replace this ACL.
func (a *ACL) MayAdmin(member string) bool { return allowed(a.Admin, member) }

func allowed(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}

// Validate checks the ACL's sizes and patterns.
func (a *ACL) Validate() error {
	for _, l := range [...]struct {
		name string
		ps   []string
	}{{"join", a.Join}, {"send", a.Send}, {"admin", a.Admin}} {
		if len(l.ps) > MaxACLPatterns {
			return fmt.Errorf("%w: %d %s patterns, at most %d", ErrBadName, len(l.ps), l.name, MaxACLPatterns)
		}
		for _, p := range l.ps {
			if !validName(p, MaxPattern, true) {
				return fmt.Errorf("%w: %s pattern %q", ErrBadName, l.name, p)
			}
		}
	}
	return nil
}

// Match reports whether name matches pattern, where '*' matches any run of
// bytes and '?' any one byte. It runs in time proportional to
// len(pattern)*len(name) at worst.
func Match(pattern, name string) bool {
	// Classic greedy matching with one backtrack point: the last '*'.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
