package localring_test

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/sim"
)

// TestScenarios runs the scripts in testdata/: named protocol cases driven
// step by step through the simulator, with the expected output inline.
// Regenerate the expected output after an intended change with
//
//	go test ./localring -run TestScenarios -rewrite
//
// and read the diff.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &scenario{}
		datadriven.RunTest(t, path, s.run)
	})
}

type scenario struct {
	c       *sim.Cluster
	log     bytes.Buffer
	seen    int // trace events already shown by "deliveries"
	shownAt map[string]int
}

func (s *scenario) node(t *testing.T, d *datadriven.TestData, key string) int {
	var name string
	d.ScanArgs(t, key, &name)
	i := s.c.Index(localring.NodeID(name))
	if i < 0 {
		d.Fatalf(t, "no node %q", name)
	}
	return i
}

func (s *scenario) duration(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var v string
	d.ScanArgs(t, key, &v)
	dur, err := time.ParseDuration(v)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return dur
}

// prob reads the optional p=P argument, 1 if absent.
func (s *scenario) prob(t *testing.T, d *datadriven.TestData) float64 {
	p := 1.0
	if d.HasArg("p") {
		var v string
		d.ScanArgs(t, "p", &v)
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			d.Fatalf(t, "p=%s: want a probability", v)
		}
		p = f
	}
	return p
}

func (s *scenario) run(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "cluster" && s.c == nil {
		d.Fatalf(t, "the first command must be cluster")
	}
	switch d.Cmd {
	case "cluster":
		var n int
		seed := uint64(1)
		d.ScanArgs(t, "nodes", &n)
		if d.HasArg("seed") {
			d.ScanArgs(t, "seed", &seed)
		}
		s.c = sim.NewCluster(seed, n)
		s.c.Log = &s.log
		s.shownAt = map[string]int{}
		if !d.HasArg("stopped") {
			s.c.StartAll()
		}
	case "start", "restart":
		s.c.Start(s.node(t, d, "node"))
	case "crash":
		s.c.Crash(s.node(t, d, "node"))
	case "leave":
		s.c.Leave(s.node(t, d, "node"))
	case "pause":
		s.c.Pause(s.node(t, d, "node"))
	case "resume":
		s.c.Resume(s.node(t, d, "node"))
	case "partition":
		var groups [][]int
		for _, a := range d.CmdArgs {
			var g []int
			for _, name := range append([]string{a.Key}, a.Vals...) {
				for _, part := range strings.Split(name, ",") {
					i := s.c.Index(localring.NodeID(part))
					if i < 0 {
						d.Fatalf(t, "no node %q", part)
					}
					g = append(g, i)
				}
			}
			groups = append(groups, g)
		}
		s.c.Partition(groups...)
	case "block":
		s.c.Block(s.node(t, d, "from"), s.node(t, d, "to"))
	case "misdeliver":
		// misdeliver for=A to=B [count=N every=D]: N times, D apart.
		count, every := 1, time.Duration(0)
		if d.HasArg("count") {
			d.ScanArgs(t, "count", &count)
			every = s.duration(t, d, "every")
		}
		from, to := s.node(t, d, "for"), s.node(t, d, "to")
		log := s.c.Log
		s.c.Log = nil // one line for the whole storm
		for k := 0; k < count; k++ {
			s.c.RunFor(every)
			s.c.Misdeliver(from, to)
		}
		s.c.Log = log
		fmt.Fprintf(&s.log, "%d copies of packets for %s delivered to %s\n", count, s.c.NodeID(from), s.c.NodeID(to))
	case "mute":
		// mute node=A [p=P]: A's multicasts are lost (tokens pass) until heal.
		s.c.MuteMulticast(s.node(t, d, "node"), s.prob(t, d))
	case "deaf":
		// deaf node=A [p=P]: multicasts to A are lost (tokens pass) until heal.
		s.c.DeafMulticast(s.node(t, d, "node"), s.prob(t, d))
	case "lossy":
		// lossy from=A to=B p=P: every packet from A to B is lost with P until heal.
		s.c.LossyLink(s.node(t, d, "from"), s.node(t, d, "to"), s.prob(t, d))
	case "heal":
		s.c.Heal()
		fmt.Fprintln(&s.log, "healed")
	case "faults":
		f := s.c.Faults()
		for _, a := range d.CmdArgs {
			v, err := strconv.ParseFloat(a.Vals[0], 64)
			if err != nil {
				d.Fatalf(t, "%s: %v", a.Key, err)
			}
			switch a.Key {
			case "loss":
				f.Loss = v
			case "mcast-loss":
				f.McastLoss = v
			case "token-loss":
				f.TokenLoss = v
			case "dup":
				f.Duplicate = v
			default:
				d.Fatalf(t, "unknown fault %q", a.Key)
			}
		}
		s.c.SetFaults(f)
	case "submit":
		i := s.node(t, d, "node")
		svc, count, size := "agreed", 1, 100
		if d.HasArg("svc") {
			d.ScanArgs(t, "svc", &svc)
		}
		if d.HasArg("count") {
			d.ScanArgs(t, "count", &count)
		}
		if d.HasArg("size") {
			d.ScanArgs(t, "size", &size)
		}
		level, err := localring.ParseService(svc)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		for k := 0; k < count; k++ {
			if err := s.c.Submit(i, level, size); err != nil {
				fmt.Fprintf(&s.log, "submit: %v\n", err)
			}
		}
	case "run":
		if d.HasArg("until") {
			var until string
			d.ScanArgs(t, "until", &until)
			name, state, _ := strings.Cut(until, ":")
			i := s.c.Index(localring.NodeID(name))
			ok := s.c.RunUntil(s.c.Now().Add(5*time.Second), func() bool {
				return s.c.Node(i) != nil && s.c.Node(i).State() == state
			})
			if !ok {
				fmt.Fprintf(&s.log, "%s never reached %s\n", name, state)
			}
		} else {
			s.c.RunFor(s.duration(t, d, "for"))
		}
	case "stabilize":
		// Run until every running node is operational with nothing left
		// to send and no configuration has changed for 600ms (each side of
		// a partition settles on its own), for at most 10s.
		lastInstall, installs := s.c.Now(), s.countInstalls()
		deadline := s.c.Now().Add(10 * time.Second)
		for s.c.Now().Before(deadline) {
			s.c.RunFor(50 * time.Millisecond)
			if n := s.countInstalls(); n != installs {
				installs, lastInstall = n, s.c.Now()
			}
			if s.settled() && s.c.Now().Sub(lastInstall) >= 600*time.Millisecond {
				break
			}
		}
		if !s.settled() {
			fmt.Fprintln(&s.log, "did not stabilize")
		}
	case "deliveries":
		return s.deliveries()
	case "stats":
		i := s.node(t, d, "node")
		st := s.c.Node(i).Stats()
		return fmt.Sprintf("retransmit-requests>0: %v\nretransmits-by-others-or-me>0: %v\ntoken-losses: %d\nevictions: %d\n",
			st.RetransmitRequests > 0, st.Retransmits > 0, st.TokenLosses, st.Evictions)
	case "status":
		var b strings.Builder
		for i := 0; i < s.c.Size(); i++ {
			n := s.c.Node(i)
			if n == nil {
				fmt.Fprintf(&b, "%s: not running\n", s.c.NodeID(i))
				continue
			}
			conf := "none"
			if cf := n.Configuration(); cf != nil {
				conf = fmt.Sprintf("%s %v", cf.ID, cf.MemberIDs())
			}
			fmt.Fprintf(&b, "%s: %s in %s\n", s.c.NodeID(i), n.State(), conf)
		}
		return b.String()
	case "check":
		vs := evs.Check(s.c.Trace(), evs.Options{Failed: s.c.Failed(), Quiescent: true})
		if len(vs) == 0 {
			return "evs: ok\n"
		}
		var b strings.Builder
		for _, v := range vs {
			fmt.Fprintln(&b, v)
		}
		return b.String()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	out := s.log.String()
	s.log.Reset()
	return out
}

func (s *scenario) countInstalls() int {
	n := 0
	for _, e := range s.c.Trace() {
		if e.Ev == evs.EvInstall {
			n++
		}
	}
	return n
}

// settled reports whether every running node is operational and has sent
// everything it was given.
func (s *scenario) settled() bool {
	for i := 0; i < s.c.Size(); i++ {
		n := s.c.Node(i)
		if n == nil || s.c.Paused(i) {
			continue
		}
		if n.State() != "operational" || n.Pending() > 0 {
			return false
		}
	}
	return true
}

// deliveries summarizes, per node, the messages delivered since the last
// call: how many in each configuration.
func (s *scenario) deliveries() string {
	type key struct{ node, conf string }
	counts := map[key]int{}
	tr := s.c.Trace()
	for _, e := range tr[s.seen:] {
		if e.Ev == evs.EvDeliver {
			counts[key{e.Node, e.ConfID}]++
		}
	}
	s.seen = len(tr)
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].node != keys[j].node {
			return keys[i].node < keys[j].node
		}
		return keys[i].conf < keys[j].conf
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s delivered %d in %s\n", k.node, counts[k], k.conf)
	}
	if b.Len() == 0 {
		return "none\n"
	}
	return b.String()
}
