package evs

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestAppendJSON checks AppendJSON against json.Marshal (MarshalJSON) on
// every kind of line, with strings json escapes (quotes, controls, HTML,
// invalid UTF-8, U+2028) and random ones.
func TestAppendJSON(t *testing.T) {
	odd := "a\"b\\c\nd\te\rf\bg\fh\x00i\x1f<j>&k\u2028l\u2029m\xffn\xc3o€ p😀"
	events := []Event{
		{Ev: "install", Node: "a-1", Inc: 3, Domain: "site/a", Conf: &Conf{ID: "r1", Kind: "regular", Members: []string{"a-1", "a-2"}}},
		{Ev: "install", Node: "a-1", Inc: 3, Domain: "site/a", Conf: &Conf{ID: "r1", Kind: "transitional"}},
		{Ev: "install", Node: "a-1", Inc: 3, Domain: "site/a", Conf: &Conf{ID: "r1", Kind: "regular", Members: []string{}}},
		{Ev: "send", Node: "a-1", Inc: 1, Domain: "fed/global:a+b+c", ConfID: "r2", Msg: "a-1/1/7", Svc: "agreed", Groups: []string{"g1", "g2"}, Hash: "abcd", Deps: []string{"a-2/1/3"}},
		{Ev: "deliver", Node: "b-2", Inc: 1 << 40, Domain: "site/b", ConfID: "r2", Msg: "a-1/1/7", Svc: "safe", Groups: []string{}, Hash: "abcd", Deps: []string{}, Order: 1<<63 + 5},
		{Ev: "deliver", Node: "b-2", Domain: "site/b", ConfID: "r2", Msg: "m", Svc: "fifo", Hash: "h"},
		{Ev: "view", Node: "c-1", Inc: 2, Domain: "site/c", Group: "g", View: &View{ID: "v1", Members: []string{"c-1"}, Reason: ReasonNetwork, Transitional: true}},
		{Ev: "view", Node: "c-1", Inc: 2, Domain: "site/c", Group: "g", View: &View{ID: "v1", Members: []string{}, Joined: []string{"x"}, Left: []string{"y", "z"}}},
		{},
		{Ev: odd, Node: odd, Domain: odd, ConfID: odd, Msg: odd, Svc: odd, Groups: []string{odd, ""}, Hash: odd, Deps: []string{odd}, Group: odd,
			View: &View{ID: odd, Members: []string{odd}, Joined: []string{odd}, Left: []string{odd}, Reason: odd}},
		{Ev: "install", Conf: &Conf{ID: odd, Kind: odd, Members: []string{odd}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := func() string {
			b := make([]byte, rng.IntN(12))
			for i := range b {
				if rng.IntN(3) == 0 {
					b[i] = odd[rng.IntN(len(odd))]
				} else {
					b[i] = byte(rng.IntN(256))
				}
			}
			return string(b)
		}
		events = append(events, Event{Ev: s(), Node: s(), Inc: rng.Uint64(), Domain: s(), ConfID: s(), Msg: s(), Svc: s(),
			Groups: []string{s(), s()}, Hash: s(), Order: rng.Uint64N(3), Group: s()})
	}
	for i, e := range events {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.AppendJSON([]byte("x")); string(got) != "x"+string(want) {
			t.Fatalf("event %d (%+v):\n got %s\nwant x%s", i, e, got, want)
		}
	}
}

// TestAppendJSONFields fails when a field is added to or removed from
// the types a trace line is made of: AppendJSON writes each field by
// hand, so it (and TestAppendJSON's events) must learn the new one.
func TestAppendJSONFields(t *testing.T) {
	for _, c := range []struct {
		typ    reflect.Type
		fields int
	}{
		{reflect.TypeFor[Event](), 14},
		{reflect.TypeFor[Conf](), 3},
		{reflect.TypeFor[View](), 6},
	} {
		if n := c.typ.NumField(); n != c.fields {
			t.Errorf("%s has %d fields, AppendJSON writes %d: teach AppendJSON (and TestAppendJSON) the change", c.typ, n, c.fields)
		}
	}
}
