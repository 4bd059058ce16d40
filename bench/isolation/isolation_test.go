package isolation

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/topology"
)

// TestTopologyPlansThreeDomains: the benchmark's topology, through the
// planner, puts a-local in site a's ring, ab-regional in a federation
// domain of a and b, abc-global in one of a, b and c; without
// ab-regional the regional domain is not formed.
func TestTopologyPlansThreeDomains(t *testing.T) {
	y := Topology(1_000_000, Groups)
	_, p, err := Plan(y, Groups)
	if err != nil {
		t.Fatal(err)
	}
	fed := fedDomains(p)
	if strings.Join(fed, " ") != "fed/regional:a+b fed/global:a+b+c" {
		t.Errorf("federation domains %v, want fed/regional:a+b and fed/global:a+b+c", fed)
	}
	for g, want := range wantDomain {
		if pc, ok := p.Lookup(g); !ok || pc.Domain != want {
			t.Errorf("%s in %+v, want %s", g, pc, want)
		}
	}
	d, _ := p.Domain("fed/global:a+b+c")
	if d.Latency.Mean.D() < 450*time.Millisecond || d.Latency.Mean.D() > 800*time.Millisecond { // 200ms links, and Safe on the federation ring: three rotations
		t.Errorf("global domain predicts a mean of %s; the 200ms links should dominate it", d.Latency.Mean.D())
	}

	two := []string{ALocal, ABCGlobal}
	_, p, err = Plan(Topology(1_000_000, two), two)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Domain("fed/regional:a+b"); ok {
		t.Error("without ab-regional the plan still has the regional domain")
	}
}

// TestPlanRefusesMisplacedGroups: a topology whose plan puts a group
// elsewhere than the benchmark needs is refused with the group named.
func TestPlanRefusesMisplacedGroups(t *testing.T) {
	y := bytes.Replace(Topology(1_000_000, Groups), []byte("class: regional, sites: [a, b]"), []byte("class: global, sites: [a, b]"), 1)
	_, _, err := Plan(y, Groups)
	if err == nil || !strings.Contains(err.Error(), "ab-regional") {
		t.Fatalf("got %v, want the misplaced ab-regional named", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Groups: []string{ALocal, "nope", ABCGlobal}},
		{Groups: []string{ALocal, ABRegional}},
		{Size: 8},
		{Background: true, OneProcess: true},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (Config{Groups: []string{ALocal, ABCGlobal}}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestPayload(t *testing.T) {
	b := make([]byte, 64)
	k := key{2, 3, 7, 123456}
	encode(b, k, 987654321)
	got, sent, err := decode(b)
	if err != nil || got != k || sent != 987654321 {
		t.Fatalf("decode = %v %v %v", got, sent, err)
	}
	if _, _, err := decode([]byte("hello, this is not ours")); err == nil {
		t.Error("a foreign payload decoded")
	}
	if _, _, err := decode(b[:10]); err == nil {
		t.Error("a short payload decoded")
	}
}

// TestGroupStats: lost counts (message, receiver) pairs missing, a
// second delivery counts as duplicated, the warm-up's messages count for
// loss but not for latency, and the last-member latency is the median of
// the per-message maxima over messages every receiver got.
func TestGroupStats(t *testing.T) {
	s := newMember("a-1", 0, clock{})
	s.sent[1] = []uint32{0, 1, 2, 3}
	r1, r2 := newMember("a-2", 0, clock{}), newMember("a-3", 0, clock{})
	ms := func(v int) int64 { return int64(v) * 1e6 }
	// seq 0 is warm-up (sent at 0 < from = 5ms).
	for seq, sent := range []int64{0, ms(10), ms(20), ms(30)} {
		r1.got[key{0, 1, 0, uint32(seq)}] = &delivery{sent: sent, at: sent + ms(1), count: 1}
	}
	r2.got[key{0, 1, 0, 0}] = &delivery{sent: 0, at: ms(3), count: 1}
	r2.got[key{0, 1, 0, 1}] = &delivery{sent: ms(10), at: ms(13), count: 2}
	r2.got[key{0, 1, 0, 2}] = &delivery{sent: ms(20), at: ms(25), count: 1}
	// seq 3 never reached r2; another phase's duplicate does not count.
	r2.got[key{0, 2, 0, 0}] = &delivery{count: 5}
	// r3 got nothing, but was in a view without a-1 during the phase:
	// its missing messages are not owed.
	r3 := newMember("b-1", 0, clock{})
	r3.views = []sites.View{regular(-ms(10), "a-1:a-local", "b-1:a-local"), regular(ms(50), "b-1:a-local")}
	st := groupStats(0, 1, 0, ms(5), ms(100), []sender{{s, 0}}, []*member{r1, r2, r3})
	if st.Sent != 4 || st.Lost != 1 || st.Duplicated != 1 || st.Delivered != 7 || st.Measured != 5 || st.Separated != 4 {
		t.Errorf("got %+v; want 4 sent, 1 lost, 1 duplicated, 7 delivered, 5 measured, 4 separated", st)
	}
	// last-member latencies of seq 1 and 2: 3ms and 5ms; nearest-rank median 3ms.
	if st.LastP50 != 3*time.Millisecond {
		t.Errorf("last-member median %v, want 3ms", st.LastP50)
	}
	if st.Max != 5*time.Millisecond || st.P50 != time.Millisecond {
		t.Errorf("p50 %v max %v, want 1ms and 5ms", st.P50, st.Max)
	}
}

// regular is a regular view of members installed at ns on clock{}.
func regular(ns int64, members ...string) sites.View {
	return sites.View{View: client.View{Members: members}, At: clock{}.at(ns)}
}

// TestApart: a member is apart from another if the view current at the
// phase's start, or one installed during it, lacks the other.
func TestApart(t *testing.T) {
	m := newMember("a-1", 0, clock{})
	all, alone := []string{"a-1:a-local", "a-2:a-local"}, []string{"a-1:a-local"}
	m.views = []sites.View{regular(0, alone...), regular(10, all...), regular(50, alone...), regular(60, all...)}
	for _, c := range []struct {
		from, to int64
		want     bool
	}{
		{20, 40, false}, // the view current at 20 (from 10) has both
		{5, 40, true},   // the view current at 5 lacks a-2
		{20, 55, true},  // a view without a-2 installed at 50
		{65, 90, false},
		{-10, -5, false}, // no view yet
	} {
		if got := m.apart("a-2:a-local", c.from, c.to); got != c.want {
			t.Errorf("apart in [%d, %d] = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

// TestTransitionalApart: a-3, cut off at the install of a ring that
// a-1 and a-2 installed with it, goes through a transitional view of
// itself alone into the next regular view of all three; no regular view
// lacks a-2, but a-2's messages of that ring are not owed to a-3 (atoll
// bench isolation under load: 16 a-local messages of a-2 counted lost at
// a-3, whose trace passes the EVS checker).
func TestTransitionalApart(t *testing.T) {
	m := newMember("a-3", 0, clock{})
	all := []string{"a-1:a-local", "a-2:a-local", "a-3:a-local"}
	view := func(at int64, trans bool, members ...string) {
		m.record(&client.Event{Kind: client.EventView, View: &client.View{Group: "a-local", Members: members, Transitional: trans}}, at)
	}
	view(0, false, all...)
	view(20, true, "a-3:a-local")
	view(30, false, all...)
	if !m.apart("a-2:a-local", 10, 40) {
		t.Errorf("a-3 is not apart from a-2 though its transitional view at 20 lacks a-2")
	}
	if m.apart("a-2:a-local", 35, 40) {
		t.Errorf("a-3 is apart from a-2 after the regular view of all at 30")
	}
	if !slices.Equal(m.view, all) {
		t.Errorf("the last regular view is %v, want %v", m.view, all)
	}
	// In a federation domain every change gives each node a transitional
	// view of itself alone: it says nothing of who was cut off.
	m = newMember("a-3", slices.Index(Groups, ABRegional), clock{})
	view(0, false, all...)
	view(20, true, "a-3:a-local")
	view(30, false, all...)
	if m.apart("a-2:a-local", 10, 40) {
		t.Errorf("a member of ab-regional is apart from a-2 after a transitional view of itself alone")
	}
}

// TestViewEventJSON: a view event, as a site's process sends it to the
// run, reads back as the client's view, reason and changes included.
func TestViewEventJSON(t *testing.T) {
	for _, v := range []client.View{
		{Group: ABRegional, ID: "v7", Members: []string{"a-1:ab-regional", "b-1:ab-regional"}, Joined: []string{"b-1:ab-regional"}, Reason: client.ReasonNetwork},
		{Group: ABRegional, ID: "v8", Members: []string{"a-1:ab-regional"}, Transitional: true},
	} {
		m := newMember("a-1", slices.Index(Groups, ABRegional), clock{})
		j, err := json.Marshal(eventOf(&client.Event{Kind: client.EventView, View: &v}, 5))
		if err != nil {
			t.Fatalf("json.Marshal of the event of %+v: %v", v, err)
		}
		var e event
		if err := json.Unmarshal(j, &e); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", j, err)
		}
		m.apply(e)
		if len(m.views) != 1 || !reflect.DeepEqual(m.views[0].View, v) {
			t.Errorf("%s read back as %+v, want the view %+v", j, m.views, v)
		}
	}
}

func TestLongestGap(t *testing.T) {
	for _, c := range []struct {
		times       []int64
		from, until int64
		want        int64
	}{
		{[]int64{10, 20, 30, 100, 110}, 35, 120, 65}, // from the kill (35), not the last delivery before it (30), to 100
		{[]int64{10, 20, 30}, 35, 100, 65},           // nothing after: up to until
		{[]int64{50, 60}, 0, 70, 50},                 // none before: from from
		{[]int64{10, 20, 30, 40, 200}, 25, 150, 110}, // a delivery after until does not end the gap
		{[]int64{110, 100, 30, 20, 10}, 35, 120, 65}, // unsorted
		{[]int64{10, 35, 36, 90}, 35, 100, 54},       // a delivery at the kill itself
		{nil, 10, 30, 20},
	} {
		if got := longestGap(c.times, c.from, c.until); got != time.Duration(c.want) {
			t.Errorf("longestGap(%v, %d, %d) = %d, want %d", c.times, c.from, c.until, got, c.want)
		}
	}
}

func TestAgainAfter(t *testing.T) {
	for _, c := range []struct {
		times       []int64
		from, until int64
		want        int64
	}{
		{[]int64{10, 20, 30, 40, 100, 110}, 35, 120, 65}, // one at 40 right after the kill; the longest gap ends at 100
		{[]int64{10, 20, 30}, 35, 100, 65},               // nothing after: until
		{[]int64{50, 60}, 0, 70, 50},                     // the first gap, from from, is the longest
		{[]int64{10, 40, 200}, 25, 150, 125},             // a delivery after until does not end the gap
		{nil, 10, 30, 20},
	} {
		if got := againAfter(c.times, c.from, c.until); got != time.Duration(c.want) {
			t.Errorf("againAfter(%v, %d, %d) = %d, want %d", c.times, c.from, c.until, got, c.want)
		}
	}
}

func TestIdleAt(t *testing.T) {
	for _, c := range []struct {
		times    []int64
		at, want int64
	}{
		{[]int64{10, 20, 30, 100}, 35, 5}, // the last before 35 came at 30
		{[]int64{10, 20, 30, 100}, 30, 0}, // one at the instant itself
		{[]int64{50, 60}, 40, 0},          // none before
		{nil, 40, 0},
	} {
		if got := idleAt(c.times, c.at); got != time.Duration(c.want) {
			t.Errorf("idleAt(%v, %d) = %d, want %d", c.times, c.at, got, c.want)
		}
	}
}

// TestTargets: the report judges the targets from the phases' figures
// and says which it could not judge.
func TestTargets(t *testing.T) {
	ms := time.Millisecond
	g := func(name string, p99, last time.Duration) GroupStats {
		return GroupStats{Group: name, Measured: 10, P50: p99 / 2, P99: p99, LastP50: last}
	}
	r := &Report{Config: Config{Groups: []string{ALocal, ABCGlobal}}}
	r.Predicted.Mean = topology.Duration(200 * ms)
	r.Failover.TokenTimeout = time.Second
	r.Failover.Gap = 1500 * ms
	r.Phases = []Phase{
		{Groups: []GroupStats{g(ALocal, 10*ms, 0)}},
		{Groups: []GroupStats{g(ALocal, 10*ms, 0), g(ABCGlobal, 400*ms, 240*ms)}},
		{Groups: []GroupStats{g(ALocal, 12*ms, 0), g(ABCGlobal, 4000*ms, 3000*ms)}},
		{Groups: []GroupStats{g(ALocal, 10*ms, 0), {Group: ABCGlobal, Measured: 5, Duplicated: 1}}},
	}
	ts := r.Targets()
	if len(ts) != 5 {
		t.Fatalf("%d targets", len(ts))
	}
	if ts[0].Met || !strings.Contains(ts[0].Measured, "1.20×") {
		t.Errorf("a-local: %+v, want 1.20× not met", ts[0])
	}
	if ts[1].Missing == "" || ts[2].Missing == "" {
		t.Errorf("ab-regional was not run but judged: %+v %+v", ts[1], ts[2])
	}
	if !ts[3].Met || !strings.Contains(ts[3].Measured, "+20%") {
		t.Errorf("prediction: %+v, want +20%% met", ts[3])
	}
	if ts[4].Met || !strings.Contains(ts[4].Measured, "1 duplicated") {
		t.Errorf("failover: %+v, want not met for the duplicate", ts[4])
	}
	if r.Err() == nil {
		t.Error("a duplicate does not fail the run")
	}
	var out bytes.Buffer
	r.WriteTable(&out, "atoll bench isolation")
	for _, want := range []string{"| a-local (site/a) | p50 / p99 |", "not measured: ab-regional was not run", "| abc-global | median to the last member | – | 240.0ms | 3000.0ms |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDeliveredApart: the regional federation ring breaks, sites a and b
// each go on alone in one for a moment and merge again; every member of
// ab-regional goes through a transitional view of itself alone into one
// regular view of all, no regular view lacking the others. What b-1 got
// of its own messages in its transitional view is not owed to a-1, which
// never got it (bench isolation under load, load average 15-20: 27 lost,
// b's 9 messages of that moment delivered at every b node and at no a
// node, the EVS checker passing the traces); what b-1 got in a regular
// view is.
func TestDeliveredApart(t *testing.T) {
	g := slices.Index(Groups, ABRegional)
	all := []string{"a-1:ab-regional", "b-1:ab-regional"}
	a, b := newMember("a-1", g, clock{}), newMember("b-1", g, clock{})
	view := func(m *member, at int64, trans bool, members ...string) {
		m.record(&client.Event{Kind: client.EventView, View: &client.View{Group: ABRegional, Members: members, Transitional: trans}}, at)
	}
	got := func(m *member, seq uint32, sent, at int64) {
		m.got[key{uint8(g), 1, 1, seq}] = &delivery{sent: sent, at: at, count: 1}
	}
	for _, m := range []*member{a, b} {
		view(m, 0, false, all...)
		view(m, 20, true, m.name())
		view(m, 30, false, all...)
	}
	b.sent[1] = []uint32{0, 1, 2, 3}
	got(b, 0, 5, 10) // in the regular view of both, at both
	got(a, 0, 5, 11)
	got(b, 1, 15, 25) // in b-1's transitional view of itself alone
	got(b, 2, 16, 26)
	got(b, 3, 35, 40) // in the regular view after: owed
	senders, recv := []sender{{b, 1}}, []*member{a, b}
	st := groupStats(g, 1, 0, 0, 50, senders, recv)
	if st.Lost != 1 || st.Separated != 2 || st.Delivered != 5 {
		t.Errorf("got %+v; want 1 lost, 2 separated, 5 delivered", st)
	}
	if n := missing(g, 1, 0, 50, senders, recv); n != 1 {
		t.Errorf("%d deliveries missing, want 1 (seq 3 at a-1)", n)
	}
	// A message its sender has not got yet is owed until it does.
	b.sent[1] = append(b.sent[1], 4)
	if n := missing(g, 1, 0, 50, senders, recv); n != 3 {
		t.Errorf("%d deliveries missing with seq 4 at neither, want 3", n)
	}
}
