package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
)

// TestSentElsewhere: a client's message that the group layer drops as
// sent in a configuration this node left (groups.SentElsewhere: a
// federation domain's view tells so of an Up its site dropped, gateway/
// bridge Entry.Gone) is no longer silent. The session gets an Error with
// req 0 (code sent_elsewhere, op multicast, the group and the message's
// seq) and then the answer to the flush that waited for the message.
// Before, the agent advanced the session's sent messages only on a send
// the group layer reported: a flush that waited for the message waited
// for a later one, or forever when it was the last (the second case).
// The agent's own group layer stands in for the domain's: both go
// through routeGroupEvent alike.
func TestSentElsewhere(t *testing.T) {
	for _, last := range []bool{false, true} {
		name := "then a later send"
		if last {
			name = "the last"
		}
		t.Run(name, func(t *testing.T) {
			a, conf := loneAgent(t)
			s := &session{cs: a.cs, version: cp.MaxVersion, wake: make(chan struct{}, 1), done: make(chan struct{})}
			if code, text := a.cs.register(s, "app"); code != 0 {
				t.Fatal(text)
			}
			now := time.Now()
			a.handleRequest(s, &cp.Frame{Type: cp.TypeMulticast, Req: 1, Svc: uint8(localring.Agreed), Groups: []string{"orders"}, Payload: []byte("m1")}, now, now, nil, 0)
			if !last {
				a.handleRequest(s, &cp.Frame{Type: cp.TypeMulticast, Req: 2, Svc: uint8(localring.Agreed), Groups: []string{"orders"}, Payload: []byte("m2")}, now, now, nil, 0)
			}
			a.handleRequest(s, &cp.Frame{Type: cp.TypeFlush, Req: 3}, now, now, nil, 0)
			a.groupOutput()
			handed := a.gl.queue
			a.gl.queue = nil
			if want := map[bool]int{false: 2, true: 1}[last]; len(handed) != want {
				t.Fatalf("%d messages handed to the ring, want %d", len(handed), want)
			}
			sendAs := func(i int, c string) {
				a.stepGroups(localring.Event{Kind: localring.EventSend, Msg: localring.Message{
					ID: localring.MessageID{Sender: a.self.ID, Inc: a.self.Inc, Seq: uint64(100 + i)}, Svc: handed[i].Svc, Payload: handed[i].Payload, Conf: c}})
			}
			sendAs(0, groups.SentElsewhere)
			if !last {
				sendAs(1, conf.ID)
			}

			frames := sessionFrames(t, s)
			var elsewhere, flushed *cp.Frame
			for i := range frames {
				f := &frames[i]
				switch {
				case f.Type == cp.TypeError && f.Req == 0:
					if elsewhere != nil {
						t.Errorf("a second error: %+v", f)
					}
					elsewhere = f
				case f.Type == cp.TypeError:
					t.Errorf("request %d refused: %s", f.Req, f.Text)
				case f.Type == cp.TypeOK && f.Req == 3:
					if elsewhere == nil {
						t.Error("the flush answered before the error of the message it waited for")
					}
					flushed = f
				}
			}
			if flushed == nil {
				t.Fatalf("the flush is not answered: frames %s", brief(frames))
			}
			if elsewhere == nil {
				t.Fatalf("no error for the message sent elsewhere: frames %s", brief(frames))
			}
			if elsewhere.Code != cp.CodeSentElsewhere || elsewhere.Op != cp.TypeMulticast || elsewhere.Group != "orders" || elsewhere.Seq != 1 {
				t.Errorf("error code %s, op %s, group %q, seq %d: want sent_elsewhere, multicast, orders, 1", elsewhere.Code, elsewhere.Op, elsewhere.Group, elsewhere.Seq)
			}
			for _, w := range []string{"that this node left when site lab was cut off", "not in this member's views", "not sent again"} {
				if !strings.Contains(elsewhere.Text, w) {
					t.Errorf("error text %q does not say %q", elsewhere.Text, w)
				}
			}
			if st := a.g.Stats(); st.Elsewhere != 1 {
				t.Errorf("group layer stats %+v: want one message sent elsewhere", st)
			}
		})
	}
}

// loneAgent returns an agent that does not run (New without Run), whose
// group layer is synced in a regular configuration of its node alone: the
// test plays its ring and group loop.
func loneAgent(t *testing.T) (*Agent, *localring.Configuration) {
	t.Helper()
	c := newCluster(t, 1)
	f, err := c.net.Listen(c.addr("n1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.config("n1")
	cfg.Network, cfg.TracePath = f, ""
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ring := localring.RingID{Seq: 4, Rep: a.self.ID}
	ms := []localring.Member{a.self}
	conf := &localring.Configuration{ID: "r:4:n1", Kind: localring.Regular, Ring: ring, Members: ms}
	a.stepGroups(localring.Event{Kind: localring.EventInstall, Conf: &localring.Configuration{ID: "t:4:n1/0:n1", Kind: localring.Transitional, Ring: ring, Members: ms}})
	a.stepGroups(localring.Event{Kind: localring.EventInstall, Conf: conf})
	for i, s := range a.gl.queue { // its report
		a.stepGroups(localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{
			ID: localring.MessageID{Sender: a.self.ID, Inc: a.self.Inc, Seq: uint64(i + 1)}, Svc: s.Svc, Payload: s.Payload,
			Conf: conf.ID, Order: localring.Order{Ring: ring.Seq, Seq: uint64(i + 1)}}})
	}
	a.gl.queue = nil
	if !a.g.Synced() {
		t.Fatal("the group layer did not sync in a ring of its node alone")
	}
	return a, conf
}

// sessionFrames decodes the frames queued for s.
func sessionFrames(t *testing.T, s *session) []cp.Frame {
	t.Helper()
	s.mu.Lock()
	out := bytes.Clone(s.out)
	s.mu.Unlock()
	r := cp.NewReader(bytes.NewReader(out))
	var fs []cp.Frame
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return fs
		}
		if err != nil {
			t.Fatalf("session frames: %v", err)
		}
		fs = append(fs, f)
	}
}

// brief lists frames as type/req/seq, for failures.
func brief(fs []cp.Frame) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, " %s/req %d/seq %d", f.Type, f.Req, f.Seq)
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}
