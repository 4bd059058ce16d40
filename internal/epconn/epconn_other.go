//go:build !linux

package epconn

import "net"

// Wrap returns c: elsewhere than on Linux the connection stays in the
// runtime's poller.
func Wrap(c net.Conn) net.Conn { return c }
