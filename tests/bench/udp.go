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
)

// UDPResult is what a raw UDP sender or receiver reports (one JSON line).
type UDPResult struct {
	Type    string  `json:"type"` // "result"
	Role    string  `json:"role"` // "send" or "recv"
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	WindowS float64 `json:"window_s"`
}

// UDPConfig is one raw UDP run: the sender multicasts Size-byte datagrams
// to Group as fast as the kernel takes them (sendmmsg, 64 at a time) from
// a little before WindowStart until WindowEnd; receivers count what
// arrives inside [WindowStart, WindowEnd) (CLOCK_MONOTONIC nanoseconds).
type UDPConfig struct {
	Group       netip.AddrPort
	Iface       string
	Bind        netip.Addr
	Size        int
	WindowStart int64
	WindowEnd   int64
}

// UDPSend runs the sender side and writes a UDPResult to out.
func UDPSend(c UDPConfig, out io.Writer) error {
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
	var res = UDPResult{Type: "result", Role: "send", WindowS: float64(c.WindowEnd-c.WindowStart) / 1e9}
	for atollbench.MonoNow() < c.WindowEnd {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			time.Sleep(50 * time.Microsecond) // ENOBUFS: the queue is full
			continue
		}
		res.Packets += uint64(n)
		res.Bytes += uint64(n * c.Size)
	}
	return json.NewEncoder(out).Encode(res)
}

// UDPReceive runs a receiver and writes a UDPResult to out.
func UDPReceive(c UDPConfig, out io.Writer) error {
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
	res := UDPResult{Type: "result", Role: "recv", WindowS: float64(c.WindowEnd-c.WindowStart) / 1e9}
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

// rawUDP measures the multicast ceiling: node 1 sends, the others receive.
func (r *Report) rawUDP(ctx context.Context, tb *Testbed, size int) (UDPRow, error) {
	row := UDPRow{Nodes: len(tb.NS), Size: size}
	if len(tb.NS) < 2 {
		return row, nil
	}
	start := atollbench.MonoNow() + int64(1500*time.Millisecond)
	cfg := UDPConfig{Group: netip.MustParseAddrPort("239.192.77.2:5500"), Iface: tb.Iface, Size: size,
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
			return row, err
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
	row.RecvPerSec = -1
	var errs []error
	for i, ch := range results {
		o := <-ch
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		pps := float64(o.res.Packets) / o.res.WindowS
		if i == 0 {
			row.SentPerSec = pps
		} else if row.RecvPerSec < 0 || pps < row.RecvPerSec {
			row.RecvPerSec = pps
		}
	}
	r.logf("raw udp: %d nodes, %d-byte datagrams: sent %.0f/s, slowest receiver %.0f/s", row.Nodes, size, row.SentPerSec, row.RecvPerSec)
	return row, errors.Join(errs...)
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
