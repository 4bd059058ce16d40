package groups

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// wireSamples are encodings of every kind of group message.
func wireSamples() [][]byte {
	msgs := []wireMsg{
		{kind: kindJoin, epoch: 1, seq: 1, client: "c", group: "g"},
		{kind: kindLeave, epoch: 1 << 60, seq: 300, client: "client-7", group: "orders:eu"},
		{kind: kindDisconnect, seq: 2, client: "c"},
		{kind: kindACL, seq: 3, client: "admin", group: "g", acl: ACL{Join: []string{"*:ok*", "fra-?:x"}, Admin: []string{"a:admin"}}},
		{kind: kindMulticast, seq: 4, client: "c", mtype: 0xbeef, groups: []string{"g1", "g2"}, data: []byte("hello")},
		{kind: kindMulticast, seq: 5, client: "c", groups: []string{"g"}},
		{kind: kindUnicast, seq: 6, client: "c", mtype: 1, to: "fra-1:c2", data: []byte{0, 1, 2}},
		{kind: kindReport, rep: &report{conf: "r:12:fra-1", part: 2, last: true,
			groups: []reportGroup{{name: "g", members: []reportMember{{client: "a", st: stamp{localring.Order{Ring: 1 << 50, Seq: 1<<63 + 5, Index: 1<<32 - 1}, 0}}, {client: "b", st: stamp{localring.Order{Ring: 7, Seq: 1}, 3}}}}},
			ops:    []wireMsg{{kind: kindJoin, client: "a", group: "h"}, {kind: kindDisconnect, client: "b"}, {kind: kindACL, client: "a", group: "h", acl: ACL{Send: []string{"*"}}}},
			acls:   []reportACL{{group: "h", st: stamp{localring.Order{Ring: 9}, 1}, acl: ACL{Join: []string{"x:*"}}}},
		}},
		{kind: kindReport, rep: &report{conf: "r:1:a"}},
	}
	var out [][]byte
	for i := range msgs {
		out = append(out, msgs[i].append(nil))
	}
	return out
}

func TestWireRoundTrip(t *testing.T) {
	for _, b := range wireSamples() {
		m, err := parseWire(b)
		if err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		if again := m.append(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
	}
}

func TestWireRejects(t *testing.T) {
	join := (&wireMsg{kind: kindJoin, client: "c", group: "g"}).append(nil)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "not a group message"},
		{"magic", []byte{1, 1}, "not a group message"},
		{"kind", []byte{wireMagic, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "unknown kind"},
		{"truncated", join[:len(join)-1], "truncated"},
		{"trailing", append(append([]byte(nil), join...), 0), "trailing"},
		{"bad client", (&wireMsg{kind: kindJoin, client: "a:b", group: "g"}).append(nil), "bad client name"},
		{"bad group", (&wireMsg{kind: kindJoin, client: "c", group: "a b"}).append(nil), "bad group name"},
		{"long varint", []byte{wireMagic, byte(kindDisconnect), 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 1, 'c'}, "non-minimal"},
		{"no groups", (&wireMsg{kind: kindMulticast, client: "c"}).append(nil), "without groups"},
		{"huge count", []byte{wireMagic, byte(kindMulticast), 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'c', 0, 0, 0xff, 0xff, 0x03}, "too large"},
		{"bad destination", (&wireMsg{kind: kindUnicast, client: "c", to: "nocolon"}).append(nil), "bad destination"},
		{"report flag", []byte{wireMagic, byte(kindReport), 1, 'r', 0, 2}, "last flag"},
		{"report group without members", []byte{wireMagic, byte(kindReport), 1, 'r', 0, 1, 1, 1, 'g', 0}, "without members"},
	} {
		_, err := parseWire(c.b)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an ErrMalformed about %q", c.name, err, c.want)
		}
	}
}

// FuzzWire: every payload the decoder accepts re-encodes to the same
// bytes, and decoding never panics.
//
//	go test ./groups -run '^$' -fuzz FuzzWire -fuzztime 1m
func FuzzWire(f *testing.F) {
	for _, b := range wireSamples() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseWire(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		again := m.append(nil)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
		m2, err := parseWire(again)
		if err != nil || !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("second decoding differs: %v", err)
		}
		// Interning known group names changes nothing, nor does
		known := func(b []byte) (string, bool) {
			switch string(b) {
			case "g", "g1", "g2":
				return string(b), true
			}
			return "", false
		}
		// Interning known client names too.
		clients := map[string]*clientInfo{"a": {name: "a"}, "b": {name: "b"}, "c": {name: "c"}, "client-7": {name: "client-7"}}
		m3, err := parseWireIntern(b, known, clients)
		if err != nil || !reflect.DeepEqual(normalize(m), normalize(m3)) {
			t.Fatalf("decoding with known names differs: %v", err)
		}
	})
}

// normalize makes empty and nil slices compare equal, and drops the
// known client that parsing found (not the message's content).
func normalize(m wireMsg) wireMsg {
	if len(m.data) == 0 {
		m.data = nil
	}
	m.ci = nil
	return m
}

// FuzzNodeStep feeds arbitrary group payloads to a node as deliveries and
// sends: nothing panics, and malformed ones are counted.
func FuzzNodeStep(f *testing.F) {
	for _, b := range wireSamples() {
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, send bool) {
		r := newTestRing(t, "a", "b")
		r.form([]string{"a", "b"})
		r.join("a", "x", "g")
		r.run()
		tn := r.node("b")
		before := tn.g.Stats().Malformed
		kind := 0
		if send {
			kind = 1
		}
		r.stepRaw(tn, b, kind)
		if _, err := parseWire(b); err != nil && IsGroupPayload(b) && !send && tn.g.Stats().Malformed != before+1 {
			t.Fatalf("malformed payload not counted")
		}
		r.run()
	})
}
