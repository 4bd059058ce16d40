package groups

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestViewIDString checks the allocation-free rendering of view ids and
// hash64 against the formats and hash they replace (fmt and hash/fnv):
// view ids are in traces and hashed into transitional ids, so they must
// not change.
func TestViewIDString(t *testing.T) {
	for _, v := range []viewID{
		{conf: "r:a/1", kind: 'r'},
		{conf: "r:a/1", kind: '@', a: 12, b: 3},
		{conf: "r:a/1", kind: '+', a: 7},
		{conf: "t:a/5", kind: '~', a: 0x0123456789abcdef},
		{conf: "t:a/5", kind: '~', a: 0xfedcba9876543210},
		{conf: "t:a/5", kind: '~', a: 42},
		{conf: "x", kind: '?'},
	} {
		var want string
		switch v.kind {
		case 'r':
			want = v.conf
		case '@':
			want = v.conf + "@" + strconv.FormatUint(v.a, 10) + "." + strconv.FormatUint(v.b, 10)
		case '+':
			want = v.conf + "+" + strconv.FormatUint(v.a, 10)
		case '~':
			want = fmt.Sprintf("%s~%016x", v.conf, v.a)
		}
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
		if got := string(v.appendTo([]byte("p:"))); got != "p:"+want {
			t.Errorf("%#v.appendTo = %q, want %q", v, got, "p:"+want)
		}
		h := fnv.New64a()
		h.Write([]byte(want))
		if got := hash64([]byte(want)); got != h.Sum64() {
			t.Errorf("hash64(%q) = %x, want FNV-1a %x", want, got, h.Sum64())
		}
	}
}

// TestMemberNames checks memberNames against the lists it makes in one
// allocation, and that appending to one list leaves the other alone.
func TestMemberNames(t *testing.T) {
	n, err := New(Config{Node: localring.Member{ID: "a", Inc: 1}})
	if err != nil {
		t.Fatal(err)
	}
	other := n.nodeOf(localring.Member{ID: "b", Inc: 1})
	var ms []member
	for _, c := range []*clientInfo{n.clientOf(other, "x"), n.clientOf(n.me, "y"), n.clientOf(other, "z"), n.clientOf(n.me, "w")} {
		ms = append(ms, member{c: c})
	}
	all, local := n.memberNames(ms)
	if !slices.Equal(all, []string{"b:x", "a:y", "b:z", "a:w"}) || !slices.Equal(local, []string{"y", "w"}) {
		t.Fatalf("memberNames = %q, %q", all, local)
	}
	_ = append(all, "b:extra")
	if !slices.Equal(local, []string{"y", "w"}) {
		t.Fatalf("appending to the members changed the local names: %q", local)
	}
	if all, local := n.memberNames(ms[2:3]); !slices.Equal(all, []string{"b:z"}) || local != nil {
		t.Fatalf("memberNames without local members = %q, %#v, want [b:z] and nil", all, local)
	}
	if all, local := n.memberNames(nil); all == nil || len(all) != 0 || local != nil {
		t.Fatalf("memberNames(nil) = %#v, %#v, want an empty list and nil", all, local)
	}
}
