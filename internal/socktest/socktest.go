// Package socktest gives tests the two ends of a real Unix socket
// connection, for code that must see a socket's own behaviour (its
// buffer filling, non-blocking reads and writes) where net.Pipe has none.
package socktest

import (
	"net"
	"path/filepath"
	"testing"
)

// UnixPair returns both ends of a Unix socket connection: the one that
// dialed and the one that was accepted. Both are closed when the test ends.
func UnixPair(t testing.TB) (dialed, accepted net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed, err = net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	accepted, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	return dialed, accepted
}
