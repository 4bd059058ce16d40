package sealed_test

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
	"github.com/atoll-gcs/atoll/localring/driver/sealed"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

var key = seal.GenerateKey()

func sealer(t testing.TB, id localring.NodeID, k seal.Key) *seal.Sealer {
	t.Helper()
	s, err := seal.New(seal.Config{Mode: seal.ModeEncrypt, Key: k, Cluster: "test", ConfigHash: 1, Sender: seal.SenderID(string(id)), Incarnation: 7})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// freePorts returns n UDP ports of 127.0.0.1 that were free a moment ago.
func freePorts(t testing.TB, n int) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	var cs []*net.UDPConn
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		out = append(out, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for _, c := range cs {
		c.Close()
	}
	return out
}

func wrap(t testing.TB, ids []localring.NodeID, raw []transport.Transport) []driver.Transport {
	t.Helper()
	var ts []driver.Transport
	for i, id := range ids {
		st, err := sealed.New(sealed.Config{Transport: raw[i], Sealer: sealer(t, id, key), Self: id, Members: ids, Site: "test", Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		ts = append(ts, st)
	}
	return ts
}

// TestContractUDP runs the transport contract over UDP unicast on
// loopback, sealed (encrypted).
func TestContractUDP(t *testing.T) {
	drivertest.TestTransport(t, func(t *testing.T, ids []localring.NodeID) []driver.Transport {
		addrs := freePorts(t, len(ids))
		var raw []transport.Transport
		for i := range ids {
			u, _, err := transport.Listen(transport.Config{Bind: addrs[i], Peers: addrs})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Close() })
			raw = append(raw, u)
		}
		return wrap(t, ids, raw)
	})
}

// TestContractFake runs it over the UDP transport's in-memory fake (the
// agent's tests use it).
func TestContractFake(t *testing.T) {
	drivertest.TestTransport(t, func(t *testing.T, ids []localring.NodeID) []driver.Transport {
		var n transport.FakeNetwork
		var raw []transport.Transport
		for i := range ids {
			f, err := n.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 5405))
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, f)
		}
		return wrap(t, ids, raw)
	})
}

// TestFromIsTheSealedSender: the sender of a packet is the node id in its
// authenticated header, whatever address it came from; a member's
// address is learnt from its packets (Peer); packets of a node that is
// not a member, or sealed with another key, never reach Recv.
func TestFromIsTheSealedSender(t *testing.T) {
	var n transport.FakeNetwork
	addr := func(i byte) netip.AddrPort { return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, i}), 5405) }
	listen := func(i byte) *transport.Fake {
		f, err := n.Listen(addr(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	raw := listen(1)
	var logs syncbuf.Buffer
	st, err := sealed.New(sealed.Config{Transport: raw, Sealer: sealer(t, "a", key), Self: "a", Members: []localring.NodeID{"a", "b"}, Site: "fra",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// b's packets come from an address nobody configured, then the
	// stranger's (right key, not a member) and a wrong key's.
	fromB, stranger, wrongKey := listen(2), listen(3), listen(4)
	stranger.Unicast(addr(1), sealer(t, "x", key).Seal(nil, []byte("from x")))
	stranger.Flush()
	wrongKey.Unicast(addr(1), sealer(t, "b", seal.GenerateKey()).Seal(nil, []byte("forged b")))
	wrongKey.Flush()
	fromB.Unicast(addr(1), sealer(t, "b", key).Seal(nil, []byte("from b")))
	fromB.Flush()

	ps := []driver.Packet{{Buf: make([]byte, st.MaxPacket())}, {Buf: make([]byte, st.MaxPacket())}}
	got, err := st.Recv(ps)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1 || ps[0].From != "b" || string(ps[0].Data()) != "from b" {
		t.Fatalf("Recv = %d packets, first %q from %q; want only %q from b", got, ps[0].Data(), ps[0].From, "from b")
	}
	p, ok := st.Peer("b")
	if !ok || p.Addr != addr(2) || p.Incarnation != 7 || time.Since(p.Heard) > time.Minute {
		t.Errorf("Peer(b) = %+v, %v; want address %v, incarnation 7, heard now", p, ok, addr(2))
	}
	if s := st.Stats(); s.UnknownSender != 1 {
		t.Errorf("UnknownSender = %d, want 1", s.UnknownSender)
	}
	for _, want := range []string{"not in this site's node list; add it to site fra", "another key"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line says %q:\n%s", want, logs.String())
		}
	}

	// The token for b now goes to where b's packets came from.
	if err := st.Send("b", []byte("token")); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	ms := []transport.Message{{Buf: make([]byte, 2000)}}
	if k, err := fromB.ReadBatch(ms); err != nil || k != 1 {
		t.Fatalf("b's address got %d packets, %v", k, err)
	}
	if out, o, err := sealer(t, "b", key).Open(nil, ms[0].Payload()); err != nil || string(out) != "token" || o.Sender != seal.SenderID("a") {
		t.Errorf("b opened %q from sender %x (%v); want the token from a", out, o.Sender, err)
	}
}
