//go:build !linux

package wanem

import (
	"errors"
	"net"
	"time"
)

// waker is a one-shot timer the link's scheduler blocks on (a runtime timer
// outside Linux). arm and close are called with the link's mutex held; wait
// is called by the scheduler alone.
type waker struct {
	t      *time.Timer
	closed chan struct{}
}

func newWaker() (*waker, error) {
	return &waker{t: time.NewTimer(time.Hour), closed: make(chan struct{})}, nil
}

func (w *waker) arm(d time.Duration) { w.t.Reset(max(d, 1)) }

func (w *waker) wait() error {
	select {
	case <-w.t.C:
		return nil
	case <-w.closed:
		return errors.New("wanem: link closed")
	}
}

func (w *waker) close() { close(w.closed) }

// setBuffers asks for kernel socket buffers of n bytes each way.
func setBuffers(c *net.UDPConn, n int) {
	_ = c.SetReadBuffer(n)
	_ = c.SetWriteBuffer(n)
}

const oobLen = 0

func enableRxTimestamps(*net.UDPConn) {}

func rxAge([]byte, time.Time) time.Duration { return 0 }
