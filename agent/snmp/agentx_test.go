package snmp

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posteo/go-agentx/pdu"
	"github.com/posteo/go-agentx/value"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// fakeSource is a Source with a status and group table set by the test;
// it counts the calls of Groups.
type fakeSource struct {
	st          agent.Status
	groups      []agent.GroupInfo
	err         error
	groupsCalls int
}

func (f *fakeSource) Status() agent.Status { return f.st }
func (f *fakeSource) Groups(context.Context) ([]agent.GroupInfo, error) {
	f.groupsCalls++
	return f.groups, f.err
}

// fakeMaster speaks the master's side of AgentX to one session, in
// either byte order.
type fakeMaster struct {
	t     *testing.T
	conn  net.Conn
	order binary.AppendByteOrder
	id    uint32
	pkt   uint32
}

func (m *fakeMaster) read() (header, []byte) {
	m.t.Helper()
	m.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, b, err := readPDU(m.conn)
	if err != nil {
		m.t.Fatalf("master: read: %v", err)
	}
	return h, b
}

// write sends a PDU of type typ with payload b.
func (m *fakeMaster) write(typ pdu.Type, packet uint32, b []byte) {
	m.t.Helper()
	var flags byte
	if m.order == binary.BigEndian {
		flags = byte(pdu.FlagNetworkByteOrder)
	}
	hdr := []byte{1, byte(typ), flags, 0}
	for _, v := range []uint32{m.id, 0, packet, uint32(len(b))} {
		hdr = m.order.AppendUint32(hdr, v)
	}
	m.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := m.conn.Write(append(hdr, b...)); err != nil {
		m.t.Fatalf("master: write: %v", err)
	}
}

// answer accepts the subagent's request h.
func (m *fakeMaster) answer(h header) {
	m.write(pdu.TypeResponse, h.packet, make([]byte, 8))
}

func (m *fakeMaster) oid(b []byte, oid value.OID, include bool) []byte {
	var inc byte
	if include {
		inc = 1
	}
	b = append(b, byte(len(oid)), 0, inc, 0)
	for _, s := range oid {
		b = m.order.AppendUint32(b, s)
	}
	return b
}

// ask sends a request of type typ (with a GetBulk's counts in prefix)
// and returns the subagent's response: its error and varbinds.
func (m *fakeMaster) ask(typ pdu.Type, prefix []byte, ranges ...searchRange) (pdu.Error, []varbind) {
	m.t.Helper()
	b := prefix
	for _, r := range ranges {
		b = m.oid(m.oid(b, r.from, r.include), r.to, false)
	}
	m.pkt++
	m.write(typ, m.pkt, b)
	h, resp := m.read()
	if h.typ != pdu.TypeResponse || h.packet != m.pkt || h.session != m.id {
		m.t.Fatalf("master: got %s packet %d session %d, want the response to %d in session %d", h.typ, h.packet, h.session, m.pkt, m.id)
	}
	return pdu.Error(binary.LittleEndian.Uint16(resp[4:])), decodeVarbinds(m.t, resp[8:])
}

// decodeVarbinds decodes a response's varbinds (little-endian, as the
// subagent writes them).
func decodeVarbinds(t *testing.T, b []byte) []varbind {
	t.Helper()
	le := binary.LittleEndian
	var out []varbind
	for len(b) > 0 {
		typ := pdu.VariableType(le.Uint16(b))
		oid, _, rest, err := decodeOID(b[4:], le)
		if err != nil {
			t.Fatalf("varbind: %v", err)
		}
		vb := varbind{oid: oid, typ: typ}
		switch typ {
		case pdu.VariableTypeInteger:
			vb.val, rest = int32(le.Uint32(rest)), rest[4:]
		case pdu.VariableTypeGauge32, pdu.VariableTypeCounter32:
			vb.val, rest = le.Uint32(rest), rest[4:]
		case pdu.VariableTypeCounter64:
			vb.val, rest = le.Uint64(rest), rest[8:]
		case pdu.VariableTypeOctetString:
			n := int(le.Uint32(rest))
			vb.val, rest = string(rest[4:4+n]), rest[4+(n+3)/4*4:]
		}
		out = append(out, vb)
		b = rest
	}
	return out
}

// startSession opens a session between a subagent on src and a fake
// master, and serves it until the test ends; serve's result comes on the
// channel.
func startSession(t *testing.T, src Source, order binary.AppendByteOrder) (*fakeMaster, <-chan error) {
	c1, c2 := net.Pipe()
	ss := &session{conn: c1, timeout: 5 * time.Second, snaps: &snapshots{src: src, log: slog.New(slog.DiscardHandler)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		if err := ss.open("test"); err != nil {
			done <- err
			return
		}
		done <- ss.serve(ctx)
	}()
	t.Cleanup(func() { cancel(); c2.Close() })
	m := &fakeMaster{t: t, conn: c2, order: order}
	h, _ := m.read()
	if h.typ != pdu.TypeOpen {
		t.Fatalf("first PDU %s, want Open", h.typ)
	}
	m.id = 42
	m.answer(h)
	h, b := m.read()
	if sub, _, _, err := decodeOID(b[4:], h.order); h.typ != pdu.TypeRegister || h.session != 42 || err != nil || !slices.Equal(sub, Root) {
		t.Fatalf("second PDU %s session %d subtree %v, want Register %s in session 42", h.typ, h.session, sub, Root)
	}
	m.answer(h)
	return m, done
}

func testSource() *fakeSource {
	src := &fakeSource{groups: []agent.GroupInfo{
		{Name: "zz", Members: []string{"n1:a"}, Delivered: 7, ViewID: "v2"},
		{Name: "b", Members: []string{"n1:a", "n2:b", "n2:c"}, LocalMembers: 1, Delivered: 9, ViewID: "v1"},
		{Name: strings.Repeat("g", maxGroupIndex+1), Members: []string{"n1:a"}}, // too long for an index
	}}
	src.st.Federation = []gateway.Stats{{Domain: "eu", State: "operational", Ring: "f:3:fra", Members: []string{"fra", "par"},
		Missing: []string{"ams"}, Installs: 2, Delivered: 11}}
	src.st.Node, src.st.Ring, src.st.State = "n1", "r:1:n1", "operational"
	src.st.Counters.TokenLosses, src.st.Counters.MessagesSent = 4, 5
	src.st.Members = []agent.MemberStatus{{ID: "n1", InRing: true, Configured: true}, {ID: "n2", Configured: true}}
	src.st.Missing = []string{"n2"}
	src.st.Health = agent.Degraded
	return src
}

// TestSession: Get, GetNext and GetBulk answer in OID order (numeric:
// atollRing.9 before atollRing.10), from the source's status and groups,
// in either byte order; a Set is refused as notWritable and the session
// goes on.
func TestSession(t *testing.T) {
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			m, _ := startSession(t, testSource(), order)
			errc, vbs := m.ask(pdu.TypeGet, nil,
				searchRange{from: sub(nodeArc, 1, 0)}, searchRange{from: sub(nodeArc, 6, 0)},
				searchRange{from: sub(ringArc, 1, 1)}, searchRange{from: sub(Root, 9)})
			want := []varbind{
				{sub(nodeArc, 1, 0), pdu.VariableTypeOctetString, "n1"},
				{sub(nodeArc, 6, 0), pdu.VariableTypeInteger, int32(2)},
				{sub(ringArc, 1, 1), pdu.VariableTypeNoSuchInstance, nil},
				{sub(Root, 9), pdu.VariableTypeNoSuchObject, nil},
			}
			checkVarbinds(t, "Get", errc, vbs, want)

			errc, vbs = m.ask(pdu.TypeGetNext, nil,
				searchRange{from: sub(ringArc, 9, 0)},
				searchRange{from: sub(ringArc, 4, 0), include: true},
				searchRange{from: sub(ringArc, 20, 0), to: sub(groupArc)},
				searchRange{from: sub(groupTable, 2)},
				searchRange{from: sub(fedTable, 5)},
				searchRange{from: sub(fedTable, 11, 2, 'e', 'u')})
			want = []varbind{
				{sub(ringArc, 10, 0), pdu.VariableTypeCounter64, uint64(0)},
				{sub(ringArc, 4, 0), pdu.VariableTypeGauge32, uint32(1)},
				{sub(ringArc, 20, 0), pdu.VariableTypeEndOfMIBView, nil},
				// Index "b" (1.98) comes before "zz" (2.122.122).
				{sub(groupTable, 2, 1, 'b'), pdu.VariableTypeGauge32, uint32(3)},
				{sub(fedTable, 5, 2, 'e', 'u'), pdu.VariableTypeGauge32, uint32(1)},
				{sub(fedTable, 11, 2, 'e', 'u'), pdu.VariableTypeEndOfMIBView, nil},
			}
			checkVarbinds(t, "GetNext", errc, vbs, want)

			// One non-repeater, two repeaters three times: the second
			// walks from the group table into the federation table, then
			// reaches the end of the MIB.
			bulk := order.AppendUint16(order.AppendUint16(nil, 1), 3)
			errc, vbs = m.ask(pdu.TypeGetBulk, bulk,
				searchRange{from: sub(ringArc, 8, 0)},
				searchRange{from: sub(groupTable, 4)},
				searchRange{from: sub(fedTable, 10, 2, 'e', 'u')})
			want = []varbind{
				{sub(ringArc, 9, 0), pdu.VariableTypeCounter64, uint64(4)},
				{sub(groupTable, 4, 1, 'b'), pdu.VariableTypeCounter64, uint64(9)},
				{sub(fedTable, 11, 2, 'e', 'u'), pdu.VariableTypeCounter64, uint64(0)},
				{sub(groupTable, 4, 2, 'z', 'z'), pdu.VariableTypeCounter64, uint64(7)},
				{sub(fedTable, 11, 2, 'e', 'u'), pdu.VariableTypeEndOfMIBView, nil},
				{sub(groupTable, 5, 1, 'b'), pdu.VariableTypeOctetString, "v1"},
				{sub(fedTable, 11, 2, 'e', 'u'), pdu.VariableTypeEndOfMIBView, nil},
			}
			checkVarbinds(t, "GetBulk", errc, vbs, want)

			if errc, _ := m.ask(pdu.TypeTestSet, nil); errc != errNotWritable {
				t.Errorf("TestSet: error %d, want notWritable (17)", errc)
			}
			errc, vbs = m.ask(pdu.TypeGet, nil, searchRange{from: sub(groupArc, 1, 0)})
			checkVarbinds(t, "Get after TestSet", errc, vbs, []varbind{{sub(groupArc, 1, 0), pdu.VariableTypeGauge32, uint32(3)}})
		})
	}
}

func checkVarbinds(t *testing.T, what string, errc pdu.Error, got, want []varbind) {
	t.Helper()
	if errc != pdu.ErrorNone || len(got) != len(want) {
		t.Fatalf("%s: error %d, %d varbinds %v; want %d", what, errc, len(got), got, len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].oid, want[i].oid) || got[i].typ != want[i].typ || got[i].val != want[i].val {
			t.Errorf("%s: varbind %d = %v %s %v, want %v %s %v", what, i, got[i].oid, got[i].typ, got[i].val, want[i].oid, want[i].typ, want[i].val)
		}
	}
}

// TestSessionGroupsFail: when the agent cannot list its groups, a request
// that reaches them fails with genErr, and the others are answered.
func TestSessionGroupsFail(t *testing.T) {
	src := testSource()
	src.err = agent.ErrStopped
	m, _ := startSession(t, src, binary.LittleEndian)
	if errc, _ := m.ask(pdu.TypeGetNext, nil, searchRange{from: sub(ringArc, 20, 0)}); errc != errGenErr {
		t.Errorf("GetNext into the groups: error %d, want genErr (5)", errc)
	}
	errc, vbs := m.ask(pdu.TypeGet, nil, searchRange{from: sub(ringArc, 9, 0)})
	checkVarbinds(t, "Get of a scalar", errc, vbs, []varbind{{sub(ringArc, 9, 0), pdu.VariableTypeCounter64, uint64(4)}})
}

// TestSessionMalformed: a malformed PDU from the master ends the session
// with an error that says so; it never panics.
func TestSessionMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated OID":     {3, 0, 0, 0, 1, 0, 0, 0},
		"range without end": {1, 0, 0, 0, 1, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			m, done := startSession(t, testSource(), binary.LittleEndian)
			m.write(pdu.TypeGetNext, 1, b)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "malformed AgentX TypeGetNext PDU from the master agent") {
					t.Errorf("serve: %v, want a malformed PDU error", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the session goes on after a malformed PDU")
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		m, done := startSession(t, testSource(), binary.LittleEndian)
		hdr := []byte{1, byte(pdu.TypeGet), 0, 0}
		for _, v := range []uint32{m.id, 0, 1, 1 << 30} {
			hdr = binary.LittleEndian.AppendUint32(hdr, v)
		}
		m.conn.Write(hdr)
		if err := waittest.Recv(t, done, 5*time.Second, "the session to end after an oversized PDU"); err == nil || !strings.Contains(err.Error(), "announces a payload of 1073741824 bytes") {
			t.Errorf("serve: %v, want an oversized payload error", err)
		}
	})
	t.Run("closed by the master", func(t *testing.T) {
		m, done := startSession(t, testSource(), binary.LittleEndian)
		m.write(pdu.TypeClose, 1, []byte{byte(pdu.ReasonShutdown), 0, 0, 0})
		if err := waittest.Recv(t, done, 5*time.Second, "the session to end after the master's Close"); err == nil || !strings.Contains(err.Error(), "closed the session") {
			t.Errorf("serve: %v, want the master's close", err)
		}
	})
}

func TestParseMaster(t *testing.T) {
	for in, want := range map[string]string{
		"tcp:localhost:705":       "tcp localhost:705",
		"tcp:[::1]:705":           "tcp [::1]:705",
		"unix:/var/agentx/master": "unix /var/agentx/master",
		"/var/agentx/master":      "unix /var/agentx/master",
		"localhost:705":           "error",
		"tcp:localhost":           "error",
		"udp:localhost:705":       "error",
		"unix:":                   "error",
	} {
		n, a, err := ParseMaster(in)
		got := n + " " + a
		if err != nil {
			got = "error"
			if !strings.Contains(err.Error(), "tcp:HOST:PORT") {
				t.Errorf("ParseMaster(%q): %v does not say how to write it", in, err)
			}
		}
		if got != want {
			t.Errorf("ParseMaster(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunBackoff: against a master that drops every connection, the
// subagent retries with a growing delay (not at its shortest one), logs
// one line for the whole outage, and Run returns soon after ctx ends,
// also while a master that accepted has not answered Open.
func TestRunBackoff(t *testing.T) {
	for _, answer := range []bool{false, true} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		attempts := make(chan net.Conn, 1000)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if !answer {
					c.Close() // drop at once
				}
				attempts <- c // with answer: hold it open, silent
			}
		}()
		logs := &syncbuf.Buffer{}
		sa, err := New(Config{Master: "tcp:" + l.Addr().String(), Source: testSource(), Timeout: 5 * time.Second,
			Logger: slog.New(slog.NewTextHandler(logs, nil)), MinRetry: 20 * time.Millisecond, MaxRetry: 160 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { sa.Run(ctx); close(done) }()
		time.Sleep(1500 * time.Millisecond)
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("Run did not return within 2s after ctx ended (master answers: %v)", answer)
		}
		if answer {
			if len(attempts) != 1 {
				t.Errorf("%d connections to a silent master, want 1 (still opening when ctx ended)", len(attempts))
			}
			continue
		}
		// Delays of 10-20, 20-40, 40-80, then 80-160ms: 1.5s holds 3 to
		// about 20 attempts; without backoff (10-20ms) it would be 75+.
		if n := len(attempts); n < 3 || n > 25 {
			t.Errorf("%d connection attempts in 1.5s, want 3 to 25 with the delay doubling from 20ms to 160ms", n)
		}
		if n := strings.Count(logs.String(), "master agent is unreachable"); n != 1 {
			t.Errorf("%d lines say the master is unreachable, want 1:\n%s", n, logs)
		}
	}
}

// TestSnapshots: within CacheFor the requests read one snapshot; a request
// that reaches the groups reads them once (not for scalars only); without
// a cache every request reads the agent.
func TestSnapshots(t *testing.T) {
	src := testSource()
	ctx := context.Background()
	losses := searchRange{from: sub(ringArc, 9, 0)}
	read := func(c *snapshots, r searchRange, typ pdu.Type) varbind {
		t.Helper()
		v, ok := c.view(ctx, typ, []searchRange{r})
		if !ok {
			t.Fatal("view failed")
		}
		if typ == pdu.TypeGet {
			return v.get(r.from)
		}
		return v.next(r)
	}
	c := &snapshots{src: src, ttl: time.Hour, log: slog.New(slog.DiscardHandler)}
	if vb := read(c, losses, pdu.TypeGet); vb.val != uint64(4) || src.groupsCalls != 0 {
		t.Fatalf("first read: %v, %d calls of Groups; want 4 and none", vb.val, src.groupsCalls)
	}
	src.st.Counters.TokenLosses = 5
	if vb := read(c, losses, pdu.TypeGet); vb.val != uint64(4) {
		t.Errorf("second read within CacheFor: %v, want the snapshot's 4", vb.val)
	}
	// The groups are not in the snapshot: it is read again, with them.
	if vb := read(c, searchRange{from: sub(groupArc, 1, 0)}, pdu.TypeGet); vb.val != uint32(3) || src.groupsCalls != 1 {
		t.Errorf("group count: %v, %d calls of Groups; want 3 and 1", vb.val, src.groupsCalls)
	}
	if vb := read(c, losses, pdu.TypeGetNext); vb.val != uint64(0) || src.groupsCalls != 1 { // the next is atollRing.10
		t.Errorf("GetNext within CacheFor: %v, %d calls of Groups; want 0 and 1", vb.val, src.groupsCalls)
	}
	if vb := read(c, losses, pdu.TypeGet); vb.val != uint64(5) {
		t.Errorf("read after the snapshot with groups: %v, want 5", vb.val)
	}
	fresh := &snapshots{src: src, ttl: -1, log: slog.New(slog.DiscardHandler)}
	for want := range uint64(3) {
		src.st.Counters.TokenLosses = want
		if vb := read(fresh, losses, pdu.TypeGet); vb.val != want {
			t.Errorf("without a cache: %v, want %d", vb.val, want)
		}
	}
}
