package domconf

import (
	"reflect"
	"testing"
)

// TestHasReady: HasReady answers for every field of Ready, so that a
// driver that skips Ready when it says false leaves nothing behind.
func TestHasReady(t *testing.T) {
	s := &View{}
	if s.HasReady() {
		t.Fatal("HasReady with nothing to do")
	}
	rt := reflect.TypeFor[Ready]()
	for i := range rt.NumField() {
		s.out = Ready{}
		f := reflect.ValueOf(&s.out).Elem().Field(i)
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
		if !s.HasReady() {
			t.Errorf("Ready.%s set: HasReady false", rt.Field(i).Name)
		}
		if s.Ready(); s.HasReady() {
			t.Errorf("Ready.%s set, then Ready taken: HasReady true", rt.Field(i).Name)
		}
	}
}
