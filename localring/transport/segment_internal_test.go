package transport

import (
	"net"
	"slices"
	"testing"
)

// TestSegmentRuns: segment joins runs of datagrams to the group of one
// size, the last of a run possibly shorter, within maxSegments and the
// largest UDP payload, and leaves everything else, and the order, alone.
func TestSegmentRuns(t *testing.T) {
	if segmentCmsgSpace == 0 {
		t.Skip("no segmented sends on this system")
	}
	group := &net.UDPAddr{IP: net.IPv4(239, 192, 0, 1), Port: 5405}
	token := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 5405}
	for _, tc := range []struct {
		name  string
		sizes []int // negative: a unicast of that many bytes
		want  []int // datagrams per message
	}{
		{"one", []int{1400}, []int{1}},
		{"window and token", []int{1400, 1400, 1400, 700, -60}, []int{4, 1}},
		{"shorter ends a run", []int{1400, 700, 1400, 1400}, []int{2, 2}},
		{"longer starts a run", []int{700, 1400, 1400}, []int{1, 2}},
		{"token between", []int{1400, 1400, -60, 1400, 1400}, []int{2, 1, 2}},
		{"empty alone", []int{0, 1400, 0}, []int{1, 1, 1}},
		{"segments cap", slices.Repeat([]int{1000}, 130), []int{64, 64, 2}},
		{"bytes cap", slices.Repeat([]int{8972}, 9), []int{7, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &UDP{group: group, cfg: Config{BatchSize: 256}, arena: make([]byte, 0, 256*9000)}
			var want []byte
			for i, n := range tc.sizes {
				to := group
				if n < 0 {
					n, to = -n, token
				}
				pkt := make([]byte, n)
				for j := range pkt {
					pkt[j] = byte(i)
				}
				u.enqueue(pkt, to)
				want = append(want, pkt...)
			}
			ms, segs := u.segment(u.qms[:u.qn])
			if !slices.Equal(segs, tc.want) {
				t.Fatalf("datagrams per message %v, want %v", segs, tc.want)
			}
			var got []byte
			q := 0
			for i, m := range ms {
				got = append(got, m.Buffers[0]...)
				if m.Addr != u.qms[q].Addr {
					t.Errorf("message %d to %v, want %v", i, m.Addr, u.qms[q].Addr)
				}
				if (segs[i] > 1) != (len(m.OOB) > 0) {
					t.Errorf("message %d of %d datagrams has %d bytes of control data", i, segs[i], len(m.OOB))
				}
				if size := len(u.qms[q].Buffers[0]); segs[i] > 1 && len(m.Buffers[0]) > size*segs[i] {
					t.Errorf("message %d: %d bytes in %d segments of %d", i, len(m.Buffers[0]), segs[i], size)
				}
				q += segs[i]
			}
			if !slices.Equal(got, want) {
				t.Fatal("the messages do not carry the queued bytes in order")
			}
		})
	}
}
