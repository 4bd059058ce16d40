package evs

import (
	"strings"
	"unicode/utf8"
)

// lineParser decodes trace lines of the usual shape several times faster
// than encoding/json, so that Read keeps up with traces of millions of
// events. It handles objects of the known fields holding plain values:
// strings without escapes, unsigned integers, booleans, null and arrays of
// strings, plus extra fields of any valid JSON without escapes. On
// anything else (escapes, duplicate or case-folded keys, type mismatches,
// invalid input) it gives up and Read falls back to encoding/json, so the
// result is always what json.Unmarshal gives; FuzzParseLine checks that.
//
// It interns strings: node ids, domains, configuration and message ids
// repeat on many lines.
type lineParser struct {
	b    []byte
	i    int
	strs map[string]string
}

func newLineParser() *lineParser { return &lineParser{strs: make(map[string]string)} }

// Top-level keys, as bits for spotting duplicates.
var eventKeys = []string{"ev", "node", "inc", "domain", "conf", "msg", "svc", "groups", "hash", "deps", "order", "group", "view"}

// parse decodes one line; ok is false when the line needs encoding/json.
func (p *lineParser) parse(b []byte) (e Event, ok bool) {
	p.b, p.i = b, 0
	ok = p.fields(eventKeys, func(k int) bool {
		switch eventKeys[k] {
		case "ev":
			return p.stringInto(&e.Ev)
		case "node":
			return p.stringInto(&e.Node)
		case "inc":
			return p.uintInto(&e.Inc)
		case "domain":
			return p.stringInto(&e.Domain)
		case "conf":
			return p.conf(&e)
		case "msg":
			return p.stringInto(&e.Msg)
		case "svc":
			return p.stringInto(&e.Svc)
		case "groups":
			return p.stringsInto(&e.Groups)
		case "hash":
			return p.stringInto(&e.Hash)
		case "deps":
			return p.stringsInto(&e.Deps)
		case "order":
			return p.uintInto(&e.Order)
		case "group":
			return p.stringInto(&e.Group)
		default: // "view"
			return p.view(&e.View)
		}
	})
	p.ws()
	return e, ok && p.i == len(p.b)
}

var confKeys = []string{"id", "kind", "members"}

// conf decodes "conf": a configuration id (a string) or a configuration.
func (p *lineParser) conf(e *Event) bool {
	p.ws()
	if p.peek() == '"' {
		return p.stringInto(&e.ConfID)
	}
	if p.peek() != '{' {
		return false
	}
	c := new(Conf)
	ok := p.fields(confKeys, func(k int) bool {
		switch k {
		case 0:
			return p.stringInto(&c.ID)
		case 1:
			return p.stringInto(&c.Kind)
		default:
			return p.stringsInto(&c.Members)
		}
	})
	e.Conf, e.ConfID = c, c.ID
	return ok
}

var viewKeys = []string{"id", "members", "joined", "left", "reason", "transitional"}

func (p *lineParser) view(dst **View) bool {
	p.ws()
	if p.literal("null") {
		*dst = nil
		return true
	}
	if p.peek() != '{' {
		return false
	}
	v := new(View)
	ok := p.fields(viewKeys, func(k int) bool {
		switch k {
		case 0:
			return p.stringInto(&v.ID)
		case 1:
			return p.stringsInto(&v.Members)
		case 2:
			return p.stringsInto(&v.Joined)
		case 3:
			return p.stringsInto(&v.Left)
		case 4:
			return p.stringInto(&v.Reason)
		default:
			p.ws()
			switch {
			case p.literal("true"):
				v.Transitional = true
			case p.literal("false"):
				v.Transitional = false
			default:
				return false
			}
			return true
		}
	})
	*dst = v
	return ok
}

// fields parses an object of the known keys (at most 32), calling field
// with each key's index in known with the parser at its value. An unknown
// key's value is skipped, unless the key differs from a known one only in
// case or is not ASCII (encoding/json would match it case-insensitively);
// such a key, and a key seen twice, make it give up.
func (p *lineParser) fields(known []string, field func(k int) bool) bool {
	var seen uint32
	return p.object(func(key []byte) bool {
		k := keyIndex(key, known)
		if k < 0 {
			return p.unknownKey(key, known)
		}
		if seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		return field(k)
	})
}

// object parses {"key": value, ...}, calling field with each key with the
// parser at the value.
func (p *lineParser) object(field func(key []byte) bool) bool {
	return p.list('{', '}', func() bool {
		p.ws()
		key, ok := p.rawString()
		if !ok {
			return false
		}
		p.ws()
		if p.peek() != ':' {
			return false
		}
		p.i++
		return field(key)
	})
}

// array parses [value, ...], calling elem with the parser at each value.
func (p *lineParser) array(elem func() bool) bool { return p.list('[', ']', elem) }

// list parses open, then members separated by commas (none or more), then
// close: an object's or an array's. member parses one, with the parser at
// its start.
func (p *lineParser) list(open, close byte, member func() bool) bool {
	p.ws()
	if p.peek() != open {
		return false
	}
	p.i++
	p.ws()
	if p.peek() == close {
		p.i++
		return true
	}
	for {
		if !member() {
			return false
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case close:
			p.i++
			return true
		default:
			return false
		}
	}
}

// unknownKey skips the value of a key that is not one of known. A key that
// encoding/json would match to a known one case-insensitively, or one it
// might fold in ways this parser does not, is left to encoding/json.
func (p *lineParser) unknownKey(key []byte, known []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, k := range known {
		if strings.EqualFold(string(key), k) {
			return false
		}
	}
	return p.skip(0)
}

func keyIndex(key []byte, known []string) int {
	for i, k := range known {
		if string(key) == k {
			return i
		}
	}
	return -1
}

// skip skips one JSON value without escapes.
func (p *lineParser) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	p.ws()
	switch c := p.peek(); {
	case c == '"':
		_, ok := p.rawString()
		return ok
	case c == '{':
		return p.object(func([]byte) bool { return p.skip(depth + 1) })
	case c == '[':
		return p.array(func() bool { return p.skip(depth + 1) })
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	default:
		return p.literal("true") || p.literal("false") || p.literal("null")
	}
}

// number skips a JSON number.
func (p *lineParser) number() bool {
	digits := func() int {
		n := 0
		for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.peek() == '-' {
		p.i++
	}
	switch {
	case p.peek() == '0':
		p.i++
	case digits() == 0:
		return false
	}
	if p.peek() == '.' {
		p.i++
		if digits() == 0 {
			return false
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

func (p *lineParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *lineParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *lineParser) literal(lit string) bool {
	if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
		p.i += len(lit)
		return true
	}
	return false
}

// rawString parses a string without escapes and returns its bytes.
func (p *lineParser) rawString() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	ascii := true
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[p.i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (p *lineParser) intern(b []byte) string {
	if s, ok := p.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	p.strs[s] = s
	return s
}

// stringInto decodes a string, or null (which leaves dst alone).
func (p *lineParser) stringInto(dst *string) bool {
	p.ws()
	if p.literal("null") {
		return true
	}
	b, ok := p.rawString()
	if ok {
		*dst = p.intern(b)
	}
	return ok
}

// stringsInto decodes an array of strings, or null (nil).
func (p *lineParser) stringsInto(dst *[]string) bool {
	p.ws()
	if p.literal("null") {
		*dst = nil
		return true
	}
	out := []string{}
	ok := p.array(func() bool {
		p.ws()
		b, ok := p.rawString()
		if ok {
			out = append(out, p.intern(b))
		}
		return ok
	})
	if ok {
		*dst = out
	}
	return ok
}

// uintInto decodes an unsigned integer, or null (which leaves dst alone).
func (p *lineParser) uintInto(dst *uint64) bool {
	p.ws()
	if p.literal("null") {
		return true
	}
	start := p.i
	var n uint64
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if n > (1<<64-1-d)/10 {
			return false
		}
		n = n*10 + d
		p.i++
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return false
	}
	switch p.peek() {
	case '.', 'e', 'E':
		return false
	}
	*dst = n
	return true
}
