package evs

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the event's trace line (without the newline) to b:
// the bytes json.Marshal gives, without its reflection and allocations.
// A traced agent writes a line for every ring event and every delivery
// of every domain (two per message coming down from a federation
// domain), and with its trace on its sends wait for the site's lines
// (agent traceSends): in atoll bench isolation's saturating phase
// json.Marshal was about a twentieth of site a's CPU.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"ev":`...)
	b = appendString(b, e.Ev)
	b = append(b, `,"node":`...)
	b = appendString(b, e.Node)
	b = append(b, `,"inc":`...)
	b = strconv.AppendUint(b, e.Inc, 10)
	b = append(b, `,"domain":`...)
	b = appendString(b, e.Domain)
	switch {
	case e.Conf != nil:
		b = append(b, `,"conf":{"id":`...)
		b = appendString(b, e.Conf.ID)
		b = append(b, `,"kind":`...)
		b = appendString(b, e.Conf.Kind)
		b = append(b, `,"members":`...)
		b = appendStrings(b, e.Conf.Members, "null")
		b = append(b, '}')
	case e.ConfID != "":
		b = append(b, `,"conf":`...)
		b = appendString(b, e.ConfID)
	}
	b = appendField(b, "msg", e.Msg)
	b = appendField(b, "svc", e.Svc)
	if len(e.Groups) > 0 {
		b = append(b, `,"groups":`...)
		b = appendStrings(b, e.Groups, "")
	}
	b = appendField(b, "hash", e.Hash)
	if len(e.Deps) > 0 {
		b = append(b, `,"deps":`...)
		b = appendStrings(b, e.Deps, "")
	}
	if e.Order != 0 {
		b = append(b, `,"order":`...)
		b = strconv.AppendUint(b, e.Order, 10)
	}
	b = appendField(b, "group", e.Group)
	if v := e.View; v != nil {
		b = append(b, `,"view":{"id":`...)
		b = appendString(b, v.ID)
		b = append(b, `,"members":`...)
		b = appendStrings(b, v.Members, "[]")
		b = append(b, `,"joined":`...)
		b = appendStrings(b, v.Joined, "[]")
		b = append(b, `,"left":`...)
		b = appendStrings(b, v.Left, "[]")
		b = appendField(b, "reason", v.Reason)
		b = append(b, `,"transitional":`...)
		b = strconv.AppendBool(b, v.Transitional)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendField appends ,"name":s unless s is empty (omitempty).
func appendField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, s)
}

// appendStrings appends l as a JSON array; a nil l as null (nilAs).
func appendStrings(b []byte, l []string, nilAs string) []byte {
	if l == nil && nilAs != "" {
		return append(b, nilAs...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does
// (HTML-safe: <, > and & escaped; invalid UTF-8 as \ufffd; U+2028 and
// U+2029 escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
