// Package readytest checks, for the tests of a pure state machine whose
// driver skips its Ready when HasReady says false, that HasReady answers
// for every field of Ready (gateway/bridge, gateway/domconf).
package readytest

import (
	"reflect"
	"testing"
)

// Fields sets each field of *out in turn, on a state machine with
// nothing else to do, and checks that has reports it and that take (the
// machine's Ready, which hands out and clears *out) clears it. A field of
// a kind it cannot set fails the test: teach it and HasReady about it.
func Fields[R any](t *testing.T, out *R, has func() bool, take func()) {
	t.Helper()
	if has() {
		t.Fatal("HasReady with nothing to do")
	}
	rt := reflect.TypeFor[R]()
	for i := range rt.NumField() {
		var zero R
		*out = zero
		f := reflect.ValueOf(out).Elem().Field(i)
		switch f.Kind() {
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Uint64:
			f.SetUint(1)
		default:
			t.Fatalf("Ready.%s: a %s; teach this test and HasReady about it", rt.Field(i).Name, f.Kind())
		}
		if !has() {
			t.Errorf("Ready.%s set: HasReady false", rt.Field(i).Name)
		}
		if take(); has() {
			t.Errorf("Ready.%s set, then Ready taken: HasReady true", rt.Field(i).Name)
		}
	}
}
