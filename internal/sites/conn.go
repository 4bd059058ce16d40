package sites

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// gatewayConn is the UDP socket of a gateway's federation ring member.
// The gateways of a site share the site's endpoint of a domain, so one
// taking over may start while the one it replaces (stopping, or killed
// and not yet stopped) still holds the port: the socket then binds in the
// background, dropping what is written meanwhile (a lost packet to QUIC),
// so that the agent's loop, which opens it, never waits. Once its node is
// killed it drops everything, both ways, and so while its node's WAN is
// cut (World.CutGateway).
type gatewayConn struct {
	addr *net.UDPAddr
	dead *atomic.Bool
	cut  *atomic.Bool

	bound chan struct{} // closed when pc is set or the conn is closed
	kick  chan struct{} // closed by a read deadline in the past before bound

	mu       sync.Mutex
	pc       *net.UDPConn
	closed   bool
	deadline time.Time // the read deadline set before bound
}

func openGatewayConn(addr string, dead, cut *atomic.Bool) (*gatewayConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c := &gatewayConn{addr: ua, dead: dead, cut: cut, bound: make(chan struct{}), kick: make(chan struct{})}
	pc, err := net.ListenUDP("udp", ua)
	switch {
	case err == nil:
		c.pc = pc
		close(c.bound)
	case errors.Is(err, syscall.EADDRINUSE):
		go c.bind()
	default:
		return nil, err
	}
	return c, nil
}

// bind binds the address once it is free, until the conn is closed.
func (c *gatewayConn) bind() {
	for {
		time.Sleep(10 * time.Millisecond)
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		if pc, err := net.ListenUDP("udp", c.addr); err == nil {
			if !c.deadline.IsZero() {
				pc.SetReadDeadline(c.deadline)
			}
			c.pc = pc
			close(c.bound)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// conn returns the bound socket, or nil.
func (c *gatewayConn) conn() *net.UDPConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pc
}

func (c *gatewayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case <-c.bound:
	case <-c.kick:
		return 0, nil, os.ErrDeadlineExceeded
	}
	pc := c.conn()
	if pc == nil {
		return 0, nil, net.ErrClosed
	}
	for {
		n, addr, err := pc.ReadFrom(p)
		if err != nil || !c.dead.Load() && !c.cut.Load() {
			return n, addr, err
		}
	}
}

func (c *gatewayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	pc := c.conn()
	if pc == nil || c.dead.Load() || c.cut.Load() {
		return len(p), nil // not bound yet, killed or cut off: lost on the way
	}
	return pc.WriteTo(p, addr)
}

func (c *gatewayConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.pc != nil {
		return c.pc.Close()
	}
	close(c.bound)
	return nil
}

func (c *gatewayConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *gatewayConn) LocalAddr() net.Addr { return c.addr }

func (c *gatewayConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *gatewayConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pc != nil {
		return c.pc.SetReadDeadline(t)
	}
	c.deadline = t
	if !t.IsZero() && !t.After(time.Now()) {
		select {
		case <-c.kick:
		default:
			close(c.kick)
		}
	}
	return nil
}

func (c *gatewayConn) SetWriteDeadline(t time.Time) error {
	if pc := c.conn(); pc != nil {
		return pc.SetWriteDeadline(t)
	}
	return nil
}

// SetReadBuffer and SetWriteBuffer let quic-go size the socket's buffers
// (once bound).
func (c *gatewayConn) SetReadBuffer(n int) error {
	if pc := c.conn(); pc != nil {
		return pc.SetReadBuffer(n)
	}
	return nil
}

func (c *gatewayConn) SetWriteBuffer(n int) error {
	if pc := c.conn(); pc != nil {
		return pc.SetWriteBuffer(n)
	}
	return nil
}
