package localring

import "testing"

// The configuration ids the ring installs parse back into their rings, and
// the bridge's ids built from parts are the ring's own.
func TestConfIDs(t *testing.T) {
	next := RingID{Seq: 12, Rep: "a-1"}
	old := RingID{Seq: 8, Rep: "b.2"}

	reg := RegularConfID(next)
	if reg != "r:12:a-1" {
		t.Fatalf("RegularConfID = %q", reg)
	}
	ring, ok := ParseRegularConfID(reg)
	if !ok || ring != next.String() || FormatRegularConfID(ring) != reg {
		t.Fatalf("ParseRegularConfID(%q) = %q, %v", reg, ring, ok)
	}

	trans := transConfID(next, old)
	if trans != "t:12:a-1/8:b.2" {
		t.Fatalf("transConfID = %q", trans)
	}
	n, o, ok := ParseTransitionalConfID(trans)
	if !ok || n != next.String() || o != old.String() || FormatTransitionalConfID(n, o) != trans {
		t.Fatalf("ParseTransitionalConfID(%q) = %q, %q, %v", trans, n, o, ok)
	}

	for _, id := range []string{"", "x", "site:a:t:1:a/0:a", "t:12:a-1"} {
		if _, _, ok := ParseTransitionalConfID(id); ok {
			t.Errorf("ParseTransitionalConfID(%q) ok", id)
		}
	}
	if _, ok := ParseRegularConfID(trans); ok {
		t.Errorf("ParseRegularConfID(%q) ok", trans)
	}
}
