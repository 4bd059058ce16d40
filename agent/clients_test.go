package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
)

// rawClient speaks the client protocol frame by frame, as a client in
// another language would.
type rawClient struct {
	t      *testing.T
	conn   net.Conn
	r      *cp.Reader
	req    uint32
	member string
	events []cp.Frame // frames that were not the reply waited for
}

func dialUnix(t *testing.T, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// hello sends a hello on conn and returns the agent's answer.
func hello(t *testing.T, conn net.Conn, name string, minV, maxV uint16) (*cp.Reader, cp.Frame) {
	t.Helper()
	if _, err := conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypeHello, MinVersion: minV, MaxVersion: maxV, Name: name})); err != nil {
		t.Fatal(err)
	}
	r := cp.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := r.Next()
	if err != nil {
		t.Fatalf("hello as %q: %v", name, err)
	}
	conn.SetReadDeadline(time.Time{})
	r.SetMax(cp.MaxFrame)
	return r, f
}

// localConn returns an in-process connection to a (Agent.LocalConn: no
// kernel buffer, every frame not read waits in the agent's queue), closed
// at the test's end.
func localConn(t *testing.T, a *Agent) net.Conn {
	t.Helper()
	conn, err := a.LocalConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func newRaw(t *testing.T, conn net.Conn, name string) *rawClient {
	t.Helper()
	r, f := hello(t, conn, name, 1, 1)
	if f.Type != cp.TypeWelcome {
		t.Fatalf("hello as %q: got %s %s %q, want a welcome", name, f.Type, f.Code, f.Text)
	}
	return &rawClient{t: t, conn: conn, r: r, member: f.Name}
}

func (c *rawClient) write(f cp.Frame) {
	c.t.Helper()
	if _, err := c.conn.Write(cp.Append(nil, &f)); err != nil {
		c.t.Fatal(err)
	}
}

// discard reads and drops the frames the agent sends, in a goroutine,
// until the connection ends (a sender's replies).
func (c *rawClient) discard() {
	go func() {
		for {
			if _, err := c.next(time.Minute); err != nil {
				return
			}
		}
	}()
}

// next reads one frame.
func (c *rawClient) next(timeout time.Duration) (cp.Frame, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	f, err := c.r.Next()
	if f.Payload != nil {
		f.Payload = bytes.Clone(f.Payload)
	}
	return f, err
}

// do sends a request and returns its reply; other frames are kept in
// events.
func (c *rawClient) do(f cp.Frame) cp.Frame {
	c.t.Helper()
	c.req++
	f.Req = c.req
	c.write(f)
	for {
		g, err := c.next(5 * time.Second)
		if err != nil {
			c.t.Fatalf("%s: waiting for the reply to %s: %v", c.member, f.Type, err)
		}
		if g.Req == f.Req && (g.Type == cp.TypeOK || g.Type == cp.TypeError || g.Type == cp.TypeViewReply || g.Type == cp.TypePong || g.Type == cp.TypeGroupList) {
			return g
		}
		c.events = append(c.events, g)
	}
}

func (c *rawClient) ok(f cp.Frame) cp.Frame {
	c.t.Helper()
	g := c.do(f)
	if g.Type == cp.TypeError {
		c.t.Fatalf("%s: %s %q: %s: %s", c.member, f.Type, f.Group, g.Code, g.Text)
	}
	return g
}

// waitFrame reads (from events first) until match returns true.
func (c *rawClient) waitFrame(what string, match func(cp.Frame) bool) cp.Frame {
	c.t.Helper()
	for i, f := range c.events {
		if match(f) {
			c.events = slices.Delete(c.events, i, i+1)
			return f
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: waiting for %s: %v", c.member, what, err)
		}
		if match(f) {
			return f
		}
		c.events = append(c.events, f)
	}
}

// waitView waits for a view of group with exactly members.
func (c *rawClient) waitView(group string, members ...string) cp.View {
	c.t.Helper()
	return c.waitFrame(fmt.Sprintf("view of %s with %v", group, members), func(f cp.Frame) bool {
		return f.Type == cp.TypeView && f.View.Group == group && f.View.Flags&cp.FlagTransitional == 0 && slices.Equal(f.View.Members, members)
	}).View
}

// waitEnd reads until the connection ends and returns the goodbye, if one
// came.
func (c *rawClient) waitEnd() *cp.Frame {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.t.Fatalf("%s: the agent did not end the session", c.member)
			}
			return nil
		}
		if f.Type == cp.TypeGoodbye {
			return &f
		}
	}
}

func clientSocket(c *cluster, id string) string { return filepath.Join(c.dir, id, ClientSocketName) }

// TestClientHello: the socket's mode, the welcome, and the hellos the
// agent refuses with a goodbye that says why.
func TestClientHello(t *testing.T) {
	c := newCluster(t, 1)
	c.start("n1", nil)
	path := clientSocket(c, "n1")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("client socket mode %v, want a socket with 0660", fi.Mode())
	}
	if got := c.agents["n1"].a.ClientAddrs(); !slices.Equal(got, []string{"unix://" + path}) {
		t.Errorf("ClientAddrs = %v", got)
	}

	_, w := hello(t, dialUnix(t, path), "alice", 1, 5)
	if w.Type != cp.TypeWelcome || w.Version != cp.Version3 || w.Name != "n1:alice" || w.Node != "n1" || w.MaxMessage == 0 || w.MaxFrame != cp.MaxFrame || w.QueueFrames != DefaultClientQueueFrames ||
		w.WindowMsgs != DefaultClientWindowMsgs || w.WindowBytes != DefaultClientWindowBytes {
		t.Errorf("welcome: %+v", w)
	}
	// A client of version 1 only gets a version 1 welcome, without the
	// window.
	_, anon := hello(t, dialUnix(t, path), "", 1, 1)
	if anon.Type != cp.TypeWelcome || !strings.HasPrefix(anon.Name, "n1:c") || anon.Version != 1 || anon.WindowMsgs != 0 {
		t.Errorf("welcome without a name: %+v", anon)
	}

	for _, tc := range []struct {
		name       string
		minV, maxV uint16
		code       cp.Code
		text       string
	}{
		{"alice", 1, 1, cp.CodeNameInUse, `client name "alice" is in use`},
		{"atoll", 1, 1, cp.CodeBadName, "reserved"},
		{"a:b", 1, 1, cp.CodeBadName, "not valid"},
		{"bob", 4, 5, cp.CodeVersion, "agent n1 speaks protocol versions 1 to 3, the client 4 to 5"},
	} {
		_, f := hello(t, dialUnix(t, path), tc.name, tc.minV, tc.maxV)
		if f.Type != cp.TypeGoodbye || f.Code != tc.code || !strings.Contains(f.Text, tc.text) {
			t.Errorf("hello as %q (v%d-%d): %s %s %q; want a goodbye %s with %q", tc.name, tc.minV, tc.maxV, f.Type, f.Code, f.Text, tc.code, tc.text)
		}
	}

	// Not a hello at all: an HTTP request, and a join before the hello.
	conn := dialUnix(t, path)
	io.WriteString(conn, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
	f, err := cp.NewReader(conn).Next()
	if err != nil || f.Type != cp.TypeGoodbye || f.Code != cp.CodeProtocol || !strings.Contains(f.Text, "is the peer an Atoll client") {
		t.Errorf("HTTP request: %+v %v", f, err)
	}
	conn = dialUnix(t, path)
	conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypeJoin, Req: 1, Group: "g"}))
	f, err = cp.NewReader(conn).Next()
	if err != nil || f.Type != cp.TypeGoodbye || f.Code != cp.CodeProtocol || !strings.Contains(f.Text, "first frame must be a hello") {
		t.Errorf("join before hello: %+v %v", f, err)
	}
	if n := c.agents["n1"].a.Status().Counters.ClientProtocolErrors; n != 2 {
		t.Errorf("protocol errors counted: %d, want 2", n)
	}
}

// TestClientRequests: each request's reply, and the errors a program
// branches on.
func TestClientRequests(t *testing.T) {
	c := newRing(t, 1)
	path := clientSocket(c, "n1")
	a := newRaw(t, dialUnix(t, path), "a")
	b := newRaw(t, dialUnix(t, path), "b")

	if g := a.do(cp.Frame{Type: cp.TypePing}); g.Type != cp.TypePong {
		t.Errorf("ping: %+v", g)
	}
	a.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	a.waitView("g", "n1:a")
	b.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	v := b.waitView("g", "n1:a", "n1:b")
	if v.Reason != cp.ReasonJoin || !slices.Equal(v.Joined, []string{"n1:b"}) {
		t.Errorf("view after b's join: %+v", v)
	}
	a.waitView("g", "n1:a", "n1:b")

	ok := a.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, MsgType: 9, Groups: []string{"g"}, Payload: []byte("m1")})
	if ok.Type != cp.TypeOK || ok.Seq == 0 {
		t.Errorf("multicast reply: %+v", ok)
	}
	a.ok(cp.Frame{Type: cp.TypeSend, Svc: 5, MsgType: 10, To: "n1:b", Payload: []byte("p1")})
	if g := a.do(cp.Frame{Type: cp.TypeFlush}); g.Type != cp.TypeOK || g.Seq < ok.Seq {
		t.Errorf("flush: %+v", g)
	}
	m := b.waitFrame("m1", func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == "m1" })
	if m.Sender != "n1:a" || m.MsgType != 9 || m.Svc != 5 || !slices.Equal(m.Groups, []string{"g"}) || m.Seq != ok.Seq || m.Order == 0 || m.MsgID == "" {
		t.Errorf("message m1: %+v", m)
	}
	p := b.waitFrame("p1", func(f cp.Frame) bool { return f.Type == cp.TypeMessage })
	if string(p.Payload) != "p1" || p.Flags8 != cp.FlagPointToPoint || p.To != "n1:b" || p.Order <= m.Order {
		t.Errorf("point-to-point p1 after m1: %+v", p)
	}

	gl := a.do(cp.Frame{Type: cp.TypeListGroups})
	if gl.Type != cp.TypeGroupList || gl.Flags8 != cp.FlagLast || len(gl.Entries) != 1 || gl.Entries[0].Group != "g" || gl.Entries[0].Members != 2 {
		t.Errorf("list groups: %+v", gl)
	}
	vr := a.do(cp.Frame{Type: cp.TypeGetView, Group: "g"})
	if vr.Flags8 != cp.FlagFound || !slices.Equal(vr.View.Members, []string{"n1:a", "n1:b"}) {
		t.Errorf("get view: %+v", vr)
	}
	if vr := a.do(cp.Frame{Type: cp.TypeGetView, Group: "nobody"}); vr.Type != cp.TypeViewReply || vr.Flags8 != 0 {
		t.Errorf("get view of an empty group: %+v", vr)
	}

	for _, tc := range []struct {
		f    cp.Frame
		code cp.Code
	}{
		{cp.Frame{Type: cp.TypeJoin, Group: "has space"}, cp.CodeBadName},
		{cp.Frame{Type: cp.TypeLeave, Group: "other"}, cp.CodeNotMember},
		{cp.Frame{Type: cp.TypeMulticast, Svc: 9, Groups: []string{"g"}}, cp.CodeInvalid},
		{cp.Frame{Type: cp.TypeMulticast, Svc: 5}, cp.CodeInvalid},
		{cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: make([]byte, 1<<20)}, cp.CodeTooLarge},
		{cp.Frame{Type: cp.TypeSend, Svc: 5, To: "nobody"}, cp.CodeBadName},
		{cp.Frame{Type: cp.TypeGetView, Group: ""}, cp.CodeBadName},
	} {
		g := a.do(tc.f)
		if g.Type != cp.TypeError || g.Code != tc.code || g.Op != tc.f.Type || g.Text == "" {
			t.Errorf("%s %+v: got %s %s op %s %q; want error %s", tc.f.Type, tc.f.Groups, g.Type, g.Code, g.Op, g.Text, tc.code)
		}
	}

	// Leave: the leaver gets its self-leave, the other a view.
	b.ok(cp.Frame{Type: cp.TypeLeave, Group: "g"})
	b.waitFrame("left", func(f cp.Frame) bool { return f.Type == cp.TypeLeft && f.Group == "g" })
	v = a.waitView("g", "n1:a")
	if v.Reason != cp.ReasonLeave || !slices.Equal(v.Left, []string{"n1:b"}) {
		t.Errorf("view after b's leave: %+v", v)
	}
	// A session that ends is disconnected from its groups.
	b.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	a.waitView("g", "n1:a", "n1:b")
	b.conn.Close()
	v = a.waitView("g", "n1:a")
	if v.Reason != cp.ReasonDisconnect {
		t.Errorf("view after b's disconnect: %+v", v)
	}
	c.waitIdle(5 * time.Second)
	c.stopAll()
	c.check(true)
}

// TestGarbageClient: a client that sends garbage after its hello is told
// why and disconnected; the ring and the other clients go on.
func TestGarbageClient(t *testing.T) {
	c := newRing(t, 2)
	good := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "good")
	bad := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "bad")
	far := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "far")
	for _, cl := range []*rawClient{good, bad, far} {
		cl.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	}
	for _, cl := range []*rawClient{good, far} {
		cl.waitFrame("all three in g", func(f cp.Frame) bool { return f.Type == cp.TypeView && len(f.View.Members) == 3 })
	}

	for i, garbage := range [][]byte{
		{0, 0, 0, 5, 0x40, 1, 2, 3, 4},                           // an unknown frame type
		{0, 0, 0, 2, byte(cp.TypeJoin), 1},                       // a truncated join
		{0xFF, 0xFF, 0xFF, 0xFF},                                 // a length beyond any limit
		cp.Append(nil, &cp.Frame{Type: cp.TypeWelcome}),          // a frame only agents send
		cp.Append(nil, &cp.Frame{Type: cp.TypeJoin, Group: "g"}), // request id 0
	} {
		cl := bad
		if i > 0 {
			cl = newRaw(t, dialUnix(t, clientSocket(c, "n1")), "bad"+strconv.Itoa(i))
		}
		cl.conn.Write(garbage)
		bye := cl.waitEnd()
		if bye == nil || bye.Code != cp.CodeProtocol || bye.Text == "" {
			t.Errorf("garbage %x: goodbye %+v, want code protocol with a reason", garbage, bye)
		} else {
			t.Logf("garbage %x: %s", garbage, bye.Text)
		}
	}
	badLeft := func(f cp.Frame) bool { return f.Type == cp.TypeView && slices.Contains(f.View.Left, "n1:bad") }
	v := good.waitFrame("the view without the garbage client", badLeft).View
	if v.Reason != cp.ReasonDisconnect || !slices.Equal(slices.Sorted(slices.Values(v.Members)), []string{"n1:good", "n2:far"}) {
		t.Errorf("view after the garbage client: %+v", v)
	}
	far.waitFrame("the view without the garbage client", badLeft)
	// The others still talk.
	good.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: []byte("still here")})
	far.waitFrame("message", func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == "still here" })
	if n := c.agents["n1"].a.Status().Counters.ClientProtocolErrors; n != 5 {
		t.Errorf("protocol errors: %d, want 5", n)
	}
	c.waitIdle(5 * time.Second)
	c.stopAll()
	c.check(true)
}

// TestSlowClient: a client that never reads is disconnected once its
// queue passes four times its bound, while another client of the same
// group keeps receiving everything and the ring goes on; a client that
// pauses while a burst twice its bound arrives, and then reads, is warned
// and keeps everything: within the grace, being outrun is no eviction.
func TestSlowClient(t *testing.T) {
	c := newCluster(t, 2)
	const bound = 1 << 20
	// The cloud preset's 1 s token timeout: under -race on two loaded
	// cores, the LAN's 200 ms was lost while the test's goroutines took
	// the CPU, and the ring split in two for a moment; the reader then
	// missed the messages n2 delivered alone (62 of 5242).
	c.start("n1", func(cfg *Config) {
		cfg.Ring = localring.DefaultCloud("")
		cfg.ClientQueueBytes, cfg.ClientSlowGrace = bound, time.Hour
	})
	c.start("n2", func(cfg *Config) { cfg.Ring = localring.DefaultCloud("") })
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)

	sleeper := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "sleeper")
	reader := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "reader")
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "sender")
	sleeper.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	reader.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	reader.waitView("g", "n1:sleeper", "n1:reader")
	// From here on the sleeper reads nothing.

	sender.discard()
	payload := bytes.Repeat([]byte("x"), 1000)
	send := func(group string, n, req int) {
		for i := range n {
			sender.write(cp.Frame{Type: cp.TypeMulticast, Req: uint32(req + i + 1), Svc: 5, Groups: []string{group}, Payload: payload})
		}
	}
	const n = (hardQueueFactor + 1) * bound / 1000
	got := make(chan int)
	var others []cp.Frame // what the reader got besides messages
	go func() {
		count := 0
		for count < n {
			f, err := reader.next(30 * time.Second)
			if err != nil {
				break
			}
			if f.Type == cp.TypeMessage {
				count++
			} else {
				others = append(others, f)
			}
		}
		got <- count
	}()
	send("g", n, 0)
	if count := <-got; count != n {
		t.Fatalf("the reading client got %d of %d messages", count, n)
	}
	reader.events = append(reader.events, others...)
	st := c.agents["n1"].a.Status()
	if st.Counters.ClientsEvicted != 1 {
		t.Errorf("evicted %d clients, want 1", st.Counters.ClientsEvicted)
	}
	if !strings.Contains(c.logs.String(), "client evicted") {
		t.Errorf("no eviction line in the log")
	}
	// The sleeper finds the end of its session when it wakes up.
	if bye := sleeper.waitEnd(); bye != nil && bye.Code != cp.CodeSlowConsumer {
		t.Errorf("sleeper's goodbye: %+v", bye)
	}
	// Its membership is gone, with reason disconnect.
	v := reader.waitView("g", "n1:reader")
	if v.Reason != cp.ReasonDisconnect {
		t.Errorf("view after the eviction: %+v", v)
	}

	// A client that pauses while twice its bound arrives, and resumes
	// within the grace, is warned and loses nothing. The in-process pipe
	// has no kernel buffer, so the agent's queue grows from the first
	// message.
	pauser := newRaw(t, localConn(t, c.agents["n1"].a), "pauser")
	pauser.ok(cp.Frame{Type: cp.TypeJoin, Group: "h"})
	pauser.waitView("h", "n1:pauser")
	const m = 2 * bound / 1000                                  // past the bound, not past the hard bound
	warned := c.agents["n1"].a.Status().Counters.ClientWarnings // the sleeper's
	send("h", m, n)
	// Read nothing until n1's group layer delivered every message to h:
	// the pauser's queue then holds them all, over its bound. (Not the
	// ring's count of deliveries: the group loop may be hundreds of
	// messages behind it, and the pauser, reading then, emptied its queue
	// under half its bound before the rest filled it again: a second
	// warning.)
	deadline := time.Now().Add(20 * time.Second)
	for delivered := uint64(0); delivered < m && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		gs, err := c.agents["n1"].a.Groups(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if g.Name == "h" {
				delivered = g.Delivered
			}
		}
	}
	if c.agents["n1"].a.Status().Counters.ClientWarnings == warned {
		t.Errorf("the pauser was not warned")
	}
	msgs, warnings := 0, 0
	for msgs < m {
		f, err := pauser.next(30 * time.Second)
		if err != nil {
			for _, id := range c.ids {
				st := c.agents[id].a.Status()
				t.Logf("%s: %s", id, st.String())
			}
			t.Fatalf("pauser after %d of %d messages: %v", msgs, m, err)
		}
		switch f.Type {
		case cp.TypeMessage:
			msgs++
		case cp.TypeWarning:
			warnings++
			if f.Code != cp.CodeSlowConsumer || f.Text == "" {
				t.Errorf("warning: %+v", f)
			}
		}
	}
	if warnings != 1 {
		t.Errorf("pauser got %d warnings, want 1", warnings)
	}
	if st := c.agents["n1"].a.Status(); st.Counters.ClientsEvicted != 1 {
		t.Errorf("evicted %d clients, want still 1", st.Counters.ClientsEvicted)
	}
	c.waitIdle(10 * time.Second)
	c.stopAll()
	c.check(true)
}

// TestClientACL: the topology file's ACLs, by principal: Unix socket
// clients by their uid, embedded clients by their node; a send rule
// without principals lets members only send.
func TestClientACL(t *testing.T) {
	me := strconv.Itoa(os.Getuid())
	other := strconv.Itoa(os.Getuid() + 4242)
	acls := []GroupACL{
		{Group: "mine", Join: []string{"uid:" + me}, Send: []string{"uid:" + me}},
		{Group: "theirs", Join: []string{"uid:" + other, "cn:svc"}},
		{Group: "club.*", Send: nil},
		{Group: "local", Join: []string{"node:n1"}, Send: []string{"node:n1"}},
		{Group: "open", Join: []string{"*"}, Send: []string{"*"}},
	}
	c := newCluster(t, 1)
	c.start("n1", func(cfg *Config) { cfg.GroupACLs = acls })
	c.waitRing([]string{"n1"}, 5*time.Second)
	u := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "u")
	l := newRaw(t, localConn(t, c.agents["n1"].a), "l")

	expect := func(cl *rawClient, f cp.Frame, code cp.Code, text string) {
		t.Helper()
		g := cl.do(f)
		if code == 0 {
			if g.Type != cp.TypeOK {
				t.Errorf("%s %s %q %v: %s %s", cl.member, f.Type, f.Group, f.Groups, g.Code, g.Text)
			}
			return
		}
		if g.Type != cp.TypeError || g.Code != code || !strings.Contains(g.Text, text) {
			t.Errorf("%s %s %q %v: got %s %s %q; want %s with %q", cl.member, f.Type, f.Group, f.Groups, g.Type, g.Code, g.Text, code, text)
		}
	}
	join := func(g string) cp.Frame { return cp.Frame{Type: cp.TypeJoin, Group: g} }
	mcast := func(g string) cp.Frame {
		return cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{g}, Payload: []byte("x")}
	}
	expect(u, join("mine"), 0, "")
	expect(u, mcast("mine"), 0, "")
	expect(l, join("mine"), cp.CodeDenied, `client n1:l (node:n1, over local) may not join group "mine": the topology file's ACL (rule "mine") allows uid:`+me)
	expect(u, join("theirs"), cp.CodeDenied, "allows uid:"+other+", cn:svc")
	expect(u, join("local"), cp.CodeDenied, "uid:"+me)
	expect(l, join("local"), 0, "")
	expect(l, mcast("local"), 0, "")
	expect(u, mcast("local"), cp.CodeDenied, "may not send to group")
	expect(u, mcast("club.chess"), cp.CodeDenied, "lets only the group's members send")
	expect(u, join("club.chess"), 0, "")
	u.waitView("club.chess", "n1:u")
	expect(u, mcast("club.chess"), 0, "")
	expect(l, join("open"), 0, "")
	expect(u, mcast("open"), 0, "")
	// A multicast to several groups is denied as a whole.
	expect(u, cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"open", "local"}}, cp.CodeDenied, `group "local"`)
}

// TestClientShutdown: a stopping agent says goodbye to its clients after
// what it queued for them, and disconnects their memberships first.
//
// The disconnects are delivered while the agent drains, for at most its
// DrainTimeout; an agent that leaves before they come back leaves its
// members to a view with reason network, as it should. With the tests'
// 500 ms the drain could run out under load (-race, GOMAXPROCS=1, both
// cores busy: reason network; every time with a drain of 1 ns), so n1
// drains for up to 3 s here, which ends as soon as it has drained and
// stays under stop's 5 s.
func TestClientShutdown(t *testing.T) {
	c := newCluster(t, 2)
	c.start("n1", func(cfg *Config) { cfg.DrainTimeout = 3 * time.Second })
	c.start("n2", nil)
	c.waitRing(c.ids, 5*time.Second)
	leaving := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "leaving")
	staying := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "staying")
	leaving.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	leaving.waitView("g", "n1:leaving")
	staying.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	staying.waitView("g", "n1:leaving", "n2:staying")
	c.stop("n1")
	bye := leaving.waitEnd()
	if bye == nil || bye.Code != cp.CodeShuttingDown || !strings.Contains(bye.Text, "agent n1 is shutting down") {
		t.Errorf("goodbye at shutdown: %+v", bye)
	}
	v := staying.waitFrame("the view without n1:leaving", func(f cp.Frame) bool {
		return f.Type == cp.TypeView && slices.Contains(f.View.Left, "n1:leaving")
	}).View
	if v.Reason != cp.ReasonDisconnect || !slices.Equal(v.Members, []string{"n2:staying"}) {
		drain := "n1 drained"
		if strings.Contains(c.logs.String(), "left the ring before every accepted message was delivered") {
			drain = "n1's drain ran out first"
		}
		t.Errorf("view after n1 stopped: members %v, reason %d, want n2:staying, disconnect (the agent disconnected its clients before leaving; %s)", v.Members, v.Reason, drain)
	}
	c.stopAll()
	all := c.check(false)
	views := 0
	for _, e := range all {
		if e.Ev == evs.EvView {
			views++
		}
	}
	if views == 0 {
		t.Errorf("the traces hold no group views")
	}
}

// TestSlowClientGrace: a client whose queue stays over its bound (but
// under four times it) for longer than the grace is evicted, with a
// goodbye that says so.
func TestSlowClientGrace(t *testing.T) {
	c := newCluster(t, 2)
	const bound, grace = 1 << 20, 300 * time.Millisecond
	c.start("n1", func(cfg *Config) { cfg.ClientQueueBytes, cfg.ClientSlowGrace = bound, grace })
	c.start("n2", nil)
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)
	sleeper := newRaw(t, localConn(t, c.agents["n1"].a), "sleeper")
	sleeper.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	sleeper.waitView("g", "n1:sleeper")
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "sender")
	sender.discard()
	payload := bytes.Repeat([]byte("x"), 1000)
	req := uint32(0)
	send := func(n int) {
		for range n {
			req++
			sender.write(cp.Frame{Type: cp.TypeMulticast, Req: req, Svc: 5, Groups: []string{"g"}, Payload: payload})
		}
	}
	send(bound * 3 / 2 / 1000)
	deadline := time.Now().Add(30 * time.Second)
	for c.agents["n1"].a.Status().Counters.ClientsEvicted == 0 && time.Now().Before(deadline) {
		time.Sleep(grace / 2)
		send(1) // judged as a frame is queued (TestSlowClientStopsReading: without one)
	}
	if n := c.agents["n1"].a.Status().Counters.ClientsEvicted; n != 1 {
		t.Fatalf("evicted %d clients, want 1", n)
	}
	bye := sleeper.waitEnd()
	if bye == nil || bye.Code != cp.CodeSlowConsumer || !strings.Contains(bye.Text, "the grace is 300ms") {
		t.Errorf("goodbye: %+v", bye)
	}
	c.stopAll()
}

// TestSlowClientStopsReading: a client whose queue went over its bound,
// and that then reads nothing while nothing more comes for it (the
// traffic stopped), is evicted once the grace has passed, with a goodbye
// that says so, and the others see it leave with reason disconnect; it is
// not left holding its queue and its memberships for ever. A client whose
// queue went over its bound and drained within the grace, twice with more
// than the grace between, is not evicted: its time over the bound starts
// again each time.
func TestSlowClientStopsReading(t *testing.T) {
	c := newCluster(t, 2)
	const bound, grace = 32, time.Second
	c.start("n1", func(cfg *Config) { cfg.ClientQueueFrames, cfg.ClientSlowGrace = bound, grace })
	c.start("n2", nil)
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)
	a := c.agents["n1"].a
	sleeper, pauser := newRaw(t, localConn(t, a), "sleeper"), newRaw(t, localConn(t, a), "pauser")
	watcher := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "watcher")
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "sender")
	sleeper.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	sleeper.waitView("g", "n1:sleeper")
	watcher.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	watcher.waitView("g", "n1:sleeper", "n2:watcher")
	sleeper.waitView("g", "n1:sleeper", "n2:watcher") // its queue is empty
	pauser.ok(cp.Frame{Type: cp.TypeJoin, Group: "h"})
	pauser.waitView("h", "n1:pauser")
	sender.discard()
	req := uint32(0)
	burst := func(group string) {
		for range 2 * bound { // past the bound, under hardQueueFactor times it
			req++
			sender.write(cp.Frame{Type: cp.TypeMulticast, Req: req, Svc: 5, Groups: []string{group}, Payload: []byte("m")})
		}
	}
	// info polls the client's session at n1 until ok holds.
	info := func(name, what string, ok func(ClientInfo) bool) ClientInfo {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			cis, err := a.Clients(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, ci := range cis {
				if ci.Name == name && ok(ci) {
					return ci
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s: not within 20s (%+v)", name, what, cis)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The sleeper reads nothing from here on; once the burst has all
	// come to its queue, nothing more comes for it.
	burst("g")
	ci := info("sleeper", "the whole burst and its warning queued", func(ci ClientInfo) bool { return ci.QueuedFrames >= 2*bound+1 })
	if ci.OverSince.IsZero() {
		t.Fatalf("the sleeper's queue is not over its bound: %+v", ci)
	}
	deadline := ci.OverSince.Add(grace + 15*time.Second) // the grace, and more than enough for the group loop's pass
	for a.Status().Counters.ClientsEvicted == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	evicted := time.Now()
	if n := a.Status().Counters.ClientsEvicted; n != 1 {
		t.Fatalf("evicted %d clients %v after the sleeper's queue went over its bound and the traffic stopped, want 1 (grace %v)", n, evicted.Sub(ci.OverSince).Round(time.Millisecond), grace)
	}
	t.Logf("the sleeper was evicted within %v of its queue going over its bound (grace %v)", evicted.Sub(ci.OverSince).Round(time.Millisecond), grace)
	if evicted.Sub(ci.OverSince) < grace {
		t.Errorf("the sleeper was evicted %v after its queue went over its bound, before the grace of %v", evicted.Sub(ci.OverSince), grace)
	}
	bye := sleeper.waitEnd()
	if bye == nil || bye.Code != cp.CodeSlowConsumer || !strings.Contains(bye.Text, "over the bound of 32 frames") || !strings.Contains(bye.Text, "the grace is 1s") {
		t.Errorf("sleeper's goodbye: %+v", bye)
	}
	if !strings.Contains(c.logs.String(), "client evicted") {
		t.Errorf("no eviction line in the log")
	}
	v := watcher.waitFrame("the view without the sleeper", func(f cp.Frame) bool {
		return f.Type == cp.TypeView && f.View.Group == "g" && slices.Contains(f.View.Left, "n1:sleeper")
	}).View
	if v.Reason != cp.ReasonDisconnect || !slices.Equal(v.Members, []string{"n2:watcher"}) {
		t.Errorf("the watcher's view after the eviction: %+v", v)
	}

	// The pauser's queue goes over its bound, and it reads it all within
	// the grace; more than the grace later, again.
	for round := range 2 {
		burst("h")
		info("pauser", "its queue over its bound", func(ci ClientInfo) bool { return !ci.OverSince.IsZero() })
		for got := 0; got < 2*bound; {
			f, err := pauser.next(10 * time.Second)
			if err != nil {
				t.Fatalf("pauser, round %d, after %d of %d messages: %v", round, got, 2*bound, err)
			}
			if f.Type == cp.TypeMessage {
				got++
			}
		}
		info("pauser", "its queue under its bound", func(ci ClientInfo) bool { return ci.OverSince.IsZero() })
		if round == 0 {
			time.Sleep(grace + grace/2)
		}
	}
	if n := a.Status().Counters.ClientsEvicted; n != 1 {
		t.Errorf("evicted %d clients, want still 1: the pauser drained its queue within the grace each time", n)
	}
	pauser.ok(cp.Frame{Type: cp.TypePing})
	c.stopAll()
}

// TestSlowClientReading: a client that keeps reading is judged by what it
// has not taken. Its queue went over its bound while it paused (a burst of
// three times the bound, which the writer then holds as one batch); once it
// has read all but keep of the burst, at a steady pace, its queue counts at
// most keep frames and is under its bound again, so it is neither marked
// over its bound nor evicted, whatever is left of the batch the writer is
// writing. Over a Unix socket (the kernel's buffer takes part of the batch)
// and in process (no buffer: the writer's writes wait for every read).
func TestSlowClientReading(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload int
	}{
		// Messages so large that neither the socket's buffer nor the
		// client's reader can take keep of them.
		{"unix", 32 << 10},
		{"local", 32 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 2)
			const bound, grace, burst, keep = 32, 5 * time.Second, 3 * 32, 24
			c.start("n1", func(cfg *Config) { cfg.ClientQueueFrames, cfg.ClientSlowGrace = bound, grace })
			c.start("n2", nil)
			c.waitRing([]string{"n1", "n2"}, 5*time.Second)
			a := c.agents["n1"].a
			var conn net.Conn
			if tc.name == "unix" {
				conn = dialUnix(t, clientSocket(c, "n1"))
			} else {
				conn = localConn(t, a)
			}
			reader := newRaw(t, conn, "reader")
			reader.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
			reader.waitView("g", "n1:reader")
			sender := newRaw(t, dialUnix(t, clientSocket(c, "n2")), "sender")
			sender.discard()
			info := func() ClientInfo {
				t.Helper()
				cis, err := a.Clients(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for _, ci := range cis {
					if ci.Name == "reader" {
						return ci
					}
				}
				t.Fatalf("no session of the reader at n1: %+v", cis)
				return ClientInfo{}
			}

			// The reader pauses while the burst comes.
			payload := bytes.Repeat([]byte("x"), tc.payload)
			for i := range burst {
				sender.write(cp.Frame{Type: cp.TypeMulticast, Req: uint32(i + 1), Svc: 5, Groups: []string{"g"}, Payload: payload})
			}
			deadline := time.Now().Add(20 * time.Second)
			for ci := info(); ci.QueuedFrames < burst-keep || ci.OverSince.IsZero(); ci = info() {
				if time.Now().After(deadline) {
					t.Fatalf("the burst did not reach the reader's queue within 20s: %+v", ci)
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // the rest of the burst comes in

			// It reads all but keep of the burst, one message every 2 ms.
			read := 0
			readMsgs := func(n int, pause time.Duration) {
				t.Helper()
				for read < n {
					f, err := reader.next(10 * time.Second)
					if err != nil {
						t.Fatalf("the reader, after %d of %d messages: %v", read, burst, err)
					}
					if f.Type == cp.TypeMessage {
						read++
						time.Sleep(pause)
					}
				}
			}
			readMsgs(burst-keep, 2*time.Millisecond)
			deadline = time.Now().Add(2 * time.Second)
			ci := info()
			for ; ci.QueuedFrames > keep || !ci.OverSince.IsZero(); ci = info() {
				if time.Now().After(deadline) {
					t.Fatalf("the reader took all but %d of the %d messages of the burst, and its queue at n1 still counts %d frames (%d bytes), bound %d, over it since %v ago: what the writer holds counts as queued",
						keep, burst, ci.QueuedFrames, ci.QueuedBytes, bound, time.Since(ci.OverSince).Round(time.Millisecond))
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("after reading %d of %d messages the reader's queue counts %d frames, %d bytes", read, burst, ci.QueuedFrames, ci.QueuedBytes)

			// It reads the rest, slowly, and has lost nothing.
			readMsgs(burst, 20*time.Millisecond)
			if n := a.Status().Counters.ClientsEvicted; n != 0 {
				t.Errorf("evicted %d clients, want none", n)
			}
			deadline = time.Now().Add(5 * time.Second)
			for ci = info(); ci.QueuedFrames != 0 || ci.QueuedBytes != 0; ci = info() {
				if time.Now().After(deadline) {
					t.Fatalf("the reader read everything, and its queue at n1 counts %d frames, %d bytes", ci.QueuedFrames, ci.QueuedBytes)
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.stopAll()
		})
	}
}

// TestSendQueueBound: a version-1 client that writes as fast as it can
// does not fill the group layer beyond SendQueueVisits token visits'
// worth: its requests wait unanswered instead.
func TestSendQueueBound(t *testing.T) {
	c := newRing(t, 2)
	a := c.agents["n1"].a
	lim := a.Status().ClientLimits
	if lim.SendQueueMsgs != DefaultSendQueueVisits*a.node.Settings().MaxPacketsPerVisit || lim.WindowMsgs != DefaultClientWindowMsgs {
		t.Fatalf("client limits %+v", lim)
	}
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "sender")
	sender.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	const n = 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload := bytes.Repeat([]byte("x"), 1000)
		for i := range n {
			sender.write(cp.Frame{Type: cp.TypeMulticast, Req: uint32(100 + i), Svc: 5, Groups: []string{"g"}, Payload: payload})
		}
	}()
	oks, most := 0, 0
	for oks < n {
		f, err := sender.next(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d replies: %v", oks, err)
		}
		if f.Type == cp.TypeError {
			t.Fatalf("error: %s %s", f.Code, f.Text)
		}
		if f.Type == cp.TypeOK {
			oks++
			if oks%100 == 0 {
				most = max(most, a.Status().Counters.GroupPending)
			}
		}
	}
	<-done
	// The bound of messages follows what the last visit sent (1,000-byte
	// messages: about 1.3 to a packet); the bytes bound holds.
	if most*1000 > lim.SendQueueBytes {
		t.Errorf("the group layer held %d messages of 1,000 bytes, more than the bound of %d bytes", most, lim.SendQueueBytes)
	}
	t.Logf("at most %d messages of 1,000 bytes waited in the group layer (bound %d bytes; %d messages before the load)", most, lim.SendQueueBytes, lim.SendQueueMsgs)
	c.stopAll()
}

// TestSendQueueLimits: the send queue holds SendQueueVisits visits of
// what the ring lets this node send at a visit (localring's VisitShare
// and VisitMessages, which the driver's loop publishes after each step):
// 200 messages of up to a packet for a lone sender's visits of 100 with
// the defaults, 80 when five senders share the window of 200, twice the
// messages its last visit sent where they were more than its packets
// (small messages, many to a packet), and never more than half the group
// layer's own bound.
func TestSendQueueLimits(t *testing.T) {
	a := &Agent{cfg: Config{SendQueueVisits: DefaultSendQueueVisits, Groups: groups.Config{MaxQueuedMsgs: 10000}},
		ringSettings: localring.Config{MaxPacketsPerVisit: 100, MaxPacketBytes: 1400}}
	for _, tc := range []struct{ perVisit, visitMsgs, msgs, bytes int }{
		{100, 0, 200, 200 * 1400},
		{40, 0, 80, 80 * 1400},
		{1, 0, 2, 2 * 1400},
		{0, 0, 2, 2 * 1400},
		{100, 60, 200, 200 * 1400},
		{100, 196, 392, 200 * 1400},
		{40, 500, 1000, 80 * 1400},
		{100, 9000, 5000, 200 * 1400},
	} {
		a.visitShare.Store(int64(tc.perVisit))
		a.visitMsgs.Store(int64(tc.visitMsgs))
		a.setSendQueueLimits()
		if a.gl.maxMsgs != tc.msgs || a.gl.maxBytes != tc.bytes {
			t.Errorf("visit share %d, %d messages at the last visit: send queue %d messages, %d bytes; want %d and %d", tc.perVisit, tc.visitMsgs, a.gl.maxMsgs, a.gl.maxBytes, tc.msgs, tc.bytes)
		}
	}
	a.cfg.Groups.MaxQueuedMsgs = 100
	if msgs, _ := a.sendQueueLimits(100, 0); msgs != 50 {
		t.Errorf("group layer bound 100: send queue %d messages, want 50", msgs)
	}
}

// TestSlowSteadyReaderHolds: an in-process reader that takes a 1 KB
// message every 20 ms, steadily, holds a fast local sender back and is
// not evicted. Its connection shows progress only when a piece of the
// agent's writes is taken whole; pieces of 64 KiB took it 1.3 s each, so
// it looked as if it had stopped reading for all but 100 ms of them, held
// nobody, and its queue grew until it was evicted (19,939 messages, after
// 2.7 s). Then it reads the rest at full speed: it gets every message.
func TestSlowSteadyReaderHolds(t *testing.T) {
	c := newRing(t, 2)
	a := c.agents["n1"].a
	reader := newRaw(t, localConn(t, a), "reader")
	reader.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	reader.waitView("g", "n1:reader")
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "sender")
	sender.discard()
	const n = 20000
	go func() {
		payload := bytes.Repeat([]byte("x"), 1000)
		for i := range n {
			sender.write(cp.Frame{Type: cp.TypeMulticast, Req: uint32(i + 1), Svc: 5, Groups: []string{"g"}, Payload: payload})
		}
	}()
	most, got := 0, 0
	for start := time.Now(); got < n; {
		f, err := reader.next(10 * time.Second)
		if err != nil {
			t.Fatalf("the reader after %d messages, %v: %v", got, time.Since(start).Round(time.Millisecond), err)
		}
		if f.Type == cp.TypeMessage {
			got++
		}
		if time.Since(start) < 4*time.Second {
			most = max(most, SessionQueued(a, "reader"))
			time.Sleep(20 * time.Millisecond)
		}
	}
	st := a.Status()
	if st.Counters.ClientsEvicted != 0 || st.Counters.ClientsHeld == 0 {
		t.Errorf("evicted %d clients, held %d times: want the reader, which reads, to hold the sender back and stay", st.Counters.ClientsEvicted, st.Counters.ClientsHeld)
	}
	t.Logf("the reader's queue held at most %d frames", most)
	c.stopAll()
}

// TestReadersHoldSenders: a local client that reads slower than a local
// sender sends holds the sender back instead of letting its queue grow;
// it gets everything and is not evicted. The reader takes a message every
// 50 ms (within readingWindow, so it counts as reading) until the agent
// held the sender once, then reads at full speed. Each message is a piece
// of the agent's writes of its own (over writeChunk/2 bytes), so that each
// one the reader takes shows: with 1000-byte messages the agent saw the
// reader take 64 KiB once every 1.3 s and judged it reading only in the
// 100 ms after that: under load the sender could be done before such a
// moment came, with nothing held. The sender's messages fit in the
// reader's queue: without the hold it is not evicted, and the test says
// that nothing held the sender.
func TestReadersHoldSenders(t *testing.T) {
	c := newRing(t, 2)
	a := c.agents["n1"].a
	reader := newRaw(t, localConn(t, a), "reader") // no kernel buffer: the agent's queue is all there is
	reader.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	reader.waitView("g", "n1:reader")
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "sender")
	sender.discard()
	const n, size = 200, writeChunk/2 + 1
	if n*size >= a.cfg.ClientQueueBytes {
		t.Fatalf("%d messages of %d bytes do not fit in a client's queue of %d bytes", n, size, a.cfg.ClientQueueBytes)
	}
	go func() {
		payload := bytes.Repeat([]byte("x"), size)
		for i := range n {
			sender.write(cp.Frame{Type: cp.TypeMulticast, Req: uint32(i + 1), Svc: 5, Groups: []string{"g"}, Payload: payload})
		}
	}()
	heldAt := -1 // messages the reader had when it saw the sender held
	for got := 0; got < n; {
		f, err := reader.next(30 * time.Second)
		if err != nil {
			t.Fatalf("reader after %d of %d messages: %v", got, n, err)
		}
		if f.Type == cp.TypeMessage {
			got++
			switch {
			case heldAt >= 0:
			case a.Status().Counters.ClientsHeld > 0:
				heldAt = got
			default:
				time.Sleep(readingWindow / 2) // a slow reader, which reads
			}
		}
	}
	st := a.Status()
	if st.Counters.ClientsHeld == 0 || st.Counters.ClientsEvicted != 0 {
		t.Errorf("held %d times, evicted %d clients: want the sender held back and nobody evicted", st.Counters.ClientsHeld, st.Counters.ClientsEvicted)
	}
	t.Logf("the reader saw the sender held after %d of %d messages", heldAt, n)
	c.stopAll()
}

// TestHeldRequestsNoPolling: while a reader holds the senders back, the
// group loop runs no passes just to look again (it ran one every 5 ms,
// whatever the requests waited for): it looks when the hold can end by
// the clock, readingWindow after the reader's last write, and the
// sender's request goes through once the reader has taken nothing for
// that long. Each pass that finds the request held counts in
// ClientsHeld.
func TestHeldRequestsNoPolling(t *testing.T) {
	c := newRing(t, 1)
	a := c.agents["n1"].a
	reader := newRaw(t, localConn(t, a), "reader")
	sender := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "sender")
	sender.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	a.cs.mu.Lock()
	s := a.cs.byName["reader"]
	a.cs.mu.Unlock()
	if s == nil {
		t.Fatalf("no session of %s", reader.member)
	}
	// The reader has more than the threshold waiting (as session.queue
	// marks it) and reads: its writer wrote within readingWindow, again
	// and again.
	s.lastWrite.Store(time.Now().UnixNano())
	a.cs.setBacklog(s, true)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(readingWindow / 5)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s.lastWrite.Store(time.Now().UnixNano())
			}
		}
	}()
	before := a.Status().Counters.ClientsHeld
	sender.write(cp.Frame{Type: cp.TypeMulticast, Req: 1000, Svc: 5, Groups: []string{"g"}, Payload: []byte("m")})
	const hold = time.Second
	time.Sleep(hold)
	passes := a.Status().Counters.ClientsHeld - before
	close(stop)
	<-stopped
	last := time.Unix(0, s.lastWrite.Load())
	f := sender.waitFrame(fmt.Sprintf("the answer to its multicast, which the clock frees %v after the reader's last write", readingWindow),
		func(f cp.Frame) bool { return f.Req == 1000 })
	took := time.Since(last)
	if f.Type != cp.TypeOK {
		t.Fatalf("the sender's multicast got %s %s %q, want OK", f.Type, f.Code, f.Text)
	}
	if most := int64(3 * hold / readingWindow); passes == 0 || passes > uint64(most) {
		t.Errorf("the group loop ran %d passes that held the request in %v of a reader's hold; want at least 1, at most %d (one per readingWindow, %v, with room for a loaded host)", passes, hold, most, readingWindow)
	}
	t.Logf("%d passes held the request in %v; answered %v after the reader's last write", passes, hold, took.Round(time.Millisecond))
	c.stopAll()
}

// TestAnswersVersions: a client of protocol version 3 that is a member of
// the group gets its multicast's OK in one write with the message's
// delivery (sendHeld; TestHeldAnswers checks the holding itself); one
// that is not a member, and a client of version 2, get the OK at once
// (the OK of a message that does not come back must not wait).
func TestAnswersVersions(t *testing.T) {
	c := newRing(t, 1)
	path := clientSocket(c, "n1")
	raw := func(name string, maxV uint16) *rawClient {
		conn := dialUnix(t, path)
		r, f := hello(t, conn, name, 1, maxV)
		if f.Type != cp.TypeWelcome || f.Version != maxV {
			t.Fatalf("hello as %q up to version %d: %s version %d", name, maxV, f.Type, f.Version)
		}
		return &rawClient{t: t, conn: conn, r: r, member: f.Name}
	}
	v3, v2, out := raw("v3", cp.Version3), raw("v2", cp.Version2), raw("out", cp.Version3)
	v3.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	v3.waitView("g", "n1:v3")
	v2.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	v3.waitView("g", "n1:v3", "n1:v2")
	v2.waitView("g", "n1:v3", "n1:v2")

	// The member of version 3: OK, then its delivery in the same write.
	v3.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: []byte("m1")})
	if !v3.r.Buffered() {
		t.Error("version 3: the OK came without the message's delivery")
	}
	v3.waitFrame("its delivery", func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == "m1" })
	v2.waitFrame("m1", func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == "m1" })

	// A client that is not a member, and one of version 2: the OK comes
	// without waiting for anything else (do fails after 5 s).
	out.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: []byte("m2")})
	v2.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: []byte("m3")})
	for _, m := range []string{"m2", "m3"} {
		v3.waitFrame(m, func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == m })
	}
}

// TestFrameTaker: the frames a batch's writes complete, one byte or a few
// at a time, and what is left of the frame being taken after each write
// (a batch that starts inside a frame, as writeNow leaves it, included);
// and the pieces an in-process or TLS connection is written in.
func TestFrameTaker(t *testing.T) {
	var b []byte
	var ends []int // where each frame ends
	for _, p := range []int{0, 10, 3, 100, 1} {
		b = cp.Append(b, &cp.Frame{Type: cp.TypeMessage, Payload: bytes.Repeat([]byte("x"), p)})
		ends = append(ends, len(b))
	}
	for _, step := range []int{1, 7, 40, len(b)} {
		for _, head := range []int{0, 5} {
			batch := b[ends[1]-head:] // head: the last bytes of the second frame
			ft := newFrameTaker(batch, head)
			frames := 0
			for taken := 0; taken < len(batch); {
				n := min(step, len(batch)-taken)
				taken += n
				frames += ft.take(n)
				want := 0 // frames complete within the first taken bytes of batch
				for _, e := range ends[1:] {
					if e-(ends[1]-head) <= taken && (head > 0 || e > ends[1]) {
						want++
					}
				}
				if frames != want {
					t.Fatalf("step %d, head %d: after %d bytes, %d frames taken, want %d", step, head, taken, frames, want)
				}
				rest := 0 // of the frame being taken, if its start went
				for _, e := range ends[1:] {
					if e0 := e - (ends[1] - head); e0 > taken {
						start := 0
						if i := slices.Index(ends, e); i > 0 {
							start = ends[i-1] - (ends[1] - head)
						}
						if start < taken {
							rest = e0 - taken
						}
						break
					}
				}
				if got := ft.rest(); got != rest {
					t.Fatalf("step %d, head %d: after %d bytes, rest %d, want %d", step, head, taken, got, rest)
				}
			}
		}
	}

	// Pieces: whole frames, at most maxFrames of them and maxBytes bytes,
	// or maxBytes of a longer frame.
	ft := newFrameTaker(b, 0)
	var pieces []int
	for ft.taken < len(b) {
		n := ft.piece(2, 90)
		pieces = append(pieces, n)
		ft.take(n)
	}
	f := func(i int) int { return ends[i] - ends[i-1] }
	want := []int{ends[0] + f(1), f(2), 90, f(3) - 90 + f(4)}
	if !slices.Equal(pieces, want) {
		t.Errorf("pieces %v, want %v (frames of %d, %d, %d, %d, %d bytes)", pieces, want, ends[0], f(1), f(2), f(3), f(4))
	}
}
