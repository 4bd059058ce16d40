package transport_test

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// TestSegmentFallback: when the kernel refuses a segmented send (UDP GSO)
// that it takes as separate datagrams, the transport sends that window's
// packets one by one, whole and in order, turns segmentation off for good,
// and says so in the log once; nothing counts as a send error. With NoGSO
// it never segments, and says nothing.
func TestSegmentFallback(t *testing.T) {
	tn := multicastNet(t)
	port := testPort()
	group := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.3"), port)
	var logs syncbuf.Buffer
	listen := func(b netip.AddrPort, noGSO bool) *transport.UDP {
		var u *transport.UDP
		var err error
		tn.run(func() {
			u, _, err = transport.Listen(transport.Config{Bind: b, Group: group, NoGSO: noGSO,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		})
		must(t, err)
		t.Cleanup(func() { u.Close() })
		return u
	}
	rx := listen(netip.MustParseAddrPort("127.0.0.2:0"), false)
	if !rx.GSO() {
		t.Skip("the kernel cannot segment UDP sends here (UDP_SEGMENT, Linux 4.18+)")
	}
	ch := startReader(t, rx, rx.MaxPacket())
	window := func(tx *transport.UDP, first int) {
		t.Helper()
		const k = 20
		for i := range k {
			pkt := make([]byte, 1200)
			binary.BigEndian.PutUint32(pkt, uint32(first+i))
			must(t, tx.Multicast(pkt))
		}
		must(t, tx.Flush())
		for i := range k {
			select {
			case r := <-ch:
				if n := int(binary.BigEndian.Uint32([]byte(r.data))); n != first+i || len(r.data) != 1200 || r.from != tx.LocalAddr() {
					t.Fatalf("packet %d (%d bytes from %v), want packet %d of 1200 bytes from %v", n, len(r.data), r.from, first+i, tx.LocalAddr())
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("received %d of the window's %d packets", i, k)
			}
		}
	}

	tx := listen(netip.MustParseAddrPort("127.0.0.1:0"), false)
	must(t, transport.RefuseSegments(tx))
	window(tx, 0)
	window(tx, 100)
	st := tx.Stats()
	if tx.GSO() || st.SegmentedSends != 0 || st.SendErrors != 0 || st.SentPackets != 40 {
		t.Errorf("after a refused segmented send: GSO %v, stats %+v; want off, 40 packets sent, none segmented, no error", tx.GSO(), st)
	}
	if n := strings.Count(logs.String(), "refused a segmented UDP send"); n != 1 {
		t.Errorf("the fallback logged %d times, want once:\n%s", n, logs.String())
	}

	off := listen(netip.MustParseAddrPort("127.0.0.3:0"), true)
	window(off, 200)
	if off.GSO() || off.Stats().SegmentedSends != 0 {
		t.Errorf("NoGSO: GSO %v, %d segmented sends; want none", off.GSO(), off.Stats().SegmentedSends)
	}
	if strings.Contains(logs.String(), "cannot segment") {
		t.Errorf("logged that the kernel cannot segment, where it can or NoGSO is set:\n%s", logs.String())
	}
}
