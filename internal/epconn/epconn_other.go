//go:build !linux

package epconn

import "net"

// Conn is Linux's only; elsewhere Wrap returns its argument and no Conn
// exists.
type Conn struct{ net.Conn }

// Wrap returns c: elsewhere than on Linux the connection stays in the
// runtime's poller.
func Wrap(c net.Conn) net.Conn { return c }
