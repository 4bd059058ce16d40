package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one mistake in a topology file. Its text has the form
//
//	file:line:col: field.path: what is wrong; how to fix it
//
// Line and Col are 1-based and always set (a mistake that has no better place
// points at the start of the file). Path is the field path, such as
// "sites[1].gateways[0]", and is empty for syntax errors.
type Error struct {
	File string // file name as given to Parse
	Line int    // 1-based line
	Col  int    // 1-based column
	Path string // field path, such as "groups[2].class"
	Msg  string // what is wrong
	Fix  string // how to fix it
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Col)
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// ErrorList is every mistake found in one topology file, in file order. Parse
// and Validate return a non-empty ErrorList as their error; use errors.As to
// get it.
type ErrorList []*Error

// Error returns one line per mistake, after a summary line starting with
// "topology:".
func (l ErrorList) Error() string {
	if len(l) == 0 {
		return "topology: no errors"
	}
	var b strings.Builder
	n := "mistakes"
	if len(l) == 1 {
		n = "mistake"
	}
	fmt.Fprintf(&b, "topology: %s has %d %s:", l[0].File, len(l), n)
	for _, e := range l {
		b.WriteString("\n")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// sort orders l by position, then path, then message, and drops exact
// duplicates.
func (l ErrorList) sort() ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(l, func(a, b *Error) bool { return *a == *b })
}

// problem is a mistake before it has a place: what is wrong and how to fix
// it.
type problem struct{ msg, fix string }

// Pos is a 1-based position in the file.
type Pos struct {
	Line, Col int
	bad       bool // the value was present but did not decode
}

// positions maps keys of one mapping (and "key[i]" for the items of
// sequences of scalars) to the positions of their values. The empty key
// holds the position of the mapping itself.
type positions map[string]Pos

func (p positions) get(key string) Pos {
	if q, ok := p[key]; ok {
		return q
	}
	if q, ok := p[""]; ok {
		return q
	}
	return Pos{Line: 1, Col: 1}
}

// has reports whether key was present in the file (even if its value was
// bad).
func (p positions) has(key string) bool { _, ok := p[key]; return ok }

// bad reports whether key was present with a value that did not decode, so
// that validation does not report the same mistake twice.
func (p positions) bad(key string) bool { return p[key].bad }
