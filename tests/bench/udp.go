package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/ipv4"

	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// UDPResult is what a raw UDP sender or receiver reports (one JSON line).
type UDPResult struct {
	Type    string  `json:"type"` // "result"
	Role    string  `json:"role"` // "send" or "recv"
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	WindowS float64 `json:"window_s"`
	// Size is the datagram size in bytes (UDPConfig.Size).
	Size int `json:"size"`
	// Mode says how the datagrams were sent or received: "GSO" or "GRO"
	// (with UDPConfig.Ring, where the kernel and the path allow it),
	// otherwise "sendmmsg" or "recvmmsg" and, with Ring, why not.
	Mode string `json:"mode"`
}

// UDPConfig is one raw UDP run: the sender multicasts Size-byte datagrams
// to Group as fast as the kernel takes them from a little before
// WindowStart until WindowEnd; receivers count what arrives inside
// [WindowStart, WindowEnd) (CLOCK_MONOTONIC nanoseconds). The sender
// counts what the kernel took inside the window.
//
// Without Ring, 64 datagrams per sendmmsg and recvmmsg, each datagram a
// send of its own. With Ring, the sockets are the local ring's own
// transport (localring/transport, as an agent opens it in multicast
// mode, its path MTU set so that its packets are Size bytes, at most the
// interface's MTU minus 28), 64 datagrams to a flush: the transport
// joins them into segmented sends (UDP GSO) and takes them in coalesced
// receives (UDP GRO) exactly as it does for a token visit's full
// packets, and falls back as it does where the kernel or the path
// cannot, which Mode reports.
type UDPConfig struct {
	Group       netip.AddrPort
	Iface       string
	Bind        netip.Addr
	Size        int
	Ring        bool
	WindowStart int64
	WindowEnd   int64
}

// UDPSend runs the sender side and writes a UDPResult to out.
func UDPSend(c UDPConfig, out io.Writer) error {
	if c.Ring {
		return ringSend(c, out)
	}
	ifi, err := net.InterfaceByName(c.Iface)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: c.Bind.AsSlice()})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetWriteBuffer(4 << 20)
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetMulticastInterface(ifi); err != nil {
		return err
	}
	_ = pc.SetMulticastTTL(1)
	_ = pc.SetMulticastLoopback(false)
	dst := net.UDPAddrFromAddrPort(c.Group)
	msgs := make([]ipv4.Message, 64)
	buf := make([]byte, c.Size)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{buf}, Addr: dst}
	}
	start := c.WindowStart - int64(500*time.Millisecond)
	for atollbench.MonoNow() < start {
		time.Sleep(time.Millisecond)
	}
	var res = UDPResult{Type: "result", Role: "send", WindowS: float64(c.WindowEnd-c.WindowStart) / 1e9, Size: c.Size, Mode: "sendmmsg"}
	for {
		n, err := pc.WriteBatch(msgs, 0)
		now := atollbench.MonoNow()
		if now >= c.WindowEnd {
			break
		}
		if err != nil {
			time.Sleep(50 * time.Microsecond) // ENOBUFS: the queue is full
			continue
		}
		if now >= c.WindowStart {
			res.Packets += uint64(n)
			res.Bytes += uint64(n * c.Size)
		}
	}
	return json.NewEncoder(out).Encode(res)
}

// listenRing opens the ring's transport in multicast mode on c's group, as
// an agent alone in its namespace does (no multicast loopback), with the
// transport's defaults otherwise, but for its path MTU: c.Size plus the
// IPv4 and UDP headers, so that its packets, which it segments as the
// ring's, are c.Size bytes.
func listenRing(c UDPConfig) (*transport.UDP, error) {
	t, _, err := transport.Listen(transport.Config{
		Bind: netip.AddrPortFrom(c.Bind, 0), Group: c.Group, Interface: c.Iface, NoMulticastLoop: true, MTU: c.Size + 28,
	})
	if err == nil && t.MaxPacket() != c.Size {
		t.Close()
		return nil, fmt.Errorf("the ring's transport takes packets of %d bytes, not %d", t.MaxPacket(), c.Size)
	}
	return t, err
}

// ringSend is UDPSend with c.Ring: full ring packets through the ring's
// transport, a batch of them (a flush) at a time, as a token visit that
// releases a window sends them.
func ringSend(c UDPConfig, out io.Writer) error {
	t, err := listenRing(c)
	if err != nil {
		return err
	}
	defer t.Close()
	couldSegment := t.GSO()
	pkt := make([]byte, t.MaxPacket())
	batch := transport.DefaultBatchSize
	for atollbench.MonoNow() < c.WindowStart-int64(500*time.Millisecond) {
		time.Sleep(time.Millisecond)
	}
	var atStart transport.Stats
	started := false
	for {
		now := atollbench.MonoNow()
		if now >= c.WindowEnd {
			break
		}
		if !started && now >= c.WindowStart {
			atStart, started = t.Stats(), true
		}
		for range batch {
			if err := t.Multicast(pkt); err != nil {
				return err
			}
		}
		if err := t.Flush(); err != nil {
			if errors.Is(err, transport.ErrClosed) {
				return err
			}
			time.Sleep(50 * time.Microsecond) // ENOBUFS: the queue is full (the datagram is dropped and not counted)
		}
	}
	st := t.Stats()
	res := UDPResult{Type: "result", Role: "send", WindowS: float64(c.WindowEnd-c.WindowStart) / 1e9, Size: len(pkt)}
	res.Packets = st.SentPackets - atStart.SentPackets
	res.Bytes = res.Packets * uint64(len(pkt))
	switch {
	case !couldSegment:
		res.Mode = "sendmmsg (the kernel cannot segment UDP sends)"
	case !t.GSO():
		res.Mode = "sendmmsg (the path refused segmented sends)"
	case st.SegmentedSends == 0:
		res.Mode = "sendmmsg (no run to segment)"
	default:
		res.Mode = "GSO"
	}
	return json.NewEncoder(out).Encode(res)
}

// ringReceive is UDPReceive with c.Ring: the ring's transport's group
// socket and ReadBatch.
func ringReceive(c UDPConfig, out io.Writer) error {
	t, err := listenRing(c)
	if err != nil {
		return err
	}
	// ReadBatch blocks until a datagram comes or the transport is closed.
	stop := time.AfterFunc(time.Duration(c.WindowEnd-atollbench.MonoNow()), func() { t.Close() })
	defer stop.Stop()
	defer t.Close()
	ms := make([]transport.Message, transport.DefaultBatchSize)
	for i := range ms {
		ms[i].Buf = make([]byte, t.MaxPacket())
	}
	res := UDPResult{Type: "result", Role: "recv", WindowS: float64(c.WindowEnd-c.WindowStart) / 1e9, Size: t.MaxPacket()}
	for {
		n, err := t.ReadBatch(ms)
		now := atollbench.MonoNow()
		if now >= c.WindowEnd || err != nil {
			break
		}
		if now < c.WindowStart {
			continue
		}
		for _, m := range ms[:n] {
			res.Packets++
			res.Bytes += uint64(m.N)
		}
	}
	switch st := t.Stats(); {
	case !t.GRO():
		res.Mode = "recvmmsg (the kernel cannot coalesce UDP receives)"
	case st.RecvCoalesced == 0:
		res.Mode = "recvmmsg (GRO on, nothing coalesced)"
	default:
		res.Mode = "GRO"
	}
	return json.NewEncoder(out).Encode(res)
}

// UDPReceive runs a receiver and writes a UDPResult to out.
func UDPReceive(c UDPConfig, out io.Writer) error {
	if c.Ring {
		return ringReceive(c, out)
	}
	ifi, err := net.InterfaceByName(c.Iface)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: c.Group.Addr().AsSlice(), Port: int(c.Group.Port())})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	pc := ipv4.NewPacketConn(conn)
	if err := pc.JoinGroup(ifi, &net.UDPAddr{IP: c.Group.Addr().AsSlice()}); err != nil {
		return fmt.Errorf("join %v on %s: %w", c.Group.Addr(), c.Iface, err)
	}
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
	}
	res := UDPResult{Type: "result", Role: "recv", WindowS: float64(c.WindowEnd-c.WindowStart) / 1e9, Size: c.Size, Mode: "recvmmsg"}
	end := time.Now().Add(time.Duration(c.WindowEnd - atollbench.MonoNow()))
	for {
		_ = conn.SetReadDeadline(end)
		n, err := pc.ReadBatch(msgs, 0)
		now := atollbench.MonoNow()
		if now >= c.WindowEnd || err != nil {
			break
		}
		if now < c.WindowStart {
			continue
		}
		for _, m := range msgs[:n] {
			res.Packets++
			res.Bytes += uint64(m.N)
		}
	}
	return json.NewEncoder(out).Encode(res)
}

// testbedMTU is the MTU of the testbed's interfaces (NewTestbed).
const testbedMTU = 1500

// rawRow measures the multicast ceiling of size-byte datagrams both ways
// (UDPRow): one datagram per send, then through the ring's transport when
// a datagram fits in a packet.
func (r *Report) rawRow(ctx context.Context, tb *Testbed, size int) (UDPRow, error) {
	row := UDPRow{Nodes: len(tb.NS), Size: size}
	plain, err := r.rawUDP(ctx, tb, size, false)
	if err != nil {
		return row, err
	}
	row.SentPerSec, row.RecvPerSec = plain.SentPerSec, plain.RecvPerSec
	if size > testbedMTU-28 {
		row.NoGSO = fmt.Sprintf("a datagram of %d bytes is larger than a packet at MTU %d (IP-fragmented; UDP GSO cuts a send into datagrams, not fragments)", size, testbedMTU)
		return row, nil
	}
	row.GSO, err = r.rawUDP(ctx, tb, size, true)
	return row, err
}

// rawUDP measures one way of rawRow: node 1 sends size-byte datagrams,
// the others receive; with ring, through the ring's transport
// (UDPConfig.Ring), else one datagram per send.
func (r *Report) rawUDP(ctx context.Context, tb *Testbed, size int, ring bool) (UDPWay, error) {
	var way UDPWay
	if len(tb.NS) < 2 {
		return way, nil
	}
	start := atollbench.MonoNow() + int64(1500*time.Millisecond)
	cfg := UDPConfig{Group: netip.MustParseAddrPort("239.192.77.2:5500"), Iface: tb.Iface, Size: size, Ring: ring,
		WindowStart: start, WindowEnd: start + int64(r.Options.Duration)}
	type out struct {
		res UDPResult
		err error
	}
	results := make([]chan out, len(tb.NS))
	for i := range tb.NS {
		c := cfg
		c.Bind = tb.Addrs[i]
		role := "udp-recv"
		if i == 0 {
			role = "udp-send"
		}
		in, err := json.Marshal(c)
		if err != nil {
			return way, err
		}
		argv := tb.Cmd(i, r.sched(append(slices.Clone(r.Options.Self), role)...)...)
		results[i] = make(chan out, 1)
		go func() {
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Stdin = bytes.NewReader(in)
			b, err := cmd.Output()
			var o out
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					err = fmt.Errorf("%w: %s", err, ee.Stderr)
				}
				o.err = fmt.Errorf("raw udp: %s: %w", strings.Join(argv, " "), err)
			} else {
				o.err = json.Unmarshal(b, &o.res)
			}
			results[i] <- o
		}()
	}
	way.RecvPerSec = -1
	var errs []error
	var recvModes []string
	for i, ch := range results {
		o := <-ch
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		if o.res.Size != size {
			errs = append(errs, fmt.Errorf("raw udp: node %d used %d-byte datagrams, not %d", i+1, o.res.Size, size))
		}
		pps := float64(o.res.Packets) / o.res.WindowS
		if i == 0 {
			way.SentPerSec, way.SendMode = pps, o.res.Mode
			continue
		}
		if way.RecvPerSec < 0 || pps < way.RecvPerSec {
			way.RecvPerSec = pps
		}
		if !slices.Contains(recvModes, o.res.Mode) {
			recvModes = append(recvModes, o.res.Mode)
		}
	}
	way.RecvMode = strings.Join(recvModes, ", ")
	r.logf("raw udp: %d nodes, %d-byte datagrams, %s / %s: sent %.0f/s, slowest receiver %.0f/s", len(tb.NS), size, way.SendMode, way.RecvMode, way.SentPerSec, way.RecvPerSec)
	return way, errors.Join(errs...)
}

// Main runs the roles this program plays inside the namespaces
// ("udp-send", "udp-recv", reading a UDPConfig as JSON on stdin) and
// returns false when args name none of them.
func Main(args []string, stdin io.Reader, stdout io.Writer) (handled bool, err error) {
	if len(args) != 1 || (args[0] != "udp-send" && args[0] != "udp-recv") {
		return false, nil
	}
	var c UDPConfig
	if err := json.NewDecoder(stdin).Decode(&c); err != nil {
		return true, fmt.Errorf("%s: read the config (JSON) on stdin: %w", args[0], err)
	}
	if args[0] == "udp-send" {
		return true, UDPSend(c, stdout)
	}
	return true, UDPReceive(c, stdout)
}
