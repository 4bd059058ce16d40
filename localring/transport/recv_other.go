//go:build !linux

package transport

import "net"

// rawBatchConn returns b: raw batch reads are Linux's only (recv_linux.go).
func rawBatchConn(_ *net.UDPConn, b batchConn) batchConn { return b }
