package federation

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// conf returns a configuration of the site fra's local ring.
func conf(kind localring.ConfKind, seq uint64, ids ...string) *localring.Configuration {
	c := &localring.Configuration{Kind: kind, Ring: localring.RingID{Seq: seq, Rep: localring.NodeID(ids[0])}}
	for _, id := range ids {
		c.Members = append(c.Members, localring.Member{ID: localring.NodeID(id), Inc: 1})
	}
	return c
}

// TestRole follows site fra (gateways fra-1 then fra-2; fra-3 is not
// eligible) through handovers and configuration changes, as every node of
// the site applies them: the active gateway each step gives, that the
// incarnation of every newly active gateway is above all before it (also
// for handovers inside one configuration, and back to a lower rank), that
// a handover's choice holds across a configuration that only loses
// members and not across one a node joins, that a node joining computes
// the same role as the nodes that were there, and the refusals.
func TestRole(t *testing.T) {
	_, p := load(t, "three-sites.yaml")
	d, _ := p.Domain(threeSites)
	r := NewRole(d, "fra")
	if _, _, err := r.Check(""); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "forming or changing") {
		t.Errorf("before any configuration: %v", err)
	}
	var last uint64
	active := ""
	// step checks the active gateway after a change and, when it is a
	// new one, that its incarnation grows.
	step := func(what, want string) {
		t.Helper()
		gw, rank, ok := r.Active()
		if !ok || gw != want {
			t.Fatalf("%s: active %q (%v), want %s", what, gw, ok, want)
		}
		if gw == active {
			return
		}
		inc, err := r.Incarnation(rank)
		if err != nil {
			t.Fatal(err)
		}
		if inc <= last {
			t.Errorf("%s: %s becomes active with incarnation %#x, not above %#x", what, gw, inc, last)
		}
		last, active = inc, gw
	}
	nonce := uint64(0)
	// agree applies a handover request as the ring delivers it; the role
	// stays until the release.
	agree := func(to string) HandoverRequest {
		t.Helper()
		from, target, err := r.Check(to)
		if err != nil {
			t.Fatalf("Check(%q): %v", to, err)
		}
		nonce++
		h := HandoverRequest{Domain: threeSites, From: from, To: target, Requester: "fra-3", Nonce: nonce}
		if err := r.Handover(h); err != nil {
			t.Fatalf("Handover(%s, %s): %v", from, target, err)
		}
		step("handover to "+target+" agreed, not released", from)
		if _, _, err := r.Check(""); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "under way") {
			t.Errorf("a handover while one is under way: %v", err)
		}
		h.Release = true
		return h
	}
	handover := func(to string) {
		t.Helper()
		h := agree(to)
		if err := r.Release(h); err != nil {
			t.Fatalf("Release: %v", err)
		}
		step("handover to "+h.To, h.To)
	}

	r.Install(conf(localring.Transitional, 4, "fra-1"))
	r.Install(conf(localring.Regular, 4, "fra-1", "fra-2", "fra-3"))
	step("first configuration", "fra-1")
	handover("") // the next in takeover order: fra-2
	if l, e := r.Term(); l.Seq != 4 || e != 1 {
		t.Errorf("term after one handover: %v epoch %d", l, e)
	}
	handover("") // wraps around: back to fra-1, a lower rank, a higher epoch
	if last != 4<<(EpochBits+RankBits)|2<<RankBits|0 {
		t.Errorf("fra-1 back with incarnation %#x", last)
	}

	// A request that was overtaken, and requests that make no sense.
	if err := r.Handover(HandoverRequest{From: "fra-2", To: "fra-1"}); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "moved to fra-1") {
		t.Errorf("a stale handover: %v", err)
	}
	if err := r.Release(HandoverRequest{Release: true, From: "fra-1", To: "fra-2"}); !errors.Is(err, ErrHandoverRefused) {
		t.Errorf("a release without a handover under way: %v", err)
	}
	for to, want := range map[string]string{"fra-1": "active gateway already", "fra-3": "not a gateway", "ams-1": "not a gateway"} {
		if _, _, err := r.Check(to); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%s): %v, want %q", to, err, want)
		}
	}
	step("refusals change nothing", "fra-1")

	handover("fra-2")
	// fra-3 leaves: every member comes from the last configuration
	// together, the choice holds.
	if r.Install(conf(localring.Transitional, 8, "fra-1", "fra-2")) {
		t.Error("a transitional configuration changed the role")
	}
	if r.Install(conf(localring.Regular, 8, "fra-1", "fra-2")) {
		t.Error("a configuration that only lost fra-3 moved the role")
	}
	step("fra-3 left", "fra-2")
	// A handover delivered in the transitional configuration of the next
	// change is refused at every member.
	r.Install(conf(localring.Transitional, 12, "fra-1", "fra-2"))
	if err := r.Handover(HandoverRequest{From: "fra-2", To: "fra-1"}); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "changing") {
		t.Errorf("a handover in a transitional configuration: %v", err)
	}
	// fra-3 joins: it knows nothing of the handover, so the plan's order
	// applies again, at the old members as at the new one.
	joiner := NewRole(d, "fra")
	joiner.Install(conf(localring.Transitional, 12, "fra-3"))
	joiner.Install(conf(localring.Regular, 12, "fra-1", "fra-2", "fra-3"))
	if !r.Install(conf(localring.Regular, 12, "fra-1", "fra-2", "fra-3")) {
		t.Error("a join did not bring the plan's order back")
	}
	step("fra-3 joined", "fra-1")
	if a, b := fmtActive(r), fmtActive(joiner); a != b {
		t.Errorf("a member says %s, the node that joined says %s", a, b)
	}

	// A configuration change ends a handover under way: its release is
	// refused, the role stays.
	late := agree("fra-2")
	r.Install(conf(localring.Transitional, 14, "fra-1", "fra-2", "fra-3"))
	r.Install(conf(localring.Regular, 14, "fra-1", "fra-2", "fra-3"))
	if err := r.Release(late); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "configuration change") {
		t.Errorf("a release after a configuration change: %v", err)
	}
	step("a release refused", "fra-1")
	// fra-1's member stopped for that handover: it resumes with a new
	// term and a higher incarnation; fra-2 cannot.
	if err := r.Resume(HandoverRequest{Resume: true, From: "fra-2", To: "fra-2"}); !errors.Is(err, ErrHandoverRefused) {
		t.Errorf("a resumption by a node that is not active: %v", err)
	}
	if err := r.Resume(HandoverRequest{Resume: true, From: "fra-1", To: "fra-1"}); err != nil {
		t.Fatal(err)
	}
	_, rank, _ := r.Active()
	if inc, _ := r.Incarnation(rank); inc <= last {
		t.Errorf("fra-1 resumes with incarnation %#x, not above %#x", inc, last)
	} else {
		last = inc
	}

	// The handover's node leaves: the plan's order.
	handover("fra-2")
	r.Install(conf(localring.Transitional, 16, "fra-1", "fra-3"))
	r.Install(conf(localring.Regular, 16, "fra-1", "fra-3"))
	step("fra-2 left", "fra-1")
	if _, _, err := r.Check(""); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "no other gateway") {
		t.Errorf("without a standby in the ring: %v", err)
	}
	r.Install(conf(localring.Transitional, 20, "fra-3"))
	r.Install(conf(localring.Regular, 20, "fra-3"))
	if _, _, err := r.Check(""); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "none of the site's gateways") {
		t.Errorf("without a gateway in the ring: %v", err)
	}

	// A configuration takes MaxEpoch handovers, then refuses.
	r.Install(conf(localring.Transitional, 24, "fra-1", "fra-2"))
	r.Install(conf(localring.Regular, 24, "fra-1", "fra-2"))
	active, last = "", 0
	step("a new configuration", "fra-1")
	for range MaxEpoch {
		handover("")
	}
	if _, _, err := r.Check(""); !errors.Is(err, ErrHandoverRefused) || !strings.Contains(err.Error(), "the most one configuration takes") {
		t.Errorf("past MaxEpoch: %v", err)
	}
	r.Install(conf(localring.Transitional, 28, "fra-1", "fra-2"))
	r.Install(conf(localring.Regular, 28, "fra-1", "fra-2"))
	handover("")
	if last >= 1<<53 {
		t.Errorf("incarnation %#x is not exact for 53-bit readers", last)
	}
	if _, err := Incarnation(localring.RingID{Seq: MaxLocalSeq}, MaxEpoch, 1<<RankBits-1); err != nil {
		t.Error(err)
	} else if inc, _ := Incarnation(localring.RingID{Seq: MaxLocalSeq}, MaxEpoch, 1<<RankBits-1); inc >= 1<<53 {
		t.Errorf("the largest incarnation %#x is not exact for 53-bit readers", inc)
	}
	if _, err := Incarnation(localring.RingID{Seq: 4}, MaxEpoch+1, 0); err == nil {
		t.Error("an epoch beyond EpochBits was accepted")
	}
}

func fmtActive(r *Role) string {
	gw, rank, ok := r.Active()
	inc, _ := r.Incarnation(rank)
	return fmt.Sprintf("%s rank %d (%v) incarnation %#x", gw, rank, ok, inc)
}

// TestHandoverWire round-trips a handover message and refuses what is not
// one.
func TestHandoverWire(t *testing.T) {
	h := HandoverRequest{Domain: threeSites, From: "fra-1", To: "fra-2", Requester: "fra-3", Nonce: 1 << 40}
	for _, kind := range [][2]bool{{false, false}, {true, false}, {false, true}} {
		h.Release, h.Resume = kind[0], kind[1]
		got, err := DecodeHandover(EncodeHandover(h))
		if err != nil || got != h {
			t.Fatalf("DecodeHandover = %+v, %v; want %+v", got, err, h)
		}
	}
	b := EncodeHandover(h)
	if !IsHandover(b) {
		t.Fatal("not recognised")
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 0), b[:6], b[:4], {0xC1, 'h', 'o', 'v', 4}, {0xA7, 1}, {0xB1}} {
		if _, err := DecodeHandover(bad); err == nil {
			t.Errorf("DecodeHandover(%x) accepted", bad)
		}
	}
	if IsHandover([]byte{0xA7, 1, 2, 3, 4, 5}) {
		t.Error("a group message taken for a handover")
	}
}
