package federation

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

const threeSites = "fed/global:ams+fra+sin"

func load(t *testing.T, name string) (*topology.File, *topology.Plan) {
	t.Helper()
	f, err := topology.Load("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return f, f.Plan()
}

// TestNewConfig builds a standby gateway's member: the site is the member
// id, the incarnation comes from the local ring, and the timers, window,
// packet and message sizes are the WAN ones the plan implies.
func TestNewConfig(t *testing.T) {
	f, p := load(t, "three-sites.yaml")
	c, err := NewConfig(f, p, threeSites, "fra-2", localring.RingID{Seq: 12, Rep: "fra-2"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := p.Domain(threeSites)
	r := c.Ring
	if c.Site != "fra" || r.ID != "fra" || c.Gateway != "fra-2" || r.Incarnation != 12<<(EpochBits+RankBits)|1 {
		t.Errorf("member %s#%d (site %s, gateway %s), want fra#%d by fra-2", r.ID, r.Incarnation, c.Site, c.Gateway, 12<<(EpochBits+RankBits)|1)
	}
	if r.TokenTimeout != d.Timeouts.Token.D() || r.TokenRetransmit != d.Timeouts.Retransmit.D() ||
		r.ConsensusTimeout != d.Timeouts.Consensus.D() || r.JoinTimeout != d.Timeouts.Join.D() {
		t.Errorf("timers %v/%v/%v/%v, want the plan's %+v", r.TokenTimeout, r.TokenRetransmit, r.ConsensusTimeout, r.JoinTimeout, d.Timeouts)
	}
	if r.MergeTimeout != localring.MergeJoins*d.Timeouts.Join.D() {
		t.Errorf("merge interval %v, want %d joins", r.MergeTimeout, localring.MergeJoins)
	}
	if r.TokenHold >= r.TokenRetransmit {
		t.Errorf("token hold %v not below retransmit %v", r.TokenHold, r.TokenRetransmit)
	}
	// The slowest link is ams–sin, 100 Mbit/s: 12.5 MB/s over the 205.3 ms
	// rotation is 2.566 MB, 157 packets of 16 KiB.
	if d.Latency.Rotation.D() != 205300*time.Microsecond || r.WindowPackets != 157 || r.MaxPacketsPerVisit != 157 {
		t.Errorf("window %d (per visit %d) over rotation %v, want 157", r.WindowPackets, r.MaxPacketsPerVisit, d.Latency.Rotation)
	}
	if r.MaxPacketBytes != localring.WANPacketBytes || r.MaxMessageBytes != localring.MaxMessageBytes+EnvelopeOverhead {
		t.Errorf("packet %d, message %d bytes", r.MaxPacketBytes, r.MaxMessageBytes)
	}
	if r.RingSeq != RingSeqMargin {
		t.Errorf("first ring sequence number %d, want the margin %d above none known", r.RingSeq, RingSeqMargin)
	}
	if c.Endpoints["sin"] != "sin.gw.example.net:7400" || len(c.Sites) != 3 || c.Domain != threeSites {
		t.Errorf("domain %s, sites %v, endpoints %v", c.Domain, c.Sites, c.Endpoints)
	}
	// Every member of the domain shares the ring settings.
	o, err := NewConfig(f, p, threeSites, "sin-2", localring.RingID{Seq: 40, Rep: "sin-1"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each gateway of a site numbers its rings in a lane of its own, its
	// rank: fra-2 and sin-2 are rank 1 and 0 of sites with two gateways.
	if r.RingSeqLanes != 2 || r.RingSeqLane != 1 || o.Ring.RingSeqLanes != 2 || o.Ring.RingSeqLane != 0 {
		t.Errorf("ring sequence lanes %d/%d and %d/%d, want lane 1 and 0 of 2", r.RingSeqLane, r.RingSeqLanes, o.Ring.RingSeqLane, o.Ring.RingSeqLanes)
	}
	o.Ring.ID, o.Ring.Incarnation, o.Ring.RingSeq, o.Ring.RingSeqLane = r.ID, r.Incarnation, r.RingSeq, r.RingSeqLane
	if !reflect.DeepEqual(o.Ring, r) {
		t.Errorf("members of one domain got different ring settings:\n%+v\n%+v", o.Ring, r)
	}
}

// TestNewConfigRefuses names what is wrong.
func TestNewConfigRefuses(t *testing.T) {
	f, p := load(t, "three-sites.yaml")
	ring := localring.RingID{Seq: 8, Rep: "ams-1"}
	for _, tc := range []struct{ domain, node, want string }{
		{threeSites, "fra-3", "not a gateway of site fra"},
		{"site/fra", "fra-1", "not a federation domain"},
		{"fed/nope", "fra-1", "its federation domains are: " + threeSites},
		{threeSites, "lon-1", "not in topology file"},
	} {
		_, err := NewConfig(f, p, tc.domain, tc.node, ring, 0, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s in %s: %v, want %q", tc.node, tc.domain, err, tc.want)
		}
	}
	if _, err := NewConfig(f, p, threeSites, "fra-1", localring.RingID{}, 0, 0); err == nil {
		t.Error("an incarnation from local ring sequence number 0 was accepted")
	}
}

// TestIncarnationsOnlyGrow follows a site through takeovers: every
// gateway that becomes active in a later local configuration has a higher
// incarnation, and two gateways active at once in two halves of a split
// site (the same sequence number) differ.
func TestIncarnationsOnlyGrow(t *testing.T) {
	_, p := load(t, "three-sites.yaml")
	d, _ := p.Domain(threeSites)
	// The site's local configurations, in the order every node sees them.
	steps := []struct {
		seq     uint64
		members []string
	}{
		{4, []string{"fra-1", "fra-2", "fra-3"}},
		{8, []string{"fra-2", "fra-3"}},           // fra-1 crashed: fra-2 takes over
		{12, []string{"fra-1", "fra-2", "fra-3"}}, // fra-1 back: preferred again
		{16, []string{"fra-1", "fra-3"}},          // fra-2 left: fra-1 stays active
		{20, []string{"fra-2", "fra-3"}},
	}
	var last uint64
	active := ""
	for _, s := range steps {
		gw, rank, ok := ActiveGateway(d, "fra", s.members)
		if !ok {
			t.Fatalf("no active gateway among %v", s.members)
		}
		if gw == active {
			continue // stays active with its incarnation
		}
		inc, err := Incarnation(localring.RingID{Seq: s.seq, Rep: localring.NodeID(s.members[0])}, 0, rank)
		if err != nil {
			t.Fatal(err)
		}
		if inc <= last {
			t.Errorf("%s active at local seq %d with incarnation %d, not above %d", gw, s.seq, inc, last)
		}
		last, active = inc, gw
	}
	if active != "fra-2" || last != 20<<(EpochBits+RankBits)|1 {
		t.Errorf("ends with %s#%d", active, last)
	}
	a, _ := Incarnation(localring.RingID{Seq: 24, Rep: "fra-1"}, 0, 0)
	b, _ := Incarnation(localring.RingID{Seq: 24, Rep: "fra-2"}, 0, 1)
	if a == b {
		t.Errorf("the gateways of two halves of a split site share incarnation %d", a)
	}
	if _, _, ok := ActiveGateway(d, "fra", []string{"fra-3"}); ok {
		t.Error("fra-3, not eligible, was made a gateway")
	}
	if _, err := Incarnation(localring.RingID{Seq: MaxLocalSeq + 1}, 0, 0); err == nil {
		t.Error("a sequence number that overflows the incarnation was accepted")
	}
	if _, err := Incarnation(localring.RingID{Seq: 4}, 0, 1<<RankBits); err == nil {
		t.Error("a rank beyond RankBits was accepted")
	}
}

// TestEnvelopeFits submits a maximum-size local message inside a full
// envelope to a federation ring node, and one byte more.
func TestEnvelopeFits(t *testing.T) {
	f, p := load(t, "three-sites.yaml")
	c, err := NewConfig(f, p, threeSites, "ams-1", localring.RingID{Seq: 4, Rep: "ams-1"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := localring.New(c.Ring)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	n.Start(now)
	if _, err := n.Submit(now, localring.Agreed, make([]byte, localring.MaxMessageBytes+EnvelopeOverhead)); err != nil {
		t.Errorf("a maximum-size local message in its envelope: %v", err)
	}
	if _, err := n.Submit(now, localring.Agreed, make([]byte, localring.MaxMessageBytes+EnvelopeOverhead+1)); !errors.Is(err, localring.ErrTooLarge) {
		t.Errorf("one byte more: %v, want ErrTooLarge", err)
	}
}

// TestValidate catches a member id that is not the site.
func TestValidate(t *testing.T) {
	f, p := load(t, "three-sites.yaml")
	c, err := NewConfig(f, p, threeSites, "ams-1", localring.RingID{Seq: 4, Rep: "ams-1"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Ring.ID = "ams-1"
	c.Ring.MaxMessageBytes = localring.MaxMessageBytes
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "must be the site") || !strings.Contains(err.Error(), "would not fit") {
		t.Errorf("Validate: %v", err)
	}
}

// IncarnationRank reads back the rank Incarnation put in, at every rank
// and epoch bound.
func TestIncarnationRank(t *testing.T) {
	for _, epoch := range []int{0, 1, MaxEpoch} {
		for rank := range 1 << RankBits {
			inc, err := Incarnation(localring.RingID{Seq: MaxLocalSeq, Rep: "a-1"}, epoch, rank)
			if err != nil {
				t.Fatal(err)
			}
			if got := IncarnationRank(inc); got != rank {
				t.Fatalf("IncarnationRank(Incarnation(max, %d, %d)) = %d", epoch, rank, got)
			}
		}
	}
}

// TestFitPacket: over a transport of smaller packets the window keeps its
// bytes and counts them; a transport that carries the preset's packets
// (streams) leaves the configuration as it is, counting packets.
func TestFitPacket(t *testing.T) {
	c := localring.DefaultWAN("fra")
	c.WindowPackets, c.MaxPacketsPerVisit = 100, 50
	same := c
	FitPacket(&same, c.MaxPacketBytes)
	if !reflect.DeepEqual(same, c) {
		t.Errorf("FitPacket at the preset's packet size changed the configuration: %+v", same)
	}
	small := c
	FitPacket(&small, 1245)
	if !small.ByteWindow || small.MaxPacketBytes != 1245 {
		t.Errorf("over 1,245-byte packets: ByteWindow %v, MaxPacketBytes %d; want true, 1245", small.ByteWindow, small.MaxPacketBytes)
	}
	if w, want := small.WindowPackets*small.MaxPacketBytes, c.WindowPackets*c.MaxPacketBytes; w > want || w < want-small.MaxPacketBytes {
		t.Errorf("window of %d bytes over 1,245-byte packets, want the preset's %d", w, want)
	}
	if err := small.Validate(); err != nil {
		t.Error(err)
	}
}

// TestBacklogBytes: a gateway keeps in its transport's queue toward a
// peer what the domain's slowest declared link carries in two rotations,
// at least MinBacklogBytes, and no such bound without a declared
// bandwidth.
func TestBacklogBytes(t *testing.T) {
	raw, err := os.ReadFile("testdata/three-sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, from, to string
		want           int
	}{
		// 100 Mbit/s: 12.5 MB/s over two rotations of 205.3 ms.
		{"declared", "", "", 5132500},
		// 1 Mbit/s: 51,325 bytes, raised to the floor.
		{"floor", "bandwidth: 100Mbit/s", "bandwidth: 1Mbit/s", MinBacklogBytes},
		{"none", "", "", 0},
	} {
		data := raw
		switch {
		case c.from != "":
			data = []byte(strings.ReplaceAll(string(raw), c.from, c.to))
		case c.name == "none":
			data = regexp.MustCompile(`, bandwidth: [^}]*`).ReplaceAll(raw, nil)
		}
		f, err := topology.Parse(c.name, data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		d, _ := f.Plan().Domain(threeSites)
		if got := BacklogBytes(f, d); got != c.want {
			t.Errorf("%s: %d bytes, want %d (rotation %v)", c.name, got, c.want, d.Latency.Rotation)
		}
	}
}
