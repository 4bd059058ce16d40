package groups

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// TestScenarios runs the scripts in testdata/scenarios: group-layer cases
// driven step by step on the fake ring of ring_test.go, with every
// node's events (configurations, views, deliveries, rejections) shown
// inline as they happen. Regenerate the expected output after an
// intended change with
//
//	go test ./groups -run TestScenarios -rewrite
//
// and read the diff. The commands:
//
//	ring nodes=(a,b,c)            new nodes, not in any ring
//	form [absent=(b)]             one ring per input line ("a b"); absent
//	                              members are listed but do not install it
//	join|leave node=a client=x group=g
//	mcast node=a client=x [svc=agreed] payload=m groups=(g,h)
//	acl node=a client=x group=g [join=(..)] [send=(..)] [admin=(..)]
//	send                          every node hands its queue to its ring
//	deliver [nodes=(a,b)]         every ring delivers what was sent (to
//	                              the nodes listed, if any)
//	run                           send and deliver until nothing moves
//	hold|release node=c           keep a node's queue off the ring / give it back
//	crash|start node=c            kill -9; start the next incarnation
//	synced | pending | acls group=g
//	check                         the EVS checker over the trace (quiescent)
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		s := &groupScenario{}
		datadriven.RunTest(t, path, s.run)
	})
}

type groupScenario struct {
	r     *testRing
	shown map[string]int // events of each node already printed
	held  map[string][]Submit
}

func (s *groupScenario) node(t *testing.T, d *datadriven.TestData) *tnode {
	var id string
	d.ScanArgs(t, "node", &id)
	tn := s.r.nodes[id]
	if tn == nil {
		d.Fatalf(t, "no node %q", id)
	}
	return tn
}

func (s *groupScenario) str(t *testing.T, d *datadriven.TestData, key string) string {
	var v string
	d.ScanArgs(t, key, &v)
	return v
}

func (s *groupScenario) list(d *datadriven.TestData, key string) []string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return a.Vals
		}
	}
	return nil
}

func (s *groupScenario) run(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "ring" && s.r == nil {
		d.Fatalf(t, "the first command must be ring")
	}
	var out strings.Builder
	switch d.Cmd {
	case "ring":
		s.r = newTestRing(t, s.list(d, "nodes")...)
		s.shown = map[string]int{}
		s.held = map[string][]Submit{}
	case "form":
		var sets [][]string
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				sets = append(sets, f)
			}
		}
		if len(sets) == 0 {
			d.Fatalf(t, "form: no ring given (one line of node ids per ring)")
		}
		s.r.formAbsent(s.list(d, "absent"), sets...)
	case "join", "leave":
		tn := s.node(t, d)
		op := tn.g.Join
		if d.Cmd == "leave" {
			op = tn.g.Leave
		}
		if err := op(s.str(t, d, "client"), s.str(t, d, "group")); err != nil {
			fmt.Fprintf(&out, "%s: %v\n", tn.id, err)
		}
		s.r.collect(tn)
	case "mcast":
		tn := s.node(t, d)
		svc := localring.Agreed
		if d.HasArg("svc") {
			var err error
			if svc, err = localring.ParseService(s.str(t, d, "svc")); err != nil {
				d.Fatalf(t, "%v", err)
			}
		}
		if _, err := tn.g.Multicast(s.str(t, d, "client"), svc, 7, s.list(d, "groups"), []byte(s.str(t, d, "payload"))); err != nil {
			fmt.Fprintf(&out, "%s: %v\n", tn.id, err)
		}
		s.r.collect(tn)
	case "acl":
		tn := s.node(t, d)
		acl := ACL{Join: s.list(d, "join"), Send: s.list(d, "send"), Admin: s.list(d, "admin")}
		if err := tn.g.SetACL(s.str(t, d, "client"), s.str(t, d, "group"), acl); err != nil {
			fmt.Fprintf(&out, "%s: %v\n", tn.id, err)
		}
		s.r.collect(tn)
	case "send":
		s.r.send()
	case "deliver":
		if ids := s.list(d, "nodes"); ids != nil {
			for _, id := range ids {
				tn := s.r.nodes[id]
				if tn == nil || tn.ring == nil {
					d.Fatalf(t, "deliver: %q is not in a ring", id)
				}
				s.r.deliverTo(len(tn.ring.sent), id)
			}
		} else {
			s.r.deliver()
		}
	case "run":
		s.r.run()
	case "hold":
		tn := s.node(t, d)
		s.held[tn.id] = append(s.held[tn.id], tn.queue...)
		tn.queue = nil
		fmt.Fprintf(&out, "%s holds %d ring messages\n", tn.id, len(s.held[tn.id]))
	case "release":
		tn := s.node(t, d)
		tn.queue = append(s.held[tn.id], tn.queue...)
		delete(s.held, tn.id)
	case "crash":
		s.r.crash(s.node(t, d).id)
	case "start":
		tn := s.r.start(s.node(t, d).id)
		s.shown[tn.id] = 0
	case "synced":
		for _, tn := range s.r.sortedNodes() {
			fmt.Fprintf(&out, "%s synced=%v\n", tn.id, tn.g.Synced())
		}
	case "pending":
		for _, tn := range s.r.sortedNodes() {
			st := tn.g.Stats()
			fmt.Fprintf(&out, "%s pending=%d bytes=%d resent=%d discarded=%d\n", tn.id, tn.g.Pending(), tn.g.PendingBytes(), st.Resent, st.Discarded)
		}
	case "acls":
		group := s.str(t, d, "group")
		for _, tn := range s.r.sortedNodes() {
			acl, ok := tn.g.ACL(group)
			if !ok {
				fmt.Fprintf(&out, "%s %s: none\n", tn.id, group)
				continue
			}
			fmt.Fprintf(&out, "%s %s: join=%v send=%v admin=%v\n", tn.id, group, acl.Join, acl.Send, acl.Admin)
		}
	case "check":
		vs := evs.Check(s.r.trace, evs.Options{Failed: s.r.failed, Quiescent: true, MaxPerProperty: -1})
		if len(vs) == 0 {
			return "ok\n"
		}
		_ = evs.Report(&out, vs)
		return out.String()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	s.events(&out)
	return out.String()
}

// events prints the events each node emitted since the last command, node
// by node.
func (s *groupScenario) events(out *strings.Builder) {
	for _, tn := range s.r.sortedNodes() {
		for _, e := range tn.events[s.shown[tn.id]:] {
			fmt.Fprintf(out, "%s: %s\n", tn.id, eventLine(&e))
		}
		s.shown[tn.id] = len(tn.events)
	}
}

func eventLine(e *Event) string {
	to := ""
	if len(e.To) > 0 {
		to = " to " + strings.Join(e.To, ",")
	}
	switch e.Kind {
	case EventConf:
		kind := "reg"
		if e.Conf.Kind == localring.Transitional {
			kind = "trans"
		}
		return fmt.Sprintf("%s %s %v", kind, e.Conf.ID, e.Conf.MemberIDs())
	case EventView:
		return "view " + e.View.Group + " " + viewString(e.View) + to
	case EventSent:
		return fmt.Sprintf("sent %s %q", e.Msg.Sender, e.Msg.Payload)
	case EventDeliver:
		dst := strings.Join(e.Msg.Groups, ",")
		if e.Msg.To != "" {
			dst = "member " + e.Msg.To
		}
		s := fmt.Sprintf("deliver %q from %s (%s, %s)%s", e.Msg.Payload, e.Msg.Sender, dst, e.Msg.Svc, to)
		if e.Err != nil {
			s += ": " + e.Err.Error()
		}
		return s
	case EventLeft:
		return "left " + e.Client + " " + e.Group
	case EventReject:
		return fmt.Sprintf("reject %s %s seq=%d: %v", e.Client, e.Group, e.Seq, e.Err)
	}
	return fmt.Sprintf("event %d", e.Kind)
}
