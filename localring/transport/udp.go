package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchConn is the batched I/O of an ipv4.PacketConn or ipv6.PacketConn
// (ipv4.Message and ipv6.Message are the same type).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// UDP is the real Transport: UDP multicast or UDP unicast to a peer list,
// as Config says. Create it with Listen.
type UDP struct {
	cfg       Config
	local     netip.AddrPort
	maxPacket int
	ipv6      bool
	ifi       *net.Interface

	uc *net.UDPConn // bound to Bind: sends everything, receives unicast
	ub batchConn
	mc *net.UDPConn // bound to the group: receives multicast; nil in unicast mode

	group *net.UDPAddr // multicast destination; nil in unicast mode

	sendMu  sync.Mutex
	peers   []*net.UDPAddr                  // unicast mode: every peer but this node
	dests   map[netip.AddrPort]*net.UDPAddr // converted Unicast destinations
	qms     []ipv4.Message                  // send queue; qms[:qn] are queued
	qn      int
	arena   []byte // the bytes of the queued packets
	sendErr error  // first failure of an automatic flush, for the next Flush

	// Segmented sends (multicast mode, where the kernel has UDP_SEGMENT):
	// see segment.
	gso  bool
	sms  []ipv4.Message // the queue with its runs joined
	segs []int          // how many queued datagrams each of sms carries
	cmsg []byte         // the segment sizes of sms, segmentCmsgSpace each

	recvMu sync.Mutex
	rms    []ipv4.Message // ReadBatch scratch (unicast mode)
	// Multicast mode: the batches the readers filled, of the group socket
	// (messages) and of the unicast socket (tokens); see readMerged.
	mcReady, ucReady chan *rbatch
	cur              *rbatch // the batch ReadBatch is copying out
	pos              int
	off              int     // bytes of cur.ms[pos] copied out, when it holds coalesced datagrams
	gro              bool    // the group socket receives coalesced datagrams (UDP_GRO)
	held             *rbatch // a unicast batch waiting for the group socket to drain
	heldWaits        int     // group batches handed out while held waited
	groupPending     func() bool
	mcRead, mcTaken  atomic.Uint64 // group batches read by the reader, and taken from mcReady
	// mcBusy is set while the group reader's receive call may have taken
	// datagrams from the socket that mcRead does not count yet: from
	// before its recvmmsg until it counted the batch, or until the call
	// found nothing (watchReads; Linux only).
	mcBusy atomic.Bool

	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	readers   sync.WaitGroup

	n struct {
		sent, sendErrors, sendCalls, segmented     atomic.Uint64
		recv, recvCalls, recvTruncated, recvErrors atomic.Uint64
		coalesced                                  atomic.Uint64
	}
}

var _ Transport = (*UDP)(nil)

// rbatch is one recvmmsg worth of datagrams read by a multicast-mode
// reader goroutine.
type rbatch struct {
	ms   []ipv4.Message
	n    int
	err  error
	free chan *rbatch // where ReadBatch returns it when copied out
}

// Stats are the counters of a UDP transport since Listen.
type Stats struct {
	SentPackets uint64 // datagrams the kernel accepted
	SendErrors  uint64 // datagrams the kernel refused (dropped)
	SendCalls   uint64 // sendmmsg system calls
	// SegmentedSends are the sends the kernel cut into several datagrams
	// (UDP_SEGMENT); their datagrams count in SentPackets.
	SegmentedSends uint64
	RecvPackets    uint64 // datagrams received (own multicast excluded)
	RecvCalls      uint64 // recvmmsg system calls
	RecvTruncated  uint64 // datagrams longer than the receive buffer
	// RecvCoalesced are the receives that held several datagrams
	// (UDP_GRO); their datagrams count in RecvPackets.
	RecvCoalesced uint64
	RecvErrors    uint64 // failed recvmmsg calls
}

// Listen opens a UDP transport: multicast when cfg.Group is set, unicast
// to cfg.Peers otherwise. The warnings (socket buffers capped by the
// kernel) do not stop the transport; log them.
func Listen(cfg Config) (*UDP, []Warning, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	bind := netip.AddrPortFrom(cfg.Bind.Addr().Unmap(), cfg.Bind.Port())
	t := &UDP{
		cfg:   cfg,
		ipv6:  !bind.Addr().Is4(),
		dests: make(map[netip.AddrPort]*net.UDPAddr),
		done:  make(chan struct{}),
	}
	network := "udp4"
	if t.ipv6 {
		network = "udp6"
	}

	var err error
	if cfg.Interface != "" {
		t.ifi, err = interfaceByName(cfg.Interface)
	} else {
		t.ifi, err = interfaceFor(bind.Addr())
	}
	if err != nil {
		return nil, nil, err
	}
	if cfg.multicast() {
		if t.ifi.Flags&net.FlagUp == 0 {
			return nil, nil, fmt.Errorf("transport: interface %s is down; bring it up or choose another interface", t.ifi.Name)
		}
		if t.ifi.Flags&net.FlagMulticast == 0 {
			return nil, nil, fmt.Errorf("transport: interface %s does not support multicast; enable it (`ip link set dev %s multicast on`), choose another interface, or use unicast peers", t.ifi.Name, t.ifi.Name)
		}
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = min(t.ifi.MTU, DefaultMaxMTU)
		if mtu < 576 {
			mtu = 1500 // the interface does not say; assume Ethernet
		}
	}
	if t.ipv6 {
		t.maxPacket = min(mtu-headers6, maxUDPPayload6)
	} else {
		t.maxPacket = min(mtu-headers4, maxUDPPayload4)
	}

	t.uc, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(bind))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("transport: %v is already in use by another node or program on this host; give each node its own address or port: %w", bind, err)
		}
		return nil, nil, fmt.Errorf("transport: bind %v: %w", bind, err)
	}
	t.local = fromAddr(t.uc.LocalAddr())
	var warnings []Warning
	fail := func(err error) (*UDP, []Warning, error) {
		t.uc.Close()
		if t.mc != nil {
			t.mc.Close()
		}
		return nil, nil, err
	}
	if err := sizeBuffers(t.uc, cfg, true, &warnings); err != nil {
		return fail(err)
	}

	if !cfg.multicast() {
		if t.ipv6 {
			t.ub = ipv6.NewPacketConn(t.uc)
		} else {
			t.ub = ipv4.NewPacketConn(t.uc)
		}
		t.ub = rawBatchConn(t.uc, t.ub)
		t.setPeers(cfg.Peers)
	} else {
		if err := t.openGroup(&warnings); err != nil {
			return fail(err)
		}
		t.gso = !cfg.NoGSO && gsoSupported(t.uc)
		if !cfg.NoGSO && !t.gso {
			t.log().Info("transport: the kernel cannot segment UDP sends (UDP_SEGMENT, Linux 4.18 or later); each ring packet costs the kernel a send of its own")
		}
	}
	t.arena = make([]byte, 0, cfg.BatchSize*t.maxPacket)
	return t, warnings, nil
}

// openGroup opens the multicast socket, joins the group and starts the
// reader goroutines of both sockets.
func (t *UDP) openGroup(warnings *[]Warning) error {
	cfg := &t.cfg
	g := cfg.Group.Addr().Unmap()
	if g.IsLinkLocalMulticast() || g.IsInterfaceLocalMulticast() {
		g = g.WithZone(t.ifi.Name) // binding a link-scoped group needs the interface
	}
	t.group = net.UDPAddrFromAddrPort(netip.AddrPortFrom(g, cfg.Group.Port()))
	joinAddr := &net.UDPAddr{IP: t.group.IP}

	ifindex := 0
	if g.Zone() != "" {
		ifindex = t.ifi.Index
	}
	var err error
	if t.mc, err = listenGroup(netip.AddrPortFrom(g.WithZone(""), cfg.Group.Port()), ifindex); err != nil {
		return err
	}
	if rc, err := t.mc.SyscallConn(); err == nil {
		setMulticastAllOff(rc, t.ipv6)
	}
	if err := sizeBuffers(t.mc, *cfg, false, warnings); err != nil {
		return err
	}
	t.gro = !cfg.NoGRO && enableGRO(t.mc)

	var mb batchConn
	if t.ipv6 {
		up := ipv6.NewPacketConn(t.uc)
		for _, err := range []error{up.SetMulticastInterface(t.ifi), up.SetMulticastHopLimit(cfg.MulticastTTL), up.SetMulticastLoopback(!cfg.NoMulticastLoop)} {
			if err != nil {
				return fmt.Errorf("transport: set up IPv6 multicast sending on %s: %w", t.ifi.Name, err)
			}
		}
		mp := ipv6.NewPacketConn(t.mc)
		if err := mp.JoinGroup(t.ifi, joinAddr); err != nil {
			return fmt.Errorf("transport: join multicast group %v on %s: %w", g, t.ifi.Name, err)
		}
		t.ub, mb = rawBatchConn(t.uc, up), rawBatchConn(t.mc, mp)
	} else {
		up := ipv4.NewPacketConn(t.uc)
		for _, err := range []error{up.SetMulticastInterface(t.ifi), up.SetMulticastTTL(cfg.MulticastTTL), up.SetMulticastLoopback(!cfg.NoMulticastLoop)} {
			if err != nil {
				return fmt.Errorf("transport: set up IPv4 multicast sending on %s: %w", t.ifi.Name, err)
			}
		}
		mp := ipv4.NewPacketConn(t.mc)
		if err := mp.JoinGroup(t.ifi, joinAddr); err != nil {
			return fmt.Errorf("transport: join multicast group %v on %s: %w", g, t.ifi.Name, err)
		}
		t.ub, mb = rawBatchConn(t.uc, up), rawBatchConn(t.mc, mp)
	}

	// One reader per socket, each double-buffered, so one socket's burst
	// never waits for the other's.
	t.mcReady, t.ucReady = make(chan *rbatch, 2), make(chan *rbatch, 2)
	peek, err := peeker(t.mc)
	if err != nil {
		return err
	}
	t.groupPending = t.pendingCheck(peek, watchReads(mb, &t.mcBusy))
	t.startReaders(mb, t.ub)
	return nil
}

// maxBusyWait bounds how long pendingCheck waits for the group reader's
// receive call to end: a non-blocking recvmmsg and a counter's update,
// microseconds unless the reader's thread is preempted in between.
const maxBusyWait = 100 * time.Millisecond

// pendingCheck returns groupPending: whether the group socket or its
// reader holds a datagram the merge has not taken yet. peek reports the
// socket's queue. With watched (the reader's calls set mcBusy), it is
// exact: it looks at the socket first, and a datagram gone from there
// was taken by a call that set mcBusy before taking it and clears it
// only once mcRead counts its batch, so waiting out mcBusy before
// comparing the counters leaves no window in which the datagram is in
// neither. Without, a datagram the reader took just before the check
// and has not counted yet is missed: a rare reordering (readMerged).
func (t *UDP) pendingCheck(peek func() bool, watched bool) func() bool {
	if !watched {
		return func() bool { return t.mcRead.Load() != t.mcTaken.Load() || peek() }
	}
	return func() bool {
		if peek() {
			return true
		}
		var deadline time.Time
		for i := 0; t.mcBusy.Load() && !t.closed.Load(); i++ {
			if i%64 == 63 {
				if now := time.Now(); deadline.IsZero() {
					deadline = now.Add(maxBusyWait)
				} else if now.After(deadline) {
					break
				}
			}
			runtime.Gosched()
		}
		return t.mcRead.Load() != t.mcTaken.Load()
	}
}

// startReaders starts the reader goroutines of the group socket mb and the
// unicast socket ub.
func (t *UDP) startReaders(mb, ub batchConn) {
	for _, r := range []struct {
		b     batchConn
		ready chan *rbatch
		group bool
	}{{mb, t.mcReady, true}, {ub, t.ucReady, false}} {
		free := make(chan *rbatch, 2)
		for range 2 {
			free <- t.newBatch(free, r.group && t.gro)
		}
		t.readers.Add(1)
		go t.reader(r.b, free, r.ready, r.group)
	}
}

// newBatch makes a batch of the reader of free; with gro, of a socket
// that receives coalesced datagrams, whose every message may carry up to
// the largest UDP payload and its segment size.
func (t *UDP) newBatch(free chan *rbatch, gro bool) *rbatch {
	rb := &rbatch{ms: make([]ipv4.Message, t.cfg.BatchSize), free: free}
	size := t.maxPacket
	var oob []byte
	if gro {
		size = max(size, maxUDPPayload6)
		oob = make([]byte, t.cfg.BatchSize*groCmsgSpace)
	}
	buf := make([]byte, t.cfg.BatchSize*size)
	for i := range rb.ms {
		rb.ms[i].Buffers = [][]byte{buf[i*size : (i+1)*size : (i+1)*size]}
		if gro {
			rb.ms[i].OOB = oob[i*groCmsgSpace : (i+1)*groCmsgSpace]
		}
	}
	addrSlots(rb.ms)
	return rb
}

// addrSlots gives each message an address of its own, which the raw
// receive (recv_linux.go) fills in place: a received datagram then
// allocates nothing.
func addrSlots(ms []ipv4.Message) {
	addrs := make([]net.UDPAddr, len(ms))
	ips := make([]byte, len(ms)*net.IPv6len)
	for i := range ms {
		addrs[i].IP = ips[i*net.IPv6len : i*net.IPv6len : (i+1)*net.IPv6len]
		ms[i].Addr = &addrs[i]
	}
}

// reader fills batches from one socket until Close and hands them to
// ready; the group socket's reader counts its batches (groupPending).
func (t *UDP) reader(b batchConn, free, ready chan *rbatch, group bool) {
	defer t.readers.Done()
	for {
		var rb *rbatch
		select {
		case rb = <-free:
		case <-t.done:
			return
		}
		n, err := b.ReadBatch(rb.ms, 0)
		if t.closed.Load() {
			return
		}
		t.n.recvCalls.Add(1)
		rb.n, rb.err = max(n, 0), err
		if group {
			t.mcRead.Add(1)
			t.mcBusy.Store(false) // after counting: see pendingCheck
		}
		select {
		case ready <- rb:
		case <-t.done:
			return
		}
	}
}

// sizeBuffers sets the receive buffer of c (and its send buffer if send),
// appending a warning when the kernel grants less than asked.
func sizeBuffers(c *net.UDPConn, cfg Config, send bool, warnings *[]Warning) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	type want struct {
		opt    int
		name   string
		bytes  int
		sysctl string
	}
	wants := []want{{soRcvbuf, "SO_RCVBUF", cfg.RecvBufferBytes, "net.core.rmem_max"}}
	if send {
		wants = append(wants, want{soSndbuf, "SO_SNDBUF", cfg.SendBufferBytes, "net.core.wmem_max"})
	}
	for _, w := range wants {
		granted, err := setBuffer(rc, w.opt, w.bytes, cfg.ForceBuffers)
		if err != nil {
			return fmt.Errorf("transport: set %s to %d bytes: %w", w.name, w.bytes, err)
		}
		if granted >= w.bytes {
			continue
		}
		dup := false
		for _, old := range *warnings {
			dup = dup || old.Option == w.name
		}
		if !dup {
			*warnings = append(*warnings, Warning{Option: w.name, Requested: w.bytes, Granted: granted, Sysctl: w.sysctl})
		}
	}
	return nil
}

// LocalAddr returns this node's unicast address.
func (t *UDP) LocalAddr() netip.AddrPort { return t.local }

// MaxPacket returns the largest packet Multicast and Unicast accept.
func (t *UDP) MaxPacket() int { return t.maxPacket }

// Interface returns the interface the transport sends multicast on (in
// unicast mode, the one holding the bind address).
func (t *UDP) Interface() *net.Interface { return t.ifi }

// SetPeers replaces the peer list of a unicast transport (after a
// reconfiguration); it has no effect in multicast mode. Packets already
// queued keep their destinations.
func (t *UDP) SetPeers(peers []netip.AddrPort) {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	t.setPeers(peers)
}

func (t *UDP) setPeers(peers []netip.AddrPort) {
	if t.group != nil {
		return
	}
	t.peers = t.peers[:0]
	seen := map[netip.AddrPort]bool{t.local: true}
	for _, p := range peers {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		if seen[p] {
			continue
		}
		seen[p] = true
		t.peers = append(t.peers, net.UDPAddrFromAddrPort(p))
	}
}

// Multicast queues pkt for every other ring member: one datagram to the
// group, or one per peer in unicast mode.
func (t *UDP) Multicast(pkt []byte) error {
	if len(pkt) > t.maxPacket {
		return tooLarge(len(pkt), t.maxPacket)
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.closed.Load() {
		return ErrClosed
	}
	if t.group != nil {
		t.enqueue(pkt, t.group)
		return nil
	}
	data := t.store(pkt, len(t.peers))
	for _, p := range t.peers {
		t.push(data, p)
	}
	return nil
}

// Unicast queues pkt for the member at to.
func (t *UDP) Unicast(to netip.AddrPort, pkt []byte) error {
	if len(pkt) > t.maxPacket {
		return tooLarge(len(pkt), t.maxPacket)
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if !to.IsValid() || to.Port() == 0 || to.Addr().Is4() == t.ipv6 {
		return fmt.Errorf("transport: cannot send to %v from %v: not an address:port of the same IP version", to, t.local)
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.closed.Load() {
		return ErrClosed
	}
	dst := t.dests[to]
	if dst == nil {
		if len(t.dests) >= 4096 { // members come and go; keep the cache bounded
			clear(t.dests)
		}
		dst = net.UDPAddrFromAddrPort(to)
		t.dests[to] = dst
	}
	t.enqueue(pkt, dst)
	return nil
}

// enqueue queues one datagram.
func (t *UDP) enqueue(pkt []byte, to *net.UDPAddr) {
	t.push(t.store(pkt, 1), to)
}

// store copies pkt into the arena, first flushing if the arena or the
// queue (which needs room for msgs more datagrams) is full.
func (t *UDP) store(pkt []byte, msgs int) []byte {
	if cap(t.arena)-len(t.arena) < len(pkt) || (t.qn > 0 && t.qn+msgs > t.cfg.BatchSize) {
		if err := t.flushLocked(); err != nil && t.sendErr == nil {
			t.sendErr = err
		}
	}
	start := len(t.arena)
	t.arena = append(t.arena, pkt...)
	return t.arena[start:len(t.arena):len(t.arena)]
}

// push appends a datagram to the queue.
func (t *UDP) push(data []byte, to *net.UDPAddr) {
	if t.qn == len(t.qms) {
		t.qms = append(t.qms, ipv4.Message{Buffers: make([][]byte, 1)})
	}
	m := &t.qms[t.qn]
	m.Buffers[0] = data
	m.Addr = to
	t.qn++
}

// Flush sends every queued datagram.
func (t *UDP) Flush() error {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.closed.Load() {
		return ErrClosed
	}
	err := t.flushLocked()
	if t.sendErr != nil {
		err, t.sendErr = t.sendErr, nil
	}
	return err
}

func (t *UDP) flushLocked() error {
	queue := t.qms[:t.qn]
	ms, segs := queue, []int(nil)
	if t.gso {
		ms, segs = t.segment(queue)
	}
	done := 0        // datagrams of the queue sent or dropped
	var gsoErr error // a segmented send's failure, until a plain send says whose it was
	var first error
	for len(ms) > 0 {
		chunk := ms[:min(len(ms), t.cfg.BatchSize)]
		n, err := t.ub.WriteBatch(chunk, 0)
		t.n.sendCalls.Add(1)
		n = max(n, 0)
		sent := n
		if segs != nil {
			sent = 0
			for _, k := range segs[:n] {
				sent += k
				if k > 1 {
					t.n.segmented.Add(1)
				}
			}
			segs = segs[n:]
		}
		t.n.sent.Add(uint64(sent))
		done += sent
		ms = ms[n:]
		if gsoErr != nil && n > 0 {
			// The datagrams of a refused segmented send left one by
			// one: the path refuses segmentation, not the datagrams.
			t.gso = false
			t.log().Warn("transport: the kernel refused a segmented UDP send (UDP_SEGMENT) that it took as separate datagrams; ring packets are sent one by one from now on",
				"group", t.group, "err", gsoErr)
		}
		gsoErr = nil
		if err == nil || len(ms) == 0 {
			continue
		}
		if t.closed.Load() || errors.Is(err, net.ErrClosed) {
			first = ErrClosed
			break
		}
		if segs != nil && segs[0] > 1 {
			// A segmented send refused: send the rest of the queue one
			// datagram each, and see whether the first leaves so.
			gsoErr = err
			ms, segs = queue[done:], nil
			continue
		}
		// The kernel refused ms[0]: drop it and send the rest.
		t.n.sendErrors.Add(1)
		if first == nil {
			first = &SendError{To: fromAddr(ms[0].Addr), Err: err}
		}
		ms = ms[1:]
		done++
		if segs != nil {
			segs = segs[1:]
		}
	}
	t.qn = 0
	t.arena = t.arena[:0]
	return first
}

// maxSegments is the most datagrams of one segmented send: the kernel's
// UDP_MAX_SEGMENTS before Linux 6.10 (128 since).
const maxSegments = 64

// segment joins the runs of the multicast queue that the kernel can cut
// into datagrams itself (UDP GSO): consecutive datagrams to the group of
// one size, of which the last may be shorter, up to maxSegments and the
// largest UDP payload. Such a run leaves as one message of the sendmmsg,
// with its segment size as control data, and goes down the sender's IP
// stack once instead of once per datagram; the receivers still get each
// datagram on its own. A token visit's packets are full but for the last,
// so a visit's window mostly leaves as a few such messages; the token to
// the successor, and anything else, as before. The order of the
// datagrams does not change.
//
// It returns the messages and how many queued datagrams each carries. A
// run's datagrams are contiguous in the arena: in multicast mode each
// queued datagram has its own copy, stored in the order of the queue.
func (t *UDP) segment(queue []ipv4.Message) ([]ipv4.Message, []int) {
	if len(t.sms) < len(queue) {
		n := max(len(queue), t.cfg.BatchSize) // the queue's bound in multicast mode
		t.sms = make([]ipv4.Message, n)
		for i := range t.sms {
			t.sms[i].Buffers = make([][]byte, 1)
		}
		t.segs = make([]int, n)
		t.cmsg = make([]byte, n*segmentCmsgSpace)
	}
	group := net.Addr(t.group)
	maxBytes := maxUDPPayload4 // IPv6 allows 20 bytes more; not worth a case
	out := 0
	for i, off := 0, 0; i < len(queue); out++ {
		size := len(queue[i].Buffers[0])
		j, total := i+1, size
		if queue[i].Addr == group && size > 0 {
			for j < len(queue) && j-i < maxSegments && queue[j].Addr == group {
				n := len(queue[j].Buffers[0])
				if n == 0 || n > size || total+n > maxBytes {
					break
				}
				total += n
				j++
				if n < size {
					break // a shorter datagram ends a run
				}
			}
		}
		m := &t.sms[out]
		m.Addr, m.OOB = queue[i].Addr, nil
		m.Buffers[0] = queue[i].Buffers[0]
		if j-i > 1 {
			m.Buffers[0] = t.arena[off : off+total : off+total]
			m.OOB = t.cmsg[out*segmentCmsgSpace : (out+1)*segmentCmsgSpace]
			putSegmentSize(m.OOB, size)
		}
		t.segs[out] = j - i
		i, off = j, off+total
	}
	return t.sms[:out], t.segs[:out]
}

// log is the logger of Config.Logger, or one that discards.
func (t *UDP) log() *slog.Logger {
	if t.cfg.Logger != nil {
		return t.cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// GSO reports whether the transport joins runs of equal datagrams into
// segmented sends (see segment): multicast mode on Linux 4.18 or later,
// unless Config.NoGSO, until the path refuses one.
func (t *UDP) GSO() bool {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	return t.gso
}

// GRO reports whether the group socket receives the datagrams of a
// segmented send as one (UDP_GRO), which ReadBatch hands out one by one:
// multicast mode on Linux 5.0 or later, unless Config.NoGRO.
func (t *UDP) GRO() bool { return t.gro }

// ReadBatch receives datagrams into ms; see Transport.
func (t *UDP) ReadBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	t.recvMu.Lock()
	defer t.recvMu.Unlock()
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if t.mcReady != nil {
		return t.readMerged(ms)
	}
	return t.readDirect(ms)
}

// readDirect is ReadBatch of a unicast transport: one recvmmsg straight
// into the caller's buffers.
func (t *UDP) readDirect(ms []Message) (int, error) {
	if len(t.rms) < len(ms) {
		t.rms = make([]ipv4.Message, len(ms))
		for i := range t.rms {
			t.rms[i].Buffers = make([][]byte, 1)
		}
		addrSlots(t.rms)
	}
	rms := t.rms[:len(ms)]
	for i := range ms {
		rms[i].Buffers[0] = ms[i].Buf
	}
	n, err := t.ub.ReadBatch(rms, 0)
	t.n.recvCalls.Add(1)
	if err != nil {
		if t.closed.Load() || errors.Is(err, net.ErrClosed) {
			return 0, ErrClosed
		}
		t.n.recvErrors.Add(1)
		return 0, fmt.Errorf("transport: receive: %w", err)
	}
	for i := range n {
		m, r := &ms[i], &rms[i]
		m.N, m.From, m.Truncated = r.N, fromAddr(r.Addr), truncated(r.Flags)
		if m.Truncated {
			t.n.recvTruncated.Add(1)
		}
	}
	for i := range rms {
		rms[i].Buffers[0] = nil // do not pin the caller's buffers (Addr is reused)
	}
	t.n.recv.Add(uint64(n))
	return n, nil
}

// readMerged is ReadBatch of a multicast transport: it copies datagrams
// out of the batches the two readers filled, dropping this node's own
// multicast (looped back by the kernel).
//
// The group socket comes first, as Totem requires and Corosync does: a
// batch of the unicast socket (the tokens) is handed out only once the
// group socket holds no datagram and its reader no batch that was not
// taken yet (groupPending), so after every multicast that arrived before
// the token (pendingCheck). A node that acted on a token while messages sent before it
// still sat in the group socket's buffer would ask for them again as if
// they were lost, and the token would run ahead of a receiver that falls
// behind instead of waiting for it. (Where reads are not watched, off
// Linux, a datagram the group's reader takes from the socket just before
// the check and has not counted yet can still come after the token: a
// rare reordering, which the ring tolerates.) A group socket that never drains (a flood) holds a token
// back for at most maxHeldReads of its batches.
func (t *UDP) readMerged(ms []Message) (int, error) {
	n := 0
	for n < len(ms) {
		if t.cur == nil {
			rb, err := t.nextBatch(n > 0)
			if err != nil {
				return 0, err
			}
			if rb == nil {
				break
			}
			t.cur, t.pos = rb, 0
		}
		rb := t.cur
		if rb.err != nil {
			err := rb.err
			t.release()
			t.n.recvErrors.Add(1)
			if n == 0 {
				return 0, fmt.Errorf("transport: receive: %w", err)
			}
			continue
		}
		for t.pos < rb.n && n < len(ms) {
			r := &rb.ms[t.pos]
			data := r.Buffers[0][:r.N]
			if size := groSize(r.OOB[:r.NN]); size > 0 && len(data) > size {
				// Coalesced datagrams (UDP_GRO): one of size bytes at a
				// time, the last possibly shorter.
				if t.off == 0 {
					t.n.coalesced.Add(1)
				}
				data = data[t.off:]
				if len(data) > size {
					data = data[:size]
					t.off += size
				} else {
					t.off = 0
					t.pos++
				}
			} else {
				t.pos++
			}
			from := fromAddr(r.Addr)
			if from == t.local {
				continue
			}
			m := &ms[n]
			k := copy(m.Buf, data)
			m.N, m.From, m.Truncated = k, from, truncated(r.Flags) || k < len(data)
			if m.Truncated {
				t.n.recvTruncated.Add(1)
			}
			n++
		}
		if t.pos >= rb.n {
			t.release()
		}
	}
	t.n.recv.Add(uint64(n))
	return n, nil
}

// maxHeldReads bounds how many batches of the group socket may be handed
// out while a unicast batch waits for it to drain.
const maxHeldReads = 16

// nextBatch returns the next batch to copy out, group batches first (see
// readMerged); with nowait it returns nil rather than wait for one.
func (t *UDP) nextBatch(nowait bool) (*rbatch, error) {
	if t.held == nil {
		select {
		case t.held = <-t.ucReady:
		default:
		}
	}
	for {
		if t.held != nil && (t.heldWaits >= maxHeldReads || !t.groupPending()) {
			rb := t.held
			t.held, t.heldWaits = nil, 0
			return rb, nil
		}
		select {
		case rb := <-t.mcReady:
			return t.fromGroup(rb), nil
		default:
		}
		if nowait {
			return nil, nil
		}
		if t.held != nil {
			// The group socket holds datagrams that came before the
			// held ones: its reader hands them on next.
			select {
			case rb := <-t.mcReady:
				return t.fromGroup(rb), nil
			case <-t.done:
				return nil, ErrClosed
			}
		}
		select {
		case rb := <-t.mcReady:
			return t.fromGroup(rb), nil
		case t.held = <-t.ucReady:
		case <-t.done:
			return nil, ErrClosed
		}
	}
}

// fromGroup counts a group batch taken from mcReady, and those handed out
// while a unicast batch waits.
func (t *UDP) fromGroup(rb *rbatch) *rbatch {
	t.mcTaken.Add(1)
	if t.held != nil {
		t.heldWaits++
	}
	return rb
}

// release hands the current batch back to its reader.
func (t *UDP) release() {
	t.cur.err = nil
	t.cur.free <- t.cur
	t.cur = nil
}

// Stats returns the counters since Listen.
func (t *UDP) Stats() Stats {
	return Stats{
		SentPackets:    t.n.sent.Load(),
		SendErrors:     t.n.sendErrors.Load(),
		SendCalls:      t.n.sendCalls.Load(),
		SegmentedSends: t.n.segmented.Load(),
		RecvPackets:    t.n.recv.Load(),
		RecvCalls:      t.n.recvCalls.Load(),
		RecvTruncated:  t.n.recvTruncated.Load(),
		RecvCoalesced:  t.n.coalesced.Load(),
		RecvErrors:     t.n.recvErrors.Load(),
	}
}

// Close closes the sockets, which also leaves the multicast group, and
// waits for the reader goroutines to end.
func (t *UDP) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		close(t.done)
		err = t.uc.Close()
		if t.mc != nil {
			if e := t.mc.Close(); err == nil {
				err = e
			}
		}
		t.readers.Wait()
		if err != nil {
			err = fmt.Errorf("transport: close: %w", err)
		}
	})
	return err
}

// fromAddr converts a received *net.UDPAddr to a netip.AddrPort with IPv4
// unmapped.
func fromAddr(a net.Addr) netip.AddrPort {
	ua, ok := a.(*net.UDPAddr)
	if !ok || ua == nil {
		return netip.AddrPort{}
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
