//go:build linux

package transport

import (
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/atoll-gcs/atoll/internal/rawread"
)

// rawBatch reads batches of a socket with a raw recvmmsg on its
// non-blocking descriptor, and writes them with a raw sendmmsg, through
// the network poller only when nothing is there to read or no room to
// write (internal/rawread). x/net's ReadBatch and WriteBatch go through
// syscall.Syscall6, which wakes the runtime's monitor thread (a futex) at
// nearly every call in an agent that is often idle, and hands the agent's
// one P to another thread (another futex) when the call takes longer than
// the monitor's tick, as a sendmmsg on a virtual machine does; its
// ReadBatch also allocates its headers and each datagram's address.
// rawBatch reuses its headers, and each message's Addr: a received
// datagram allocates nothing.
//
// Its ReadBatch and its WriteBatch are each not safe for concurrent use
// (one reader per socket; the transport's sends hold its lock). Both read
// or write Buffers[0] of each message only, and OOB as its control data
// (the segment size of a segmented send or of a coalesced receive);
// ReadBatch ignores flags; WriteBatch hands a batch it cannot send raw
// (flags, several buffers, an address with an IPv6 zone) to the batchConn
// it wraps.
type rawBatch struct {
	batchConn
	call *rawread.Call
	hs   []unix.Mmsghdr
	iovs []unix.Iovec
	sas  []unix.RawSockaddrInet6 // room for either family's address
	k    int                     // hs[:k] are read

	zoneIndex uint32 // the last IPv6 scope seen, and its name
	zone      string

	// busy, when set (watchReads), is set before each recvmmsg and
	// cleared when one finds nothing; the caller clears it once it has
	// accounted for what a call took.
	busy *atomic.Bool

	// The send side, apart from the receive side's: a reader goroutine
	// reads the socket while the transport's sends write it.
	wcall *rawread.Call
	whs   []unix.Mmsghdr
	wiovs []unix.Iovec
	wsas  []unix.RawSockaddrInet6
	wk    int  // whs[:wk] are sent
	ipv6  bool // the socket's family, that of the addresses it sends to
}

// rawBatchConn returns a rawBatch of c that falls back on b; b itself
// when c has no descriptor.
func rawBatchConn(c *net.UDPConn, b batchConn) batchConn {
	rc, err := c.SyscallConn()
	if err != nil {
		return b
	}
	la, _ := c.LocalAddr().(*net.UDPAddr)
	r := &rawBatch{batchConn: b, ipv6: la != nil && la.IP.To4() == nil}
	r.call = rawread.NewCall(rc, "recvmmsg", func(fd uintptr) (int, syscall.Errno) {
		if r.busy != nil {
			r.busy.Store(true)
		}
		n, _, errno := syscall.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hs[0])), uintptr(r.k), 0, 0, 0)
		if errno == unix.EAGAIN && r.busy != nil {
			r.busy.Store(false)
		}
		return int(n), errno
	})
	r.wcall = rawread.NewWriteCall(rc, "sendmmsg", func(fd uintptr) (int, syscall.Errno) {
		n, _, errno := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.whs[0])), uintptr(r.wk), 0, 0, 0)
		return int(n), errno
	})
	return r
}

// watchReads makes b's receive calls set busy (rawBatch.busy) and reports
// whether it could: b must be a rawBatch.
func watchReads(b batchConn, busy *atomic.Bool) bool {
	r, ok := b.(*rawBatch)
	if ok {
		r.busy = busy
	}
	return ok
}

// WriteBatch sends ms with one raw sendmmsg, waiting only while the
// socket's send buffer is full. Like x/net's, it returns how many of ms
// the kernel took, and the error of the first it refused when it took
// none.
func (r *rawBatch) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	if len(r.whs) < len(ms) {
		r.whs = make([]unix.Mmsghdr, len(ms))
		r.wiovs = make([]unix.Iovec, len(ms))
		r.wsas = make([]unix.RawSockaddrInet6, len(ms))
	}
	for i := range ms {
		m := &ms[i]
		ua, _ := m.Addr.(*net.UDPAddr)
		if flags != 0 || len(m.Buffers) != 1 || ua == nil || ua.Zone != "" {
			return r.batchConn.WriteBatch(ms, flags)
		}
		namelen := r.sockaddr(&r.wsas[i], ua)
		if namelen == 0 {
			return r.batchConn.WriteBatch(ms, flags)
		}
		setMsg(&r.whs[i], &r.wiovs[i], m.Buffers[0], &r.wsas[i], namelen)
		if len(m.OOB) > 0 {
			r.whs[i].Hdr.Control = &m.OOB[0]
			r.whs[i].Hdr.SetControllen(len(m.OOB))
		}
	}
	r.wk = len(ms)
	n, err := r.wcall.Do()
	for i := range r.wk {
		r.wiovs[i].Base = nil // do not pin the callers' buffers
		r.whs[i].Hdr.Control = nil
	}
	if err != nil {
		return 0, err
	}
	for i := range n {
		ms[i].N, ms[i].NN = int(r.whs[i].Len), 0
	}
	return n, nil
}

// setMsg points h at buf (through iov) and at the address sa of namelen
// bytes, for one message of a recvmmsg or sendmmsg.
func setMsg(h *unix.Mmsghdr, iov *unix.Iovec, buf []byte, sa *unix.RawSockaddrInet6, namelen uint32) {
	iov.Base = nil
	if len(buf) > 0 {
		iov.Base = &buf[0]
	}
	iov.SetLen(len(buf))
	*h = unix.Mmsghdr{}
	h.Hdr.Name = (*byte)(unsafe.Pointer(sa))
	h.Hdr.Namelen = namelen
	h.Hdr.Iov = iov
	h.Hdr.SetIovlen(1)
}

// sockaddr writes ua into sa in the socket's family and returns its
// length, 0 when ua has no address of that family.
func (r *rawBatch) sockaddr(sa *unix.RawSockaddrInet6, ua *net.UDPAddr) uint32 {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ua.Port>>8), byte(ua.Port)
	if !r.ipv6 {
		ip := ua.IP.To4()
		if ip == nil {
			return 0
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		copy(sa4.Addr[:], ip)
		sa4.Zero = [8]uint8{}
		return unix.SizeofSockaddrInet4
	}
	ip := ua.IP.To16()
	if ip == nil {
		return 0
	}
	sa.Family = unix.AF_INET6
	sa.Flowinfo, sa.Scope_id = 0, 0
	copy(sa.Addr[:], ip)
	return unix.SizeofSockaddrInet6
}

func (r *rawBatch) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	if len(r.hs) < len(ms) {
		r.hs = make([]unix.Mmsghdr, len(ms))
		r.iovs = make([]unix.Iovec, len(ms))
		r.sas = make([]unix.RawSockaddrInet6, len(ms))
	}
	r.k = len(ms)
	for i := range ms {
		var buf []byte
		if len(ms[i].Buffers) > 0 {
			buf = ms[i].Buffers[0]
		}
		setMsg(&r.hs[i], &r.iovs[i], buf, &r.sas[i], unix.SizeofSockaddrInet6)
		if oob := ms[i].OOB; len(oob) > 0 {
			r.hs[i].Hdr.Control = &oob[0]
			r.hs[i].Hdr.SetControllen(len(oob))
		}
	}
	n, err := r.call.Do()
	for i := range r.k {
		r.iovs[i].Base = nil // do not pin the callers' buffers
		r.hs[i].Hdr.Control = nil
	}
	if err != nil {
		return 0, err
	}
	for i := range n {
		m, h := &ms[i], &r.hs[i]
		m.N, m.NN, m.Flags = int(h.Len), int(h.Hdr.Controllen), int(h.Hdr.Flags)
		m.Addr = r.addr(m.Addr, &r.sas[i])
	}
	return n, nil
}

// addr sets the sender's address sa into old, if that is a *net.UDPAddr
// made here, or into a new one, and returns it.
func (r *rawBatch) addr(old net.Addr, sa *unix.RawSockaddrInet6) net.Addr {
	ua, _ := old.(*net.UDPAddr)
	if ua == nil || cap(ua.IP) < net.IPv6len {
		ua = &net.UDPAddr{IP: make(net.IP, net.IPv6len)}
	}
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		ua.IP = append(ua.IP[:0], sa4.Addr[:]...)
		ua.Port = port(sa4.Port)
		ua.Zone = ""
	case unix.AF_INET6:
		ua.IP = append(ua.IP[:0], sa.Addr[:]...)
		ua.Port = port(sa.Port)
		ua.Zone = r.zoneName(sa.Scope_id)
	default:
		return nil
	}
	return ua
}

// port converts a port in network byte order.
func port(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// zoneName names an IPv6 scope as x/net does (the interface's name, or
// its index), remembering the last one.
func (r *rawBatch) zoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if index != r.zoneIndex {
		r.zoneIndex, r.zone = index, strconv.Itoa(int(index))
		if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
			r.zone = ifi.Name
		}
	}
	return r.zone
}

// peekFD reports whether a datagram waits on fd, without taking it: a raw
// recvfrom with MSG_PEEK (unix.Recvfrom would wake the monitor thread as
// x/net's recvmmsg did, at every token the group socket holds back).
func peekFD(fd uintptr, b []byte) bool {
	_, _, errno := syscall.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return errno == 0
}
